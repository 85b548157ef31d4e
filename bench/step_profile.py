"""Where a ResNet20 training step spends its time: TensorFlow and PyTorch kernel by kernel.

``vs_pytorch.py`` compares whole training steps. This script splits the step into the kernels
that dominate it and times each in both frameworks on the same shapes, on the CPU, with the
same threads: every convolution shape of CIFAR ResNet20 (He et al. 2016, section 4.2; batch
``--batch_size``, NHWC in TensorFlow as Keras runs it, NCHW in PyTorch), forward and backward
(input and filter gradients), and BatchNorm forward and backward in training mode. Each
kernel's median time over ``--repeats`` calls (after a warm-up call) is weighted by how often
ResNet20 uses that shape, which gives the per-step total of each kernel kind and the ratio
TensorFlow / PyTorch (above 1: TensorFlow is slower).

Run it under ``ONEDNN_MAX_CPU_ISA=AVX2`` (both frameworks' oneDNN honour it) to see the
AVX2-only machine's profile on a newer CPU, and with ``TF_ENABLE_ONEDNN_OPTS=0`` for
TensorFlow's Eigen kernels.

    python bench/step_profile.py [--batch_size 128] [--repeats 10] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # Run as a script: make the repository root importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402

# ResNet20's convolutions: (input size, in channels, out channels, stride, uses per step).
CONVOLUTIONS = (
    (32, 3, 16, 1, 1),  # stem
    (32, 16, 16, 1, 6),  # stage 1: 3 blocks x 2
    (32, 16, 32, 2, 1),  # stage 2, first conv
    (16, 32, 32, 1, 5),
    (16, 32, 64, 2, 1),  # stage 3, first conv
    (8, 64, 64, 1, 5),
)
# BatchNorm after every convolution: (size, channels, uses per step).
BATCH_NORMS = ((32, 16, 7), (16, 32, 6), (8, 64, 6))
MISSING_TORCH = "step_profile: needs torch (pip install -r bench/requirements.txt)"


def parse_args(argv=None) -> argparse.Namespace:
    parser = common.arguments(__doc__, repeats=10, warmup=None, threads=os.cpu_count(), smoke=None,
                              repeats_help="timed calls per kernel")
    parser.add_argument("--batch_size", type=int, default=128)
    args = parser.parse_args(argv)
    for name in ("batch_size", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be an integer >= 1, got {getattr(args, name)}")
    return args


def median_seconds(call, repeats: int) -> float:
    """Median wall time of ``call()`` over ``repeats`` calls, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------------------------
# TensorFlow.


def tf_conv_calls(batch: int, size: int, cin: int, cout: int, stride: int):
    """(forward, backward) callables of one NHWC 3x3 convolution; backward = both gradients."""
    import tensorflow as tf

    x = tf.random.normal((batch, size, size, cin))
    w = tf.Variable(tf.random.normal((3, 3, cin, cout)) * 0.1)
    upstream = tf.random.normal((batch, size // stride, size // stride, cout))

    @tf.function(jit_compile=False)
    def forward():
        return tf.nn.conv2d(x, w, stride, "SAME")

    @tf.function(jit_compile=False)
    def backward():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, w, stride, "SAME")
        return tape.gradient(y, [x, w], output_gradients=upstream)

    return (lambda: forward().numpy()), (lambda: [g.numpy() for g in backward()])


def tf_batch_norm_calls(batch: int, size: int, channels: int, fused: bool = False):
    """(forward, backward) of Keras' BatchNormalization in training mode (separate moment and
    normalisation ops), or with ``fused`` of :class:`lsg_tf.core.batch_norm.FusedBatchNormalization`
    (one FusedBatchNormV3 kernel and its gradient)."""
    import keras
    import tensorflow as tf

    from lsg_tf.core.batch_norm import FusedBatchNormalization

    layer_class = FusedBatchNormalization if fused else keras.layers.BatchNormalization
    layer = layer_class(momentum=0.9, epsilon=1e-5)
    x = tf.random.normal((batch, size, size, channels))
    layer(x, training=True)
    upstream = tf.random.normal(x.shape)

    @tf.function
    def forward():
        return layer(x, training=True)

    @tf.function
    def backward():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        return tape.gradient(y, [x] + layer.trainable_variables, output_gradients=upstream)

    return (lambda: forward().numpy()), (lambda: [g.numpy() for g in backward()])


# --------------------------------------------------------------------------------------------
# PyTorch.


def torch_conv_calls(batch: int, size: int, cin: int, cout: int, stride: int):
    import torch
    import torch.nn.functional as F

    x = torch.randn(batch, cin, size, size, requires_grad=True)
    w = (torch.randn(cout, cin, 3, 3) * 0.1).requires_grad_()
    upstream = torch.randn(batch, cout, size // stride, size // stride)

    def forward():
        with torch.no_grad():
            return F.conv2d(x, w, stride=stride, padding=1)

    def backward():
        y = F.conv2d(x, w, stride=stride, padding=1)
        return torch.autograd.grad(y, [x, w], grad_outputs=upstream)

    return forward, backward


def torch_batch_norm_calls(batch: int, size: int, channels: int):
    import torch

    layer = torch.nn.BatchNorm2d(channels).train()
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    upstream = torch.randn(x.shape)

    def forward():
        with torch.no_grad():
            return layer(x)

    def backward():
        return torch.autograd.grad(layer(x), [x, layer.weight, layer.bias],
                                   grad_outputs=upstream)

    return forward, backward


# --------------------------------------------------------------------------------------------


def profile(batch: int, repeats: int) -> list[dict]:
    """One row per kernel and shape: seconds per call in each framework and uses per step."""
    rows = []
    for size, cin, cout, stride, uses in CONVOLUTIONS:
        tf_calls = tf_conv_calls(batch, size, cin, cout, stride)
        torch_calls = torch_conv_calls(batch, size, cin, cout, stride)
        for k, direction in enumerate(("forward", "backward")):
            rows.append({"kernel": f"conv {direction}",
                         "shape": f"{size}x{size}x{cin}->{cout}/{stride}", "uses": uses,
                         "tf": median_seconds(tf_calls[k], repeats),
                         "torch": median_seconds(torch_calls[k], repeats)})
    for size, channels, uses in BATCH_NORMS:
        torch_calls = torch_batch_norm_calls(batch, size, channels)
        for prefix, fused in (("", False), (FUSED, True)):
            tf_calls = tf_batch_norm_calls(batch, size, channels, fused=fused)
            for k, direction in enumerate(("forward", "backward")):
                rows.append({"kernel": f"{prefix}batch norm {direction}",
                             "shape": f"{size}x{size}x{channels}", "uses": uses,
                             "tf": median_seconds(tf_calls[k], repeats),
                             "torch": median_seconds(torch_calls[k], repeats)})
    return rows


FUSED = "fused "
"""Prefix of the kernels timed with the fused BatchNorm layer: an alternative to Keras'
BatchNorm rows, not a further part of the step."""


def totals(rows: list[dict]) -> dict:
    """Per kernel kind: (TensorFlow, PyTorch) seconds per training step, uses weighted."""
    out = {}
    for row in rows:
        tf_s, torch_s = out.get(row["kernel"], (0.0, 0.0))
        out[row["kernel"]] = (tf_s + row["uses"] * row["tf"], torch_s + row["uses"] * row["torch"])
    return out


def step_total(kinds: dict, fused: bool) -> tuple[float, float]:
    """(TensorFlow, PyTorch) seconds of the step's convolutions and BatchNorms, forward and
    backward ("backward" rows include their forward), with Keras' or the fused BatchNorm."""
    bn = FUSED + "batch norm" if fused else "batch norm"
    chosen = [k for k in kinds if k in ("conv backward", f"{bn} backward")]
    return sum(kinds[k][0] for k in chosen), sum(kinds[k][1] for k in chosen)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print(MISSING_TORCH, file=sys.stderr)
        return 2
    import tensorflow as tf

    torch.set_num_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print("== ResNet20 step profile: TensorFlow vs PyTorch kernels (CPU)")
    print(f"machine: {common.machine_description()}; PyTorch {torch.__version__} "
          f"(oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'})")
    print(f"command: {common.command_line()}")
    rows = profile(args.batch_size, args.repeats)
    print(f"batch {args.batch_size}, median of {args.repeats} calls per kernel, ms per call")
    print(f"{'kernel':<20} {'shape':<18} {'uses':>4} {'TF ms':>8} {'torch ms':>9} {'TF/torch':>8}")
    for r in rows:
        print(f"{r['kernel']:<20} {r['shape']:<18} {r['uses']:>4} {1e3 * r['tf']:>8.2f} "
              f"{1e3 * r['torch']:>9.2f} {r['tf'] / r['torch']:>8.2f}")
    print("per training step (uses weighted), ms:")
    kinds = totals(rows)
    for kernel, (tf_s, torch_s) in kinds.items():
        print(f"  {kernel:<26} TF {1e3 * tf_s:8.1f}  torch {1e3 * torch_s:8.1f}  "
              f"ratio {tf_s / torch_s:.2f}")
    for label, fused in (("conv + Keras BatchNorm", False), ("conv + fused BatchNorm", True)):
        tf_s, torch_s = step_total(kinds, fused)
        print(f"  {label + ', backward':<26} TF {1e3 * tf_s:8.1f}  torch {1e3 * torch_s:8.1f}  "
              f"ratio {tf_s / torch_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
