"""Command lines of the lsg_tf command-line modules as data: flags, argument lists, records.

A stage that does a CLI's work builds its argument list once, with :func:`argv`, from the
CLI's module name and a dict of flag values; it runs from those values and records the same
list (:func:`command`). :func:`argv` checks every name against the flags the CLI defines, read
from its source with :func:`defined_flags` (not by importing it: every CLI defines its absl
flags in one process-wide registry, several with the same names), so a renamed or misspelled
flag raises here instead of leaving a command in a report that no longer runs.
:func:`read_flagfile` reads a flagfile (``cifar.flags``) as typed values of a CLI's flags.

Standard library only (no absl, no TensorFlow).
"""

from __future__ import annotations

import ast
import functools
import os
import shlex
from collections.abc import Mapping

from lsg_tf import flags as flagfiles

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""The folder holding ``lsg_tf/`` (the repository root in a checkout, ``site-packages`` in an
installation): the command-line modules' sources are found from here."""

_BOOLEAN = ("DEFINE_bool", "DEFINE_boolean")
_LIST = ("DEFINE_list",)  # one comma-separated value
_INTEGER = ("DEFINE_integer", "DEFINE_multi_integer")
_FLOAT = ("DEFINE_float", "DEFINE_multi_float")


def module_file(module: str) -> str:
    """The source file of ``module`` (``"lsg_tf.report"``, ``"lsg_tf.attack_eval"``)."""
    path = os.path.join(ROOT, *module.split(".")) + ".py"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no source of the command-line module {module!r}")
    return path


@functools.lru_cache(maxsize=None)
def defined_flags(module: str) -> dict[str, str]:
    """``{flag name: the absl DEFINE_* function defining it}`` of ``module``'s own flags.

    Read from the module's source: the ``flags.DEFINE_*("name", ...)`` calls with a literal
    name, and those of the flag modules of :mod:`lsg_tf.cli` it imports (``*_flags``, e.g.
    the training flags shared by ``lsg_tf.train`` and the tools that train); flags it gets by
    importing any other module are not included.
    """
    path = module_file(module)
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("lsg_tf.cli.") and node.module.endswith("_flags")):
            found.update(defined_flags(node.module))
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("DEFINE_")):
            continue
        name = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "name"), None)
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            found[name.value] = node.func.attr
    if not found:
        raise ValueError(f"{path} defines no absl flags: {module!r} is not a command-line module")
    return found


def _check(module: str, names) -> dict[str, str]:
    defined = defined_flags(module)
    unknown = [n for n in names if n not in defined]
    if unknown:
        raise ValueError(f"python -m {module} has no flag "
                         + ", ".join(f"--{n}" for n in unknown)
                         + f"; its flags: {', '.join(sorted(defined))}")
    return defined


def argv(module: str, values: Mapping[str, object]) -> list[str]:
    """The argument list that sets ``values`` on ``python -m module``, in the mapping's order.

    A value of None leaves the flag out (its default); a boolean flag becomes ``--name`` or
    ``--noname``; a sequence is one ``--name=a,b`` for a list flag and one ``--name=v`` per
    item for a multi flag.

    Raises:
        ValueError: a name that is not one of the module's flags.
    """
    defined = _check(module, list(values))
    args = []
    for name, value in values.items():
        if value is None:
            continue
        kind = defined[name]
        if kind in _BOOLEAN:
            args.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (list, tuple)):
            if kind.startswith("DEFINE_multi"):
                args += [f"--{name}={v}" for v in value]
            else:
                args.append(f"--{name}=" + ",".join(str(v) for v in value))
        else:
            args.append(f"--{name}={value}")
    return args


def command(module: str, args, shown: Mapping[str, str] | None = None) -> str:
    """``python -m module ARGS`` as a shell line, for a report to record.

    Args:
        args: the argument list (:func:`argv`).
        shown: value -> text to show instead (a machine's paths as placeholders such as
            ``runs/<name>``); applied to the value of each ``--name=value`` argument.
    """
    shown = shown or {}
    parts = []
    for arg in args:
        name, sep, value = arg.partition("=")
        if sep and value in shown:
            arg = f"{name}={shown[value]}"
        parts.append(shlex.quote(arg))
    return " ".join([f"python -m {module}"] + parts)


DROPPED = ("--cache_dir", "--progress", "--noprogress")
"""Flags that do not change results, left out of a recorded command."""


def typed_command(module: str, argv, data_flags=("--data_dir", "--voc_dir"),
                  run_flags=("--run",), dropped=DROPPED) -> str:
    """The command as typed (``argv[1:]``), without this machine's paths, for a page to record.

    ``data_flags`` show their folder as ``DATA/<name>``, ``run_flags`` as ``runs/<name>``;
    ``dropped`` flags (which do not change results) are left out; any other absolute path
    shows as its last component.
    """
    parts = []
    for arg in argv[1:]:
        name, sep, value = arg.partition("=")
        if name in dropped:
            continue
        if sep and name in data_flags:
            arg = f"{name}=DATA/{os.path.basename(os.path.normpath(value))}"
        elif sep and name in run_flags:
            arg = f"{name}=runs/{os.path.basename(os.path.normpath(value))}"
        elif sep and os.path.isabs(value):
            arg = f"{name}={os.path.basename(os.path.normpath(value))}"
        parts.append(arg)
    return command(module, parts)


def read_flagfile(path: str, module: str) -> dict:
    """The flags a flagfile sets, as values of ``module``'s flags: ints, floats, booleans,
    lists, strings. Read with :func:`lsg_tf.flags.lines`: later lines win, comment lines
    (``#``, ``//``) are skipped and a nested ``--flagfile=NAME`` is read from the current folder
    as absl reads it, else beside the including file, else from the packaged flagfiles.

    Raises:
        ValueError: a flag ``module`` does not define, a flagfile found nowhere, or one that
            includes itself.
    """
    lines = flagfiles.lines(path)
    defined = defined_flags(module)
    values = {}
    for line in lines:
        name, sep, text = line[2:].partition("=")
        if not sep and name not in defined and name.startswith("no") and \
                defined.get(name[2:]) in _BOOLEAN:
            values[name[2:]] = False
            continue
        kind = _check(module, [name])[name]
        if kind in _BOOLEAN:
            values[name] = text.lower() not in ("false", "0") if sep else True
        elif kind in _LIST:
            values[name] = text.split(",") if text else []
        else:
            value = int(text) if kind in _INTEGER else float(text) if kind in _FLOAT else text
            if kind.startswith("DEFINE_multi"):
                values.setdefault(name, []).append(value)
            else:
                values[name] = value
    return values
