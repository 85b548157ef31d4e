"""The entry point of every absl command line: :func:`run` instead of ``app.run``.

A usage error (a bad flag value, a missing required flag, an ``app.UsageError`` of ``main``)
prints ``error: MESSAGE`` and ``Try --help for the flags.`` on stderr instead of the module's
help page, and exits with the error's code (absl's: 1). No TensorFlow here: a bad command
line fails fast.
"""

from __future__ import annotations

import functools
import sys
from typing import NoReturn

from absl import app, flags

HELP_HINT = "Try --help for the flags."


def usage_error(message: str, exitcode: int = 1) -> NoReturn:
    """Prints ``error: MESSAGE`` and :data:`HELP_HINT` on stderr and exits with ``exitcode``."""
    sys.stderr.write(f"error: {message}\n{HELP_HINT}\n")
    sys.exit(exitcode)


def run(main, argv=None) -> None:
    """``app.run(main, argv)`` with one-line usage errors."""
    argv = list(sys.argv if argv is None else argv)
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

