"""`pytest_test`: a py_test that runs one test file of tests/ with pytest; `pytest_suite`: one
per test file of a tests/<package>/ folder."""

# Read by every test file: pytest's configuration and the shared fixtures.
_PYTEST_DATA = [
    "//:pytest.ini",
    "//tests:conftest.py",
]

def pytest_test(name, size, srcs = [], deps = [], data = [], **kwargs):
    """Declares the py_test `name` that runs `<name>.py` through pytest_runner.py.

    For use in tests/<package>/BUILD (through pytest_suite).

    Args:
      name: the test file's name without `.py`, e.g. "test_gate".
      size: Bazel test size, which sets its timeout (.bazelrc: --test_timeout).
      srcs: support modules (and other test files) of its folder that the test file imports.
      deps: the py_library targets the test file imports.
      data: other files the tests read or run (scripts, flagfiles).
      **kwargs: further py_test attributes (tags, flaky, ...).
    """
    src = name + ".py"
    native.py_test(
        name = name,
        size = size,
        srcs = ["//tests:pytest_runner.py", src] + srcs,
        main = "//tests:pytest_runner.py",
        args = ["$(rootpath %s)" % src],
        data = _PYTEST_DATA + data,
        deps = deps,
        python_version = "PY3",
        srcs_version = "PY3",
        **kwargs
    )

def pytest_suite(deps = [], data = [], sizes = {}, tags = {}, extra_data = {}):
    """A pytest_test per `test_*.py` of the folder; every other `*.py` there is a support module.

    For use in tests/<package>/BUILD.

    Args:
      deps: the Bazel packages the folder's tests import or run (tests/test_layering.py
        checks them).
      data: files every test of the folder reads.
      sizes: {test name: size} for tests that are not "small" (.bazelrc: --test_timeout).
      tags: {test name: [tags]} ("cpu:2", "requires-data").
      extra_data: {test name: [files]} read by that test only.
    """
    support = native.glob(["*.py"], exclude = ["test_*.py"])
    tests = [f[:-len(".py")] for f in native.glob(["test_*.py"])]
    for name in tests:
        # A test may import another test file of its folder (fixtures writers): all as srcs.
        pytest_test(
            name = name,
            size = sizes.get(name, "small"),
            srcs = support + [t + ".py" for t in tests if t != name],
            deps = deps,
            data = data + extra_data.get(name, []),
            tags = tags.get(name, []),
        )
