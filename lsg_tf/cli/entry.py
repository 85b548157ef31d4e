"""The entry point of every absl command line: :func:`run` instead of ``app.run``.

A usage error (a bad flag value, a missing required flag, an ``app.UsageError`` of ``main``)
prints ``error: MESSAGE`` and ``Try --help for the flags.`` on stderr instead of the module's
help page, and exits with the error's code (absl's: 1). A flagfile that includes itself,
directly or through others, is refused before anything runs (absl only warns and skips it).
No TensorFlow here: a bad command line fails fast.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import NoReturn

from absl import app, flags

HELP_HINT = "Try --help for the flags."
_DIRECTIVES = ("--flagfile=", "-flagfile=")


def usage_error(message: str, exitcode: int = 1) -> NoReturn:
    """Prints ``error: MESSAGE`` and :data:`HELP_HINT` on stderr and exits with ``exitcode``."""
    sys.stderr.write(f"error: {message}\n{HELP_HINT}\n")
    sys.exit(exitcode)


def run(main, argv=None) -> None:
    """``app.run(main, argv)`` with one-line usage errors and refused flagfile cycles."""
    argv = list(sys.argv if argv is None else argv)
    cycle = flagfile_cycle(argv[1:])
    if cycle:
        chain = f" ({' -> '.join(cycle)})" if len(cycle) > 2 else ""
        usage_error(f"flagfile {cycle[-1]} includes itself{chain}")
    app.run(_short_usage(main), argv=argv, flags_parser=_parse_flags)


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


def flagfile_cycle(args) -> list[str] | None:
    """The flagfiles leading back to one of them (``[a, b, a]``), or None.

    Follows the ``--flagfile`` arguments in ``args`` (up to ``--``) and the ``--flagfile=``
    lines of those files as absl reads them (names relative to the current folder). A file
    that cannot be opened is left for absl to report.
    """
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("--flagfile", "-flagfile") and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith(_DIRECTIVES):
            name = arg.partition("=")[2]
        else:
            continue
        cycle = _cycle_from(name.strip(), [])
        if cycle:
            return cycle
    return None


def _cycle_from(name: str, chain: list) -> list[str] | None:
    if not name:
        return None
    path = os.path.realpath(os.path.expanduser(name))
    if path in (p for _, p in chain):
        return [n for n, _ in chain] + [name]
    try:
        with open(path) as f:
            lines = f.readlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        if line.startswith(_DIRECTIVES):
            cycle = _cycle_from(line.partition("=")[2].strip(), chain + [(name, path)])
            if cycle:
                return cycle
    return None
