"""Reading ``torch.save`` files without torch: a restricted unpickler that only rebuilds tensors.

Both layouts are read: the zip archive (``<name>/data.pkl`` plus one raw file
``<name>/data/<key>`` per storage, torch >= 1.6) and the older single stream (magic number,
protocol, system info, the pickled object, the list of storage keys, then every storage as an
int64 element count and its raw bytes). Tensors come back as NumPy arrays inside
(Ordered)dicts; any other pickled object is rejected.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


_LEGACY_PROTOCOL = 1001


# torch storage class -> NumPy dtype (little-endian; the byte order is set per file).
_STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType:
    """Stands for a torch storage class (e.g. ``torch.FloatStorage``) in the pickle."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage reference from ``persistent_load``: dtype, key, element count, optional view."""

    def __init__(self, dtype: np.dtype, key: str, numel: int, view=None):
        self.dtype, self.key, self.numel, self.view = dtype, key, int(numel), view


class _PendingTensor:
    """A tensor to build once its storage bytes are known."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError("_rebuild_tensor_v2 got no storage as its first argument")
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _PendingTensor(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles state dicts of tensors only; rejects every other global."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"{self._source}: refusing to unpickle {module}.{name}; "
                                     "only tensors in (Ordered)dicts are read")

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"{self._source}: unsupported persistent id {pid!r:.80}")
        view = pid[5] if len(pid) > 5 else None
        return _Storage(pid[1].dtype, str(pid[2]), pid[4], view)


def read_pth(path) -> dict[str, np.ndarray]:
    """Reads a ``torch.save`` state dict (zip or legacy layout) into NumPy arrays, without torch.

    Returns:
        ``{name: array}`` in the file's order (arrays own their memory, native byte order).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a ``torch.save`` file, or it holds anything but tensors in a dict.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no .pth file at {path!r}")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return _materialize(*_read_zip(archive, path), path)
        with open(path, "rb") as f:
            return _materialize(*_read_legacy(f, path), path)
    except (pickle.UnpicklingError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable torch state dict: {e}") from e


def _read_zip(archive: zipfile.ZipFile, path: str):
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError(
            f"{path}: zip file without exactly one <name>/data.pkl, so not a torch.save file")
    prefix = pickles[0][: -len("data.pkl")]
    order = "<"
    if prefix + "byteorder" in archive.namelist():
        order = ">" if archive.read(prefix + "byteorder").strip() == b"big" else "<"
    result = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path).load()

    def storage_bytes(key: str) -> bytes:
        return archive.read(f"{prefix}data/{key}")

    return result, (storage_bytes, order)


def _read_legacy(f, path: str):
    try:
        magic = _RestrictedUnpickler(f, path).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise ValueError(f"{path}: neither a zip archive nor a legacy torch.save stream") from e
    if magic != _LEGACY_MAGIC:
        raise ValueError(
            f"{path}: neither a zip archive nor a legacy torch.save stream (bad magic number)")
    protocol = _RestrictedUnpickler(f, path).load()
    if protocol != _LEGACY_PROTOCOL:
        raise ValueError(
            f"{path}: legacy torch.save protocol {protocol!r}, expected {_LEGACY_PROTOCOL}")
    sys_info = _RestrictedUnpickler(f, path).load()
    order = "<" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else ">"
    unpickler = _RestrictedUnpickler(f, path)
    result = unpickler.load()
    keys = _RestrictedUnpickler(f, path).load()
    if not isinstance(keys, list):
        raise ValueError(f"{path}: legacy torch.save stream without its list of storage keys")
    dtypes = _storage_dtypes(result)
    raw = {}
    for key in keys:
        count = int.from_bytes(_read_exact(f, 8, path), "little" if order == "<" else "big",
                               signed=True)
        if key not in dtypes or count < 0:
            raise ValueError(
                f"{path}: storage {key!r} is used by no tensor or has {count} elements")
        raw[key] = _read_exact(f, count * dtypes[key].itemsize, path)
    if f.read(1):
        raise ValueError(f"{path}: unexpected bytes after the last storage")

    def storage_bytes(key: str) -> bytes:
        return raw[key]

    return result, (storage_bytes, order)


def _read_exact(f, n: int, path: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"{path}: file ends inside a storage ({len(data)} of {n} bytes)")
    return data


def _storage_dtypes(result) -> dict[str, np.dtype]:
    """Root storage key -> dtype, from the tensors of an unpickled state dict."""
    if not isinstance(result, dict):
        return {}
    return {v.storage.key: v.storage.dtype for v in result.values()
            if isinstance(v, _PendingTensor)}


def _materialize(result, storages, path: str) -> dict[str, np.ndarray]:
    """Builds the arrays of a ``{name: _PendingTensor}`` dict."""
    if not isinstance(result, dict):
        raise ValueError(f"{path}: holds a {type(result).__name__}, not a state dict")
    storage_bytes, order = storages
    cache: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for name, value in result.items():
        if not isinstance(name, str) or not isinstance(value, _PendingTensor):
            raise ValueError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor")
        out[name] = _tensor(value, cache, storage_bytes, order, path, name)
    return out


def _tensor(t: _PendingTensor, cache, storage_bytes, order: str, path: str,
            name: str) -> np.ndarray:
    s = t.storage
    dtype = s.dtype.newbyteorder(order) if s.dtype.itemsize > 1 else s.dtype
    root_key = s.key
    # legacy views: (view_key, offset, size) of the root.
    base = 0 if s.view is None else int(s.view[1])
    if root_key not in cache:
        buffer = storage_bytes(root_key)
        if len(buffer) % dtype.itemsize:
            raise ValueError(f"{path}: storage {root_key!r} has {len(buffer)} bytes, "
                             f"not a multiple of {dtype}")
        cache[root_key] = np.frombuffer(buffer, dtype=dtype)
    flat = cache[root_key]
    start = base + t.offset
    if any(d < 0 for d in t.size) or any(st < 0 for st in t.stride) or len(t.size) != len(t.stride):
        raise ValueError(f"{path}: tensor {name!r} has size {t.size} and stride {t.stride}")
    if 0 in t.size:
        return np.zeros(t.size, dtype=dtype.newbyteorder("="))
    last = start + sum((d - 1) * st for d, st in zip(t.size, t.stride))
    if start < 0 or last >= flat.size:
        raise ValueError(
            f"{path}: tensor {name!r} reaches element {last} of a storage of {flat.size}")
    view = np.lib.stride_tricks.as_strided(
        flat[start:], shape=t.size, strides=tuple(st * dtype.itemsize for st in t.stride),
        writeable=False)
    return np.array(view, dtype=dtype.newbyteorder("="), order="C", copy=True)
