"""Runs one test file with pytest, for the py_test targets of tests/BUILD (tools/bazel/pytest.bzl).

    python tests/pytest_runner.py tests/core/test_gate.py [more pytest arguments]

Selects the same tests as `make test` (`-m "not slow"`; a later `-m` given with Bazel's
`--test_arg` wins), keeps pytest's temporary folders in the test's private TEST_TMPDIR, writes
the JUnit XML report Bazel asks for (XML_OUTPUT_FILE) and exits with pytest's status, except
that a file with no selected test passes.
"""

import os
import sys

import pytest


def _bazel_environment():
    """Adjusts the process when run by `bazel test` (TEST_TMPDIR is set)."""
    tmp = os.environ.get("TEST_TMPDIR")
    if not tmp:
        return []
    # Python put this script's resolved folder (the source tree) first on sys.path: drop it,
    # so that tests import only files the BUILD declares (pytest.ini adds the runfiles' tests/).
    here = os.path.dirname(os.path.realpath(__file__))
    if sys.path and os.path.realpath(sys.path[0]) == here:
        del sys.path[0]
    # Bazel leaves HOME unset and the real home read-only: give Keras (~/.keras) and
    # matplotlib (~/.config) a private, writable one (inherited by subprocesses).
    os.environ.setdefault("HOME", os.path.join(tmp, "home"))
    args = ["--basetemp=" + os.path.join(tmp, "pytest")]
    if os.environ.get("XML_OUTPUT_FILE"):
        args.append("--junitxml=" + os.environ["XML_OUTPUT_FILE"])
    return args


def main(argv):
    if len(argv) < 2:
        raise SystemExit("usage: pytest_runner.py TEST_FILE [PYTEST_ARGS...]")
    # -rs lists skipped tests with their reason, so a missing data set shows in the test log.
    args = [argv[1], "-q", "-rs", "-m", "not slow", "-p", "no:cacheprovider"]
    code = pytest.main(args + _bazel_environment() + argv[2:])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print(f"{argv[1]}: no test selected")
        return 0
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
