"""The optimizers of a run: the network's, with its learning-rate schedule and weight decay,
and the gate's (paper section 4: SGD for the network, Adam for G; Algorithm 1's two updates).

Each function reads the fields of a :class:`~lsg_tf.training.train_lib.TrainConfig`.
"""

from __future__ import annotations

import keras

from lsg_tf.core import lr_schedules


def make_learning_rate(config, steps_per_epoch: int):
    """The network's learning rate: a float or a schedule over all training steps.

    ``step`` divides the rate by 10 at 50% and 75% of training (the usual CIFAR
    ResNet decay); ``cosine`` decays it to 0; ``onecycle`` is PyTorch's one-cycle rate
    (:class:`~lsg_tf.core.lr_schedules.OneCycle`, ramp over ``lr_warmup_fraction`` of the
    steps, 0.15 if unset). For the others, ``lr_warmup_fraction > 0`` prepends a linear
    warm-up from ``lr / 25`` over that fraction of the steps, and the schedule runs over
    the remaining steps.
    """
    total = config.epochs * steps_per_epoch
    lr = config.learning_rate
    if config.lr_schedule == "onecycle":
        return lr_schedules.OneCycle(lr, total, pct_start=config.lr_warmup_fraction or 0.15)
    warmup = int(round(config.lr_warmup_fraction * total))
    decay_steps = max(total - warmup, 1)
    schedule = lr
    if config.lr_schedule == "step":
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [decay_steps // 2, (3 * decay_steps) // 4], [lr, lr * 0.1, lr * 0.01])
    elif config.lr_schedule == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=decay_steps)
    if warmup:
        schedule = lr_schedules.LinearWarmup(schedule, warmup,
                                             lr / lr_schedules.WARMUP_DIV_FACTOR)
    return schedule


def make_optimizer(config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The network optimizer with its learning-rate schedule (:func:`make_learning_rate`)."""
    lr = make_learning_rate(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    # AdamW's own decoupled decay (w -= lr * wd * w) at --weight_decay, in place of the L2
    # terms (l2_weight_decay), on the same variables; never on the gate G.
    optimizer = keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    excluded = ["gate"] + (["bias", "gamma", "beta"]
                           if config.weight_decay_scope == "kernels" else [])
    optimizer.exclude_from_weight_decay(var_names=excluded)
    return optimizer


def l2_weight_decay(config) -> float:
    """The L2 coefficient of the network's regularizers: ``weight_decay``, or 0 for AdamW,
    which decays the weights itself (:func:`make_optimizer`)."""
    return 0.0 if config.optimizer == "adamw" else config.weight_decay


def make_gate_optimizer(config):
    """A separate optimizer for G at ``gate_learning_rate``, or None for ``same``."""
    if config.gate_optimizer == "same":
        return None
    if config.gate_optimizer == "sgd":
        return keras.optimizers.SGD(config.gate_learning_rate, momentum=config.momentum)
    return keras.optimizers.Adam(config.gate_learning_rate)
