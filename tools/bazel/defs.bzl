"""Macros for lsg-tf's BUILD files: one py_library per Python package, one py_binary per CLI."""

def package_library(name = None, srcs = None, deps = [], data = [], **kwargs):
    """The folder's Python modules as one py_library named after the folder.

    Args:
      name: target name; default the folder's name (`//lsg_tf/core` is `//lsg_tf/core:core`).
      srcs: default every `*.py` of the folder.
      deps: the Bazel packages its modules import (tests/test_layering.py checks them).
      data: files the modules read at run time.
      **kwargs: further py_library attributes.
    """
    native.py_library(
        name = name or native.package_name().split("/")[-1],
        srcs = srcs if srcs != None else native.glob(["*.py"]),
        deps = deps,
        data = data,
        srcs_version = "PY3",
        visibility = ["//visibility:public"],
        **kwargs
    )

def binaries(mains, library, data = []):
    """A py_binary per module in `mains` (file names without `.py`), each on `library`.

    Args:
      mains: the command-line modules, e.g. ["train", "export"].
      library: the py_library that holds them and their dependencies.
      data: files the commands read (flagfiles, scripts).
    """
    for main in mains:
        native.py_binary(
            name = main,
            srcs = [main + ".py"],
            main = main + ".py",
            data = data,
            python_version = "PY3",
            deps = [library],
            visibility = ["//visibility:public"],
        )
