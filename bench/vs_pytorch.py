"""ResNet20 training throughput: lsg-tf (Keras / TensorFlow) versus the same network in PyTorch.

Side A is the library's real training path: ``backbones.build_backbone("resnet20")`` inside an
``LSGModel`` with the ``std`` schedule, compiled with SGD (learning rate 0.1, momentum 0.9) and
weight decay 1e-4 as ``lsg_tf.training.train_lib.train`` builds it, trained by ``model.fit``. Side B
is the CIFAR ResNet20 of He et al. (2016, section 4.2; option-A shortcuts) written in PyTorch,
trained by a plain loop with ``torch.optim.SGD`` and the same hyper-parameters. Both sides run
on the CPU with the same number of threads, the same batch size and the same random uint8
CIFAR-shaped images (labels 0-9), held in memory and cast to float32 in [0, 1] per batch, with
no augmentation (``data.make_train_dataset`` would add a random crop and flip, which PyTorch
would have to do too; leaving both out compares the networks' training steps alone).

One run is ``--steps`` training steps of ``--batch_size`` images. The summary gives each side's
images/s (images per run / median seconds per run) and the throughput ratio
Keras images/s / PyTorch images/s (goal >= 0.8). Both models' trainable parameter counts are
printed per layer type and must be equal, or the script exits with status 1; without torch
installed it exits with status 2.

    python bench/vs_pytorch.py [--batch_size 128] [--steps 20] [--repeats 5] [--warmup 1]
        [--threads N] [--channels_last] [--jit_compile] [--batch_norm fused] [--smoke]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

if __package__ in (None, ""):  # Run as a script: make the repository root importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
GOAL = 0.8  # Keras images/s / PyTorch images/s.
SMOKE = {"batch_size": 8, "steps": 2, "repeats": 1, "warmup": 1}
MISSING_TORCH = "vs_pytorch: needs torch (pip install -r bench/requirements.txt)"
LAYER_TYPES = ("conv", "bn", "dense")


def parse_args(argv=None) -> argparse.Namespace:
    """Parses the command line; ``--smoke`` overrides batch size, steps, repeats and warm-up."""
    parser = common.arguments(
        __doc__, threads=os.cpu_count(),
        smoke="batch 8, 2 steps, 1 repeat, 1 warm-up: a quick end-to-end check")
    parser.add_argument("--batch_size", type=int, default=128, help="images per training step")
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    parser.add_argument("--channels_last", action="store_true",
                        help="PyTorch side in torch.channels_last memory format (default NCHW)")
    parser.add_argument("--jit_compile", action="store_true",
                        help="compile the Keras train step with XLA (jit_compile=True)")
    parser.add_argument("--steps_per_execution", type=int, default=1,
                        help="Keras train steps per compiled call (a speed lever)")
    parser.add_argument("--batch_norm", choices=("keras", "fused"), default="fused",
                        help="Keras BatchNorm layer: "
                             "lsg_tf.core.batch_norm.FusedBatchNormalization "
                             "(fused, lsg_tf.train's default) or keras.layers.BatchNormalization")
    parser.add_argument("--tf_data_autotune", action="store_true",
                        help="Keras input with tf.data autotuning on (the setting before it "
                             "was turned off; a speed lever)")
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    for name, minimum in (("batch_size", 1), ("steps", 1), ("repeats", 1), ("warmup", 1),
                          ("threads", 1), ("steps_per_execution", 1)):
        value = getattr(args, name)
        if value is None or value < minimum:
            parser.error(f"--{name} must be an integer >= {minimum}, got {value}")
    return args


# --------------------------------------------------------------------------------------------
# Data.


def random_cifar(num_images: int, seed: int = 0):
    """Random CIFAR-shaped data: uint8 images [N, 32, 32, 3] and int32 labels [N] in 0..9."""
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (num_images, *IMAGE_SHAPE), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, num_images).astype(np.int32)
    return images, labels


def channel_stats(images):
    """Per-channel mean and std of uint8 images [N, H, W, C] scaled to [0, 1] (lists of C)."""
    scaled = images.astype("float64") / 255.0
    return scaled.mean(axis=(0, 1, 2)).tolist(), scaled.std(axis=(0, 1, 2)).tolist()


# --------------------------------------------------------------------------------------------
# Keras side.


def build_keras_model(mean=None, std=None, jit_compile: bool = False,
                      steps_per_execution: int = 1, batch_norm: str = "fused"):
    """The library's ResNet20 classifier, built and compiled as ``train_lib.train`` does.

    Args:
        mean, std: per-channel input statistics in [0, 1] (normalisation inside the model).
        jit_compile: compile the train step with XLA.
        steps_per_execution: train steps per compiled call (Keras' loop in the graph).
        batch_norm: the backbone's BatchNorm layer, "keras" or "fused".

    Returns:
        A compiled ``LSGModel`` (schedule ``std``) on a ResNet20 backbone, 10 classes.
    """
    from bench import _model
    from lsg_tf.core.schedule import Schedule

    return _model.resnet20_model(Schedule("std"), NUM_CLASSES, IMAGE_SHAPE,
                                 jit_compile=jit_compile,
                                 steps_per_execution=steps_per_execution, mean=mean, std=std,
                                 batch_norm=batch_norm)


def keras_param_counts(model) -> dict:
    """Trainable parameters of an LSGModel by layer type (conv, bn, dense), gate excluded.

    The gate ``G`` [10, 64] is LSG's addition, not part of ResNet20 (and is not trainable
    under the ``std`` schedule); ``model.network_variables`` leaves it out either way.
    """
    import keras

    counts = dict.fromkeys(LAYER_TYPES, 0)
    kinds = ((keras.layers.Conv2D, "conv"), (keras.layers.BatchNormalization, "bn"),
             (keras.layers.Dense, "dense"))
    network = {id(v) for v in model.network_variables}
    for layer in list(model.backbone.layers) + [model.classifier]:
        kind = next((k for cls, k in kinds if isinstance(layer, cls)), None)
        size = sum(math.prod(v.shape) for v in layer.trainable_weights if id(v) in network)
        if size and kind is None:
            raise ValueError(f"Keras layer {layer.name!r} ({type(layer).__name__}) has "
                             f"{size} trainable parameters of no counted type {LAYER_TYPES}")
        if kind:
            counts[kind] += size
    total = sum(math.prod(v.shape) for v in model.network_variables)
    if total != sum(counts.values()):
        raise ValueError(f"Keras trainable parameters outside the backbone and classifier: "
                         f"{total} in all, {sum(counts.values())} counted by layer type")
    return counts


def keras_dataset(images, labels, batch_size: int, autotune: bool = False):
    """Infinite tf.data pipeline of in-memory tensors, no augmentation.

    Yields (float32 images [B, 32, 32, 3] in [0, 1], int32 labels [B]), the same batches in
    the same order on every pass; each ``fit`` call starts a new pass. The library's
    pipeline options (:func:`lsg_tf.data.pipeline_options`: tf.data autotuning off) unless
    ``autotune``.
    """
    import tensorflow as tf

    from lsg_tf.data import pipeline_options

    options = pipeline_options()
    options.autotune.enabled = bool(autotune)

    def to_float(x, y):
        return tf.cast(x, tf.float32) / 255.0, y

    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .batch(batch_size, drop_remainder=True)
            .map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
            .repeat()
            .prefetch(tf.data.AUTOTUNE)
            .with_options(options))


# --------------------------------------------------------------------------------------------
# PyTorch side.


def build_torch_resnet20(mean=None, std=None, num_classes: int = NUM_CLASSES):
    """CIFAR ResNet20 in PyTorch (He et al. 2016, section 4.2, n = 3, option-A shortcuts).

    conv3x3(16)-BN-ReLU, then 3 stages of 3 basic blocks (16, 32, 64 filters; stride 2 in the
    first block of stages 2 and 3), global average pooling, Linear(64, num_classes). A basic
    block is conv3x3-BN-ReLU-conv3x3-BN (+ shortcut)-ReLU; where the shape changes the shortcut
    keeps every second pixel and zero-pads the channels (half before, half after), as the
    Keras ``SubsampleZeroPad``. Convolutions have no bias; BN uses PyTorch's defaults
    (momentum 0.1, epsilon 1e-5), which the Keras backbone copies.

    Args:
        mean, std: per-channel input statistics in [0, 1]; the model normalises its inputs,
            as ``LSGModel`` does (defaults 0 and 1).
        num_classes: outputs of the classifier.

    Returns:
        A ``torch.nn.Module`` mapping float32 images [B, 3, 32, 32] in [0, 1] to logits
        [B, num_classes].
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv3x3(cin, cout, stride):
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1, self.bn1 = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
            self.conv2, self.bn2 = conv3x3(cout, cout, 1), nn.BatchNorm2d(cout)
            self.stride = stride
            self.pad = (cout - cin) // 2, cout - cin - (cout - cin) // 2

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            if self.stride != 1 or any(self.pad):
                x = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, *self.pad))
            return F.relu(x + y)

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean or [0.0] * 3).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std or [1.0] * 3).view(1, 3, 1, 1))
            self.conv, self.bn = conv3x3(3, 16, 1), nn.BatchNorm2d(16)
            blocks, cin = [], 16
            for stage, cout in enumerate((16, 32, 64)):
                for block in range(3):
                    blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and block == 0 else 1))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(64, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

        def forward(self, x):
            x = F.relu(self.bn(self.conv((x - self.mean) / self.std)))
            x = self.blocks(x)
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return ResNet20()


def torch_param_counts(model) -> dict:
    """Trainable parameters of a PyTorch model by layer type (conv, bn, dense)."""
    from torch import nn

    counts = dict.fromkeys(LAYER_TYPES, 0)
    kinds = ((nn.Conv2d, "conv"), (nn.BatchNorm2d, "bn"), (nn.Linear, "dense"))
    for module in model.modules():
        size = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        kind = next((k for cls, k in kinds if isinstance(module, cls)), None)
        if size and kind is None:
            raise ValueError(f"PyTorch module {type(module).__name__} has {size} trainable "
                             f"parameters of no counted type {LAYER_TYPES}")
        if kind:
            counts[kind] += size
    return counts


def torch_optimizer(model):
    """SGD (lr 0.1, momentum 0.9) with weight decay 1e-4 on conv and Linear weights only.

    The Keras model decays exactly these (L2 ``wd/2 ||W||^2`` on conv kernels and the
    classifier kernel), not BN parameters or biases.
    """
    import torch
    from torch import nn

    decayed = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ids = {id(p) for p in decayed}
    others = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.SGD([{"params": decayed, "weight_decay": WEIGHT_DECAY},
                            {"params": others, "weight_decay": 0.0}],
                           lr=LEARNING_RATE, momentum=MOMENTUM)


# --------------------------------------------------------------------------------------------
# Benchmark.


def format_counts(counts: dict) -> str:
    return (f"{sum(counts.values()):,} "
            f"({', '.join(f'{k} {counts[k]:,}' for k in LAYER_TYPES)})")


def busy_warning() -> str:
    """A warning line if other processes already load the CPU (1-minute load average >= 0.5)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return ""
    if load < 0.5:
        return ""
    return (f"warning: 1-minute load average {load:.2f} on {os.cpu_count()} cores before start: "
            "other processes use the CPU, so these timings are unreliable (PyTorch's OpenMP "
            "threads spin-wait at every parallel region and suffer most)")


def main(argv=None) -> int:
    args = parse_args(argv)
    load = busy_warning()
    if load:
        print(load, flush=True)
    try:
        import torch
    except ImportError:
        print(MISSING_TORCH, file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    common.set_threads(args.threads)  # Before TensorFlow runs any op.
    torch.set_num_threads(args.threads)

    batch, steps = args.batch_size, args.steps
    images, labels = random_cifar(batch * steps)
    mean, std = channel_stats(images)

    keras_model = build_keras_model(mean, std, jit_compile=args.jit_compile,
                                    steps_per_execution=args.steps_per_execution,
                                    batch_norm=args.batch_norm)
    torch.manual_seed(0)
    torch_model = build_torch_resnet20(mean, std)
    keras_counts, torch_counts = keras_param_counts(keras_model), torch_param_counts(torch_model)
    gate = keras_model.gate
    print(f"keras trainable parameters: {format_counts(keras_counts)}; "
          f"gate {list(gate.shape)} excluded (LSG's addition, not ResNet20; "
          f"trainable={gate.trainable} under schedule 'std')", flush=True)
    print(f"pytorch trainable parameters: {format_counts(torch_counts)}", flush=True)
    if keras_counts != torch_counts:
        print(f"vs_pytorch: trainable parameter counts differ: keras {format_counts(keras_counts)}"
              f" != pytorch {format_counts(torch_counts)}", file=sys.stderr)
        return 1

    dataset = keras_dataset(images, labels, batch, autotune=args.tf_data_autotune)

    def run_keras():
        keras_model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    torch_model = torch_model.to(memory_format=memory_format).train()
    optimizer = torch_optimizer(torch_model)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_torch = torch.from_numpy(images)  # uint8 [N, H, W, C]
    y_torch = torch.from_numpy(labels).long()

    def run_torch():
        for step in range(steps):
            x = x_torch[step * batch:(step + 1) * batch].permute(0, 3, 1, 2)
            x = x.to(torch.float32, memory_format=memory_format).div_(255.0)
            y = y_torch[step * batch:(step + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(torch_model(x), y)
            loss.backward()
            optimizer.step()
        loss.item()

    keras_name = ("keras_xla" if args.jit_compile else "keras") + (
        "_fused_bn" if args.batch_norm == "fused" else "")
    torch_name = "pytorch_channels_last" if args.channels_last else "pytorch_nchw"
    start = time.perf_counter()
    comparison = common.alternate(keras_name, run_keras, torch_name, run_torch,
                                  repeats=args.repeats, warmup=args.warmup)
    images_per_run = batch * steps
    keras_ips = images_per_run / comparison.median_a
    torch_ips = images_per_run / comparison.median_b
    throughput_ratio = keras_ips / torch_ips  # = median_b / median_a
    verdict = "met" if throughput_ratio >= GOAL else "not met"
    wall = time.perf_counter() - start
    extra = "\n".join([
        f"setup: ResNet20 training, batch {batch}, {steps} steps per run, "
        f"threads {args.threads}, warm-up {args.warmup}, repeats {args.repeats}, "
        f"Keras steps_per_execution {args.steps_per_execution}, BatchNorm {args.batch_norm}, "
        f"tf.data autotune "
        f"{args.tf_data_autotune}, wall {wall:.1f} s",
        "data: random uint8 CIFAR-shaped images in memory, cast to float32 [0, 1] per batch, "
        "no augmentation (the fair comparison; make_train_dataset adds crop+flip)",
        f"{keras_name}: {keras_ips:.1f} images/s (median)",
        f"{torch_name}: {torch_ips:.1f} images/s (median)",
        f"throughput ratio {keras_name} images/s / {torch_name} images/s = "
        f"{throughput_ratio:.3f} (goal >= {GOAL}: {verdict})",
    ] + ([load] if load else []))
    common.report("ResNet20 training throughput, Keras/TF vs PyTorch (CPU)", comparison,
                  goal=f"time ratio <= {1 / GOAL:.2f}, i.e. images/s ratio >= {GOAL}",
                  unit="ms/step", scale=1000.0 / steps, extra=extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
