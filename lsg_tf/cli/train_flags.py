"""The training flags of ``python -m lsg_tf.train``, one per :class:`TrainConfig` field.

Imported by the train CLI and by the tools that train with the same flags (they build their
:class:`~lsg_tf.training.train_lib.TrainConfig` with :func:`config_from_flags`); library code
never imports this module. No TensorFlow here: ``--help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import math

from absl import flags

from lsg_tf.core import choices

_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Run folder to write (or resume).")
# Data.
_DATASET = flags.DEFINE_string(
    "dataset", "fashion_mnist",
    "fashion_mnist (IDX files, offline default), image_folder (needs --data_dir), "
    "tiny_imagenet (needs --data_dir), or a TFDS name such as cifar10 / tfds:cifar100.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Image-folder root, Tiny ImageNet folder, IDX folder, or TFDS data dir.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None,
                                 "Cache of decoded image-folder or Tiny ImageNet arrays.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None,
                                   "Resize image-folder images to this square size.")
_TRAIN_SUBSET = flags.DEFINE_integer("train_subset", None,
                                     "Stratified, seeded training subset size (0: all).")
_TEST_SUBSET = flags.DEFINE_integer("test_subset", None,
                                    "Stratified, seeded test subset size (0: all).")
_VALIDATION_SIZE = flags.DEFINE_integer(
    "validation_size", None,
    "Hold out this many (stratified) training images and evaluate on them instead of the "
    "test set, for choosing settings; metrics are then validation/*.", lower_bound=1)
_AUGMENT = flags.DEFINE_enum(
    "augment", "auto", ["auto", *choices.AUGMENTATIONS],
    "Training augmentation; auto picks crop_flip for CIFAR/MNIST/Tiny-ImageNet-sized images, "
    "and never flips "
    "mnist/emnist (crop only). Image folders of digits, letters or other text-like classes "
    "need --augment=crop (or none): a mirrored '3' is not a 3.")
# Network and optimisation.
_MODEL = flags.DEFINE_string(
    "model", "resnet20",
    "resnet20, resnet20_stem2 or resnet20_stem2_k128 (64-px images: stride-2 stem), "
    "alexnet_cifar, resnet152_top2, or keras:<ApplicationName>.")
_BACKBONE_WEIGHTS = flags.DEFINE_string(
    "backbone_weights", None, "imagenet, a local weights file, or empty for random init.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Training epochs.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Global batch size.", lower_bound=1)
_OPTIMIZER = flags.DEFINE_enum("optimizer", "sgd", list(choices.OPTIMIZERS), "Network optimizer.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 0.1, "Initial learning rate.", lower_bound=0)
_MOMENTUM = flags.DEFINE_float("momentum", 0.9, "SGD momentum.", lower_bound=0, upper_bound=0.999)
_LR_SCHEDULE = flags.DEFINE_enum(
    "lr_schedule", "cosine", list(choices.LR_SCHEDULES),
    "step: x0.1 at 50% and 75% of training; cosine: decay to 0; onecycle: PyTorch's "
    "OneCycleLR rate (cosine ramp from lr/25 over --lr_warmup_fraction, default 0.15).")
_LR_WARMUP = flags.DEFINE_float(
    "lr_warmup_fraction", 0.15,
    "Fraction of all steps spent on a linear warm-up from lr/25 (then the schedule).",
    lower_bound=0, upper_bound=0.99)
_NESTEROV = flags.DEFINE_bool("nesterov", True, "Nesterov momentum for SGD.")
_WEIGHT_DECAY = flags.DEFINE_float(
    "weight_decay", 5e-4, "Weight decay, as SGD's (gradient wd*w); see --weight_decay_scope. With "
    "--optimizer=adamw, AdamW's decoupled decay (w -= lr*wd*w) instead, never on G.",
    lower_bound=0)
_WD_SCOPE = flags.DEFINE_enum(
    "weight_decay_scope", "all", list(choices.WEIGHT_DECAY_SCOPES),
    "kernels: conv and classifier kernels; all: also BatchNorm scale/offset and the "
    "classifier bias (every network variable; never the gate).")
_INITIALIZER = flags.DEFINE_enum(
    "initializer", "he_normal", list(choices.INITIALIZERS),
    "Conv kernel initialisation of resnet20/alexnet_cifar: he_normal, or PyTorch's default "
    "(uniform in +-sqrt(1/fan_in)).")
_BATCH_NORM = flags.DEFINE_enum(
    "batch_norm", "fused", list(choices.BATCH_NORMS),
    "BatchNorm of resnet20/alexnet_cifar: keras (keras.layers.BatchNormalization) or fused "
    "(the same layer on TensorFlow's fused kernel when training; docs/benchmarks.md).")
_CROP_PADDING = flags.DEFINE_enum(
    "crop_padding", "zeros", list(choices.CROP_PADDINGS),
    "Padding before the random crop of --augment=crop/crop_flip: zeros (He et al.) or "
    "reflect (the border mirrors the image).")
_SHORTCUT = flags.DEFINE_enum(
    "shortcut", "a", list(choices.SHORTCUTS),
    "resnet20's shortcut where the shape changes: a (subsample, zero-pad the channels; He et "
    "al.'s CIFAR choice) or b (1x1 stride-2 convolution and BN).")
# LSG (paper section 3, Algorithm 1).
_SCHEME = flags.DEFINE_enum("scheme", "alternate", list(choices.SCHEMES),
                            "alternate (Algorithm 1), joint (footnote 1), std (baseline).")
_PERIOD = flags.DEFINE_integer("period", 3, "Alternating cycle length (in --period_unit).",
                               lower_bound=1)
_PHASE = flags.DEFINE_integer("phase", 1,
                              "Epoch (or step) of each cycle that trains the LSG path.",
                              lower_bound=0)
_PERIOD_UNIT = flags.DEFINE_enum(
    "period_unit", "epoch", list(choices.PERIOD_UNITS),
    "What --period and --phase count for --scheme=alternate: epoch (Algorithm 1) or step "
    "(the paths take turns every few optimizer steps).")
_WARMUP = flags.DEFINE_integer("warmup_epochs", 0, "STD-only epochs before the scheme starts.",
                               lower_bound=0)
_LSG_WEIGHT = flags.DEFINE_float("lsg_weight", 1.0, "lambda of Eq. 3.", lower_bound=0)
_SPARSITY_FORM = flags.DEFINE_enum("sparsity_form", "abs", list(choices.SPARSITY_FORMS),
                                   "abs: a*| |G|_1 - s |; hinge: a*max(0, |G|_1 - s).")
_SPARSITY_COEF = flags.DEFINE_float(
    "sparsity_coefficient", 0.01, "a of Eq. 2, raw units (per-entry gradient of the term).",
    lower_bound=0)
_DENSITY_TARGET = flags.DEFINE_float(
    "density_target", None,
    "Target density |G|_1/(C*K) in [1/C, 1]; s = target*C*K. Default min(1, 1.5/C).",
    lower_bound=0, upper_bound=1)
_FIXED_GATE = flags.DEFINE_string(
    "fixed_gate", None,
    "Train with a fixed gate: 'PER_CLASS,SHARED' (appendix C: 6,4) or a .npy file.")
_GATE_OPTIMIZER = flags.DEFINE_enum("gate_optimizer", "adam", list(choices.GATE_OPTIMIZERS),
                                    "Optimizer of G; 'same' uses the network optimizer.")
_GATE_LR = flags.DEFINE_float(
    "gate_learning_rate", 0.01,
    "Learning rate of G's optimizer. An Adam gate needs at least (1 - density_target) / rate "
    "gated steps (the LSG or joint path) to reach its target: the run warns before training "
    "when --epochs, --period and --phase give fewer, and after training when the gate ends "
    "more than 20% above its target (metrics.json: gate_target).", lower_bound=0)
# Run.
_SEED = flags.DEFINE_integer("seed", 0, "Seed for initialisation, data order and augmentation.")
STRATEGY = flags.DEFINE_enum(
    "strategy", "default", list(choices.STRATEGIES),
    "mirrored: MirroredStrategy over all GPUs (or --num_cpu_replicas logical CPUs); "
    "multi_worker: MultiWorkerMirroredStrategy from TF_CONFIG. --batch_size is global.")
CPU_REPLICAS = flags.DEFINE_integer("num_cpu_replicas", 2,
                                    "Logical CPU replicas for mirrored without GPUs.",
                                    lower_bound=1)
_JIT = flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step (single device only).")
_CACHE_FROZEN = flags.DEFINE_bool(
    "cache_frozen", False,
    "Compute the frozen part of the backbone (efficientnet_lite0_top2) once and train only its "
    "top on the cached output (no augmentation reaches it); kept in --cache_dir if given.")
_VALIDATION_FREQ = flags.DEFINE_integer("validation_freq", 1,
                                        "Evaluate the test set every N epochs.", lower_bound=1)
_VERBOSE = flags.DEFINE_integer("verbose", 1,
                                "Keras verbosity: 0 silent, 1 progress bar, 2 one line.")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", "exported",
    "After training, export the STD path for TF Serving here; empty to skip.")
_EXPORT_NAME = flags.DEFINE_string("export_name", None,
                                   "Served model name (default: the output folder's name).")

for _flag in (_LEARNING_RATE, _MOMENTUM, _LR_WARMUP, _WEIGHT_DECAY, _LSG_WEIGHT, _SPARSITY_COEF,
              _DENSITY_TARGET, _GATE_LR):
    flags.register_validator(
        _flag.name, lambda value: value is None or math.isfinite(value),
        message=f"--{_flag.name} must be a finite number")
flags.register_validator("image_size", lambda value: value is None or value >= 1,
                         message="--image_size must be >= 1 (or unset: keep the images' size)")
for _flag in (_TRAIN_SUBSET, _TEST_SUBSET):
    flags.register_validator(_flag.name, lambda value: value is None or value >= 0,
                             message=f"--{_flag.name} must be >= 1 (or 0/unset: all images)")

flags.register_multi_flags_validator(
    ["phase", "period"], lambda f: f["phase"] < f["period"],
    message="--phase must be smaller than --period")
flags.register_multi_flags_validator(
    ["strategy", "jit_compile"], lambda f: not (f["strategy"] == "mirrored" and f["jit_compile"]),
    message="--jit_compile does not work with --strategy=mirrored")


def config_from_flags():
    """The :class:`TrainConfig` of the parsed flags."""
    from lsg_tf.training.train_lib import TrainConfig

    values = {f.name: flags.FLAGS[f.name].value for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**values)


def flagfile_text(config) -> str:
    """The resolved flags as a flagfile that reproduces the run."""
    lines = ["# Resolved flags of this run: python -m lsg_tf.train --flagfile=flags.txt"]
    for name, value in dataclasses.asdict(config).items():
        if value is not None:
            lines.append(f"--{name}={str(value).lower() if isinstance(value, bool) else value}")
    return "\n".join(lines) + "\n"
