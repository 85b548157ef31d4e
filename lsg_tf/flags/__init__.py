"""The committed flagfiles (``cifar.flags``, ``fashion.flags``, ...), shipped with the package,
and the one reader of flagfiles.

:func:`path` is a packaged flagfile; :func:`resolve` is the file a ``--flagfile=NAME`` reads;
:func:`lines` reads a flagfile as absl does, its nested ``--flagfile=`` lines expanded in place.
A nested name is looked up beside the flagfile that includes it first, then as absl does
(relative to the current folder), then among the packaged flagfiles; a top-level name from the
current folder, then among the packaged ones. So ``--flagfile=cifar_cpu.flags``, which includes
``cifar.flags``, reads the same from any folder, whatever flagfiles that folder holds.
The repository root links each flagfile here. Standard library only.
"""

from __future__ import annotations

import os

FOLDER = os.path.dirname(os.path.abspath(__file__))
SUFFIX = ".flags"
DIRECTIVES = ("--flagfile=", "-flagfile=")
"""The prefixes of a line (or an argument) that includes a flagfile."""


def names() -> list[str]:
    """The packaged flagfiles' file names (``cifar.flags``, ``cifar_cpu.flags``, ...)."""
    return sorted(f for f in os.listdir(FOLDER) if f.endswith(SUFFIX))


def path(name: str) -> str:
    """The packaged flagfile ``name`` (``"cifar_cpu"`` or ``"cifar_cpu.flags"``).

    Raises:
        ValueError: no packaged flagfile of that name (the message lists them).
    """
    file_name = name if name.endswith(SUFFIX) else name + SUFFIX
    if file_name not in names():
        raise ValueError(f"no packaged flagfile {name!r}; packaged: {', '.join(names())}")
    return os.path.join(FOLDER, file_name)


def resolve(name: str, including: str | None = None) -> str:
    """The absolute path of the file ``--flagfile=name`` reads: ``name`` beside the flagfile
    ``including`` it (if any), else from the current folder, else a packaged flagfile of that
    name; so a packaged flagfile's includes are always the packaged ones.

    Raises:
        ValueError: found nowhere (one line naming it and the packaged flagfiles).
    """
    name = os.path.expanduser(name)
    candidates = [name]
    if including and not os.path.isabs(name):  # beside the includer first, as C's #include
        candidates.insert(0, os.path.join(os.path.dirname(including), name))
    if os.path.basename(name) == name and name in names():
        candidates.append(os.path.join(FOLDER, name))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    beside = f", nor beside {including}, which includes it" if including else ""
    raise ValueError(f"flagfile {name} is not a file in the current folder{beside}, nor a "
                     f"packaged flagfile ({', '.join(names())})")


def lines(name: str, including: str | None = None, _chain: tuple = ()) -> list[str]:
    """The flag arguments of flagfile ``name`` as absl reads them: stripped lines, without blank
    and comment lines (``#``, ``//``), each ``--flagfile=`` line replaced by that file's own.

    Raises:
        ValueError: a flagfile found nowhere, unreadable, or one that includes itself
            (directly or through others).
    """
    if not name.strip():
        return []  # absl ignores an empty name
    file = resolve(name, including)
    real = os.path.realpath(file)
    if real in (r for _, r in _chain):
        cycle = [n for n, _ in _chain] + [name]
        shown = f" ({' -> '.join(cycle)})" if len(cycle) > 2 else ""
        raise ValueError(f"flagfile {name} includes itself{shown}")
    try:
        with open(file) as f:
            text = f.readlines()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not a text file"
        raise ValueError(f"flagfile {name} cannot be read: {reason}") from None
    found = []
    for line in text:
        if line.isspace() or line.startswith(("#", "//")):
            continue
        if line.startswith(DIRECTIVES):
            nested = line.partition("=")[2].strip()
            found += lines(nested, file, _chain + ((name, real),))
        else:
            found.append(line.strip())
    return found
