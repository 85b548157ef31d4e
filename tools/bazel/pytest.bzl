"""`pytest_test`: a py_test that runs one test file of tests/ with pytest."""

# Read by every test file: pytest's configuration and the shared fixtures.
_PYTEST_DATA = [
    "//:pytest.ini",
    "//tests:conftest.py",
]

def pytest_test(name, size, srcs = [], deps = [], data = [], **kwargs):
    """Declares the py_test `name` that runs `<name>.py` through pytest_runner.py.

    For use in tests/BUILD.

    Args:
      name: the test file's name without `.py`, e.g. "test_gate".
      size: Bazel test size, which sets its timeout (.bazelrc: --test_timeout).
      srcs: support modules of tests/ that the test file imports (not test files).
      deps: the py_library targets the test file imports.
      data: other files the tests read or run (scripts, flagfiles).
      **kwargs: further py_test attributes (tags, flaky, ...).
    """
    src = name + ".py"
    native.py_test(
        name = name,
        size = size,
        srcs = ["pytest_runner.py", src] + srcs,
        main = "pytest_runner.py",
        args = ["$(rootpath %s)" % src],
        data = _PYTEST_DATA + data,
        deps = deps,
        python_version = "PY3",
        srcs_version = "PY3",
        **kwargs
    )

def warn_about_test_files_without_targets():
    """Prints the package's test_*.py files that no target runs; call it last in tests/BUILD.

    `make test` runs every test file, `bazel test //...` only the declared ones: the warning
    keeps the two suites from drifting apart.
    """
    targets = native.existing_rules()
    missing = [f for f in native.glob(["test_*.py"]) if f[:-len(".py")] not in targets]
    if missing:
        print("no Bazel target for %s: add a pytest_test per file in tests/BUILD" %
              ", ".join(missing))
