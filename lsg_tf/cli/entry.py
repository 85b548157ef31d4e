"""The entry point of every absl command line: :func:`run` instead of ``app.run``.

A usage error (a bad flag value, a missing required flag, an ``app.UsageError`` of ``main``)
prints ``error: MESSAGE`` and ``Try --help for the flags.`` on stderr instead of the module's
help page, and exits with the error's code (absl's: 1). ``--flagfile`` arguments are expanded
before absl parses the flags (:func:`expand_flagfiles`): a name not found in the current folder
is looked up beside the flagfile that includes it, then among the packaged flagfiles
(:mod:`lsg_tf.flags`), so ``--flagfile=cifar.flags`` works from any folder. A flagfile found
nowhere, or one that includes itself (absl only warns and skips it), is a one-line error
before anything runs. No TensorFlow here: a bad command line fails fast.
"""

from __future__ import annotations

import functools
import sys
from typing import NoReturn

from absl import app, flags

from lsg_tf import flags as flagfiles

HELP_HINT = "Try --help for the flags."


def usage_error(message: str, exitcode: int = 1) -> NoReturn:
    """Prints ``error: MESSAGE`` and :data:`HELP_HINT` on stderr and exits with ``exitcode``."""
    sys.stderr.write(f"error: {message}\n{HELP_HINT}\n")
    sys.exit(exitcode)


def run(main, argv=None) -> None:
    """``app.run(main, argv)`` with one-line usage errors and flagfiles read from any folder."""
    argv = list(sys.argv if argv is None else argv)
    try:
        args = expand_flagfiles(argv[1:])
    except ValueError as error:
        usage_error(str(error))
    app.run(_short_usage(main), argv=argv[:1] + args, flags_parser=_parse_flags)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:  # absl: one line per failed flag
        usage_error("; ".join(line.strip().rstrip(".")
                              for line in str(error).splitlines() if line.strip()))


def _short_usage(main):
    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except app.UsageError as error:
            usage_error(" ".join(str(error).split()), error.exitcode)

    return wrapped


def expand_flagfiles(args) -> list[str]:
    """``args`` with each ``--flagfile`` argument (up to ``--``) replaced by the flags of its
    file, as absl would insert them, with names resolved by :func:`lsg_tf.flags.resolve`.

    Raises:
        ValueError: a flagfile found nowhere, unreadable, or one that includes itself.
    """
    expanded, rest = [], list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            return expanded + [arg] + rest
        if arg in ("--flagfile", "-flagfile") and rest:
            expanded += flagfiles.lines(rest.pop(0))
        elif arg.startswith(flagfiles.DIRECTIVES):
            expanded += flagfiles.lines(arg.partition("=")[2].strip())
        else:
            expanded.append(arg)
    return expanded
