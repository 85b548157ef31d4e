"""One training run, from a configuration to a finished run folder (library side of ``train``).

The CLI (``python -m lsg_tf.train``) only turns flags into a :class:`TrainConfig`
and calls :func:`train`; everything here is usable from Python.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras
import numpy as np
import tensorflow as tf

from lsg_tf import data, load_model, run_io
from lsg_tf.core import backbones, choices
from lsg_tf.core import gate as gate_lib
from lsg_tf.core.callbacks import GateImageLogger, RunRecorder, StopOnNonFiniteLoss
from lsg_tf.core.choices import GATE_OPTIMIZERS, LR_SCHEDULES, OPTIMIZERS
from lsg_tf.core.model import LSGModel
from lsg_tf.core.schedule import Schedule
from lsg_tf.training import distribute, frozen_cache, optimizers, recipes, run_lock

# Settings that may change when a run is resumed; anything else must match.
_FIELDS_ALLOWED_TO_CHANGE_ON_RESUME = (
    "output_dir", "epochs", "verbose", "cache_dir", "data_dir", "strategy", "num_cpu_replicas",
    "export_dir", "export_name", "validation_freq")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run. Field meanings match the CLI flags."""

    output_dir: str
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    cache_dir: str | None = None
    image_size: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    augment: str = "auto"
    model: str = "resnet20"
    backbone_weights: str | None = None
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    lr_schedule: str = "cosine"
    # The recipe (lsg_tf.training.recipes.DEFAULT, chosen on validation data): warm-up, Nesterov,
    # weight decay 5e-4 on every network variable, he_normal conv kernels.
    lr_warmup_fraction: float = recipes.DEFAULT["lr_warmup_fraction"]
    nesterov: bool = recipes.DEFAULT["nesterov"]
    weight_decay: float = recipes.DEFAULT["weight_decay"]
    weight_decay_scope: str = recipes.DEFAULT["weight_decay_scope"]
    initializer: str = recipes.DEFAULT["initializer"]
    # TensorFlow's fused BatchNorm kernel: the same layer, a faster training step on every
    # CPU measured (docs/benchmarks.md).
    batch_norm: str = "fused"
    # The two remaining differences from common PyTorch CIFAR recipes (lsg_tf.training.recipes).
    crop_padding: str = "zeros"
    shortcut: str = "a"
    validation_size: int | None = None
    scheme: str = "alternate"
    period: int = 3
    phase: int = 1
    warmup_epochs: int = 0
    period_unit: str = "epoch"
    lsg_weight: float = 1.0
    sparsity_form: str = "abs"
    sparsity_coefficient: float = 0.01
    density_target: float | None = None
    fixed_gate: str | None = None
    gate_optimizer: str = "adam"
    gate_learning_rate: float = 0.01
    seed: int = 0
    strategy: str = "default"
    num_cpu_replicas: int = 2
    jit_compile: bool = False
    validation_freq: int = 1
    verbose: int = 1
    # Train only the top of a partly frozen backbone, on the frozen part's output computed
    # once (lsg_tf.training.frozen_cache).
    cache_frozen: bool = False
    export_dir: str | None = None
    export_name: str | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{field.name} must be a finite number, got {value!r}")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 1 (or 0/None: all images), got {value!r}")
            if value == 0:
                setattr(self, name, None)
        if self.image_size is not None and self.image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {self.image_size!r}")
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("gate_optimizer", self.gate_optimizer, GATE_OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("strategy", self.strategy, choices.STRATEGIES)
        for name in ("epochs", "batch_size", "validation_freq", "num_cpu_replicas"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("learning_rate", "gate_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.lr_warmup_fraction < 1:
            raise ValueError(
                f"lr_warmup_fraction must be in [0, 1), got {self.lr_warmup_fraction!r}")
        _check_choice("weight_decay_scope", self.weight_decay_scope,
                      choices.WEIGHT_DECAY_SCOPES)
        _check_choice("initializer", self.initializer, choices.INITIALIZERS)
        _check_choice("batch_norm", self.batch_norm, choices.BATCH_NORMS)
        _check_choice("crop_padding", self.crop_padding, choices.CROP_PADDINGS)
        _check_choice("shortcut", self.shortcut, choices.SHORTCUTS)
        _check_choice("period_unit", self.period_unit, choices.PERIOD_UNITS)
        if self.validation_size is not None and self.validation_size < 1:
            raise ValueError(f"validation_size must be >= 1, got {self.validation_size!r}")
        gate_lib.check_sparsity_form(self.sparsity_form)
        self.schedule()  # validates scheme, period, phase, warm-up, unit

    def schedule(self) -> Schedule:
        return Schedule(self.scheme, self.period, self.phase, self.warmup_epochs,
                        unit=self.period_unit)


def train(config: TrainConfig, strategy: tf.distribute.Strategy | None = None,
          extra_callbacks=(), flagfile: str | None = None) -> dict:
    """Trains (or resumes) the run of ``config`` and writes its run folder.

    Rerunning an interrupted run continues from its last completed epoch with the same
    weights, gate, optimizer states and schedule phase; rerunning a finished run with more
    ``epochs`` extends it, with the same or fewer changes nothing (it is exported only if it
    has not been exported to ``export_dir`` yet). Nothing but the lock is written to the run
    folder before the data and settings are validated; ``flagfile``, the text of the resolved
    flags, is then written as ``flags.txt``. The folders it writes into are checked first,
    and the run folder is locked while it trains (:mod:`~lsg_tf.training.run_lock`).

    Raises:
        ValueError: bad settings, or a folder holding a run with different settings.
        lsg_tf.run_io.RunIOError: a folder that cannot be written, a full disk, a corrupt
            checkpoint, or a run folder in use by another training process.
        lsg_tf.core.callbacks.NonFiniteLossError: the loss became NaN/inf (run not finished).

    Returns:
        The final metrics (also written to ``metrics.json``).
    """
    strategy = strategy or tf.distribute.get_strategy()
    is_chief, _ = distribute.worker_role(strategy)
    run_dir = distribute.worker_run_dir(config.output_dir, strategy)
    run_io.check_writable_folder(run_dir, "output_dir")
    for name in ("cache_dir", "export_dir") if is_chief else ("cache_dir",):
        if getattr(config, name):
            run_io.check_writable_folder(getattr(config, name), name)
    with run_lock.run_lock(run_dir):
        return _train_locked(config, strategy, run_dir, is_chief, extra_callbacks, flagfile)


def _train_locked(config: TrainConfig, strategy, run_dir: str, is_chief: bool,
                  extra_callbacks, flagfile: str | None) -> dict:
    _check_resumable(run_dir, config)
    finished = _finished_metrics(run_dir, config)
    if finished is not None:
        print(f"{run_dir} is already finished ({finished['epochs']} epochs): nothing to train")
        if config.export_dir and is_chief and not _exported_to(finished, config.export_dir):
            model = load_model(run_io.read_run(run_dir).model_path)
            finished["export"] = _export(model, config, run_dir)
            run_io.write_json(os.path.join(run_dir, run_io.METRICS_FILE), finished)
        return finished

    splits = data.load_dataset(config.dataset, data_dir=config.data_dir,
                               image_size=(config.image_size,) * 2 if config.image_size else None,
                               cache_dir=config.cache_dir)
    splits = data.apply_subsets(splits, config.train_subset, config.test_subset, config.seed)
    evaluated_on = "test"
    if config.validation_size:
        # Model selection: hold out part of the training subset; the test split is never read.
        splits = data.hold_out_validation(splits, config.validation_size, config.seed)
        evaluated_on = "validation"
    augment = data.default_augmentation(splits) if config.augment == "auto" else config.augment
    steps = data.steps_per_epoch(len(splits.x_train), config.batch_size)
    mean, std = (backbones.input_statistics(config.model, config.backbone_weights)
                 or splits.channel_stats())

    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        backbone = backbones.build_backbone(config.model, splits.image_shape,
                                            weights=config.backbone_weights,
                                            weight_decay=optimizers.l2_weight_decay(config),
                                            seed=config.seed,
                                            weight_decay_scope=config.weight_decay_scope,
                                            initializer=config.initializer,
                                            batch_norm=config.batch_norm,
                                            shortcut=config.shortcut)
        num_filters = backbones.feature_channels(backbone)
        fixed = (gate_lib.parse_fixed_gate(config.fixed_gate, splits.num_classes, num_filters)
                 if config.fixed_gate else None)

        def make_model(net, **overrides):
            settings = dict(
                schedule=config.schedule(), lsg_weight=config.lsg_weight,
                sparsity_coefficient=config.sparsity_coefficient,
                density_target=config.density_target, sparsity_form=config.sparsity_form,
                fixed_gate=fixed, input_mean=mean, input_std=std,
                class_names=splits.class_names,
                classifier_weight_decay=optimizers.l2_weight_decay(config),
                classifier_bias_decay=config.weight_decay_scope == "all")
            return LSGModel(net, splits.num_classes, **{**settings, **overrides})

        model = make_model(backbone)
        split = backbones.frozen_split(config.model, backbone) if config.cache_frozen else None
        if config.cache_frozen and split is None:
            raise ValueError(f"cache_frozen needs a backbone with a frozen part (e.g. "
                             f"efficientnet_lite0_top2), not {config.model!r}")
        # The model the optimizer trains: the full one, or its top on cached features.
        trained = model if split is None else frozen_cache.top_model(make_model, split[1])
        for each in {id(model): model, id(trained): trained}.values():
            each.compile(optimizer=optimizers.make_optimizer(config, steps),
                         gate_optimizer=optimizers.make_gate_optimizer(config),
                         jit_compile=config.jit_compile)
        initial_epoch, history, wall_time = run_io.load_checkpoint(run_dir, trained)

    # Data, model and checkpoint are valid: only now does the folder get the run's settings.
    run_io.write_json(os.path.join(run_dir, run_io.CONFIG_FILE), dataclasses.asdict(config))
    if flagfile is not None:
        run_io.write_text(os.path.join(run_dir, run_io.FLAGS_FILE), flagfile)
    budget = gate_budget(config, model, steps)
    if config.verbose:
        print(f"Augmentation: {augment}")
        if budget and budget["gated_steps"] < (budget["steps_needed"] or 0):
            print("WARNING: " + gate_lib.too_few_steps_line(budget["gated_steps"],
                                                            budget["steps_needed"]))
    if initial_epoch < config.epochs:
        if config.verbose and initial_epoch:
            print(f"Resuming {run_dir} at epoch {initial_epoch + 1}/{config.epochs}")
        if split is None:
            train_ds = data.make_train_dataset(splits.x_train, splits.y_train,
                                               config.batch_size, seed=config.seed,
                                               augment=augment, start_epoch=initial_epoch,
                                               crop_padding=config.crop_padding)
            test_ds = data.make_eval_dataset(splits.x_test, splits.y_test, config.batch_size)
        else:
            train_ds, test_ds = _cached_datasets(split[0], model, splits, config,
                                                 initial_epoch)
        recorder = RunRecorder(run_dir, history, wall_time)
        log_dir = os.path.join(run_dir, run_io.TENSORBOARD_DIR)
        callbacks = [StopOnNonFiniteLoss(), recorder,
                     keras.callbacks.TensorBoard(log_dir, write_graph=False),
                     GateImageLogger(os.path.join(log_dir, "gate"), splits.class_names),
                     *extra_callbacks]
        trained.fit(train_ds, epochs=config.epochs, initial_epoch=initial_epoch,
                    steps_per_epoch=steps, validation_data=test_ds,
                    validation_freq=config.validation_freq, callbacks=callbacks,
                    shuffle=False, verbose=config.verbose)
        wall_time = recorder.wall_time
    if trained is not model:
        frozen_cache.copy_head(trained, model)

    test_ds = data.make_eval_dataset(splits.x_test, splits.y_test, config.batch_size)
    final = model.evaluate(test_ds, return_dict=True, verbose=0)
    gate = np.asarray(model.gate.numpy())
    metrics = {
        f"{evaluated_on}/accuracy": final["accuracy"],
        f"{evaluated_on}/cross_entropy": final["std_ce"],
        f"{evaluated_on}/loss": final["loss"],
        "evaluated_on": evaluated_on,
        "gate_density": float(gate.mean()),
        "num_classes": splits.num_classes,
        "num_filters": int(gate.shape[1]),
        "class_names": list(splits.class_names),
        "num_train": len(splits.x_train),
        "num_test": len(splits.x_test),
        "epochs": config.epochs,
        "wall_time_seconds": wall_time,
        "history": history,
    }
    gated = model.schedule.scheme != "std"
    if gated and model.fixed_gate is None:
        metrics["gate_target"] = {**gate_lib.target_check(float(gate.mean()),
                                                          model.density_target), **budget}
    metrics.update(class_specificity(model, gate, splits, gated=gated))
    finish_run(run_dir, model, gate, metrics, splits.class_names)
    if config.export_dir and is_chief:
        metrics["export"] = _export(model, config, run_dir)
        run_io.write_json(os.path.join(run_dir, run_io.METRICS_FILE), metrics)
    return metrics


def gate_budget(config: TrainConfig, model, steps_per_epoch: int) -> dict:
    """``{"gated_steps", "steps_needed"}`` of a run that trains its gate (else ``{}``):
    the schedule's gated steps over the whole run, and for an Adam gate the fewest that can
    reach the target (:func:`lsg_tf.core.gate.adam_steps_needed`; None for SGD)."""
    if model.schedule.scheme == "std" or model.fixed_gate is not None:
        return {}
    adam = config.gate_optimizer == "adam" or (config.gate_optimizer == "same"
                                               and config.optimizer in ("adam", "adamw"))
    rate = config.gate_learning_rate if config.gate_optimizer != "same" else config.learning_rate
    return {"gated_steps": model.schedule.gated_steps(config.epochs, steps_per_epoch),
            "steps_needed": gate_lib.adam_steps_needed(model.density_target, rate)
            if adam else None}


def _cached_datasets(frozen, model, splits, config: TrainConfig, initial_epoch: int):
    """Training and evaluation datasets of the frozen part's output (computed once)."""
    kwargs = {"cache_dir": config.cache_dir, "verbose": config.verbose}
    train = frozen_cache.frozen_features(frozen, model, splits.x_train, config.batch_size,
                                         "train", **kwargs)
    test = frozen_cache.frozen_features(frozen, model, splits.x_test, config.batch_size,
                                        "test", **kwargs)
    train_ds = data.make_feature_dataset(train, splits.y_train, config.batch_size,
                                         config.seed, initial_epoch)
    test_ds = tf.data.Dataset.from_tensor_slices((test, splits.y_test)).batch(
        config.batch_size).with_options(data.pipeline_options())
    return train_ds, test_ds


def _export(model, config: TrainConfig, run_dir: str) -> str:
    from lsg_tf.serving import export_lib

    name = config.export_name or os.path.basename(os.path.normpath(run_dir))
    return export_lib.export_saved_model(model, config.export_dir, name)


def _exported_to(metrics: dict, export_dir: str) -> bool:
    path = metrics.get("export")
    return bool(path) and os.path.abspath(path).startswith(os.path.abspath(export_dir) + os.sep)


def _finished_metrics(run_dir: str, config: TrainConfig) -> dict | None:
    """The metrics of a finished run that ``config`` would not extend, else None."""
    if not run_io.is_finished(run_dir):
        return None
    metrics = run_io.read_run(run_dir).metrics
    return metrics if config.epochs <= metrics.get("epochs", 0) else None


def class_specificity(model, gate, splits, gated: bool, threshold: float = 0.5) -> dict:
    """Φ (Eq. 2, default a and s for every model), masking (section 4.2), MIS (appendix B)
    and C_IC (Table 2, m = 6; NaN without filter weights) on the eval split.

    Masking zeroes each class's filters, ``G[c, k] > threshold``, with the trained gate of
    an LSG run and with Φ's minimising gate of an STD run (the paper's comparison).
    """
    from lsg_tf.analysis import head, masking, phi
    from lsg_tf.core import features

    pooled, _ = features.pooled_features_and_logits(model, splits.x_test)
    kernel, bias = head.classifier_weights(model)
    ambiguity = phi.filter_ambiguity(pooled, splits.y_test, kernel, bias)
    mask_gate = gate if gated else ambiguity.gate
    sweep = masking.masking_sweep(pooled, splits.y_test, kernel, bias, mask_gate, threshold)
    summary = masking.sweep_summary(sweep, splits.class_names)
    summary["gate"] = "trained" if gated else "phi"
    return {"phi": {"phi": ambiguity.phi, "cross_entropy": ambiguity.cross_entropy,
                    "density": ambiguity.density},
            "masking": summary,
            **seed_numbers(model, pooled, splits.y_test, splits.num_classes)}


def seed_numbers(model, pooled, labels, num_classes: int) -> dict:
    """``{"mis": {"mis", "num_examples"}, "c_ic"}``: MIS (appendix B, on up to
    :data:`~lsg_tf.analysis.mis.DEFAULT_MAX_EXAMPLES` images) and C_IC (Table 2, m = 6; NaN
    without filter weights) of one trained model from its pooled features ``[N, K]``; one
    number each per model, compared over seeds."""
    from lsg_tf.analysis import correlation, mis

    information = mis.mutual_information_score(pooled, labels, num_classes,
                                               max_examples=mis.DEFAULT_MAX_EXAMPLES)
    return {"mis": {"mis": information.mis, "num_examples": information.num_examples},
            "c_ic": correlation.model_c_ic(model, pooled, labels, num_classes)}


def finish_run(run_dir, model, gate, metrics, class_names) -> None:
    """Writes the final artifacts; ``metrics.json`` last, as the mark of a finished run."""
    from lsg_tf.core import plots

    run_io.save_model(run_dir, model)
    run_io.save_gate(run_dir, gate)
    plots.save_figure(plots.gate_figure(gate, class_names),
                      os.path.join(run_dir, run_io.GATE_FIGURE))
    run_io.write_json(os.path.join(run_dir, run_io.METRICS_FILE), metrics)


def _check_resumable(run_dir: str, config: TrainConfig) -> None:
    """Refuses a folder whose run (at least one completed epoch) had other settings, or whose
    checkpoint state is corrupt (before the data is read)."""
    path = os.path.join(run_dir, run_io.CONFIG_FILE)
    if run_io.checkpoint_state(run_dir) is None or not os.path.exists(path):
        return
    previous = run_io.read_json(path, f"delete it to resume the run with the current "
                                      f"settings, or delete {run_dir} to start over")
    current = dataclasses.asdict(config)
    # A plain STD run never reads the LSG schedule's fields.
    ignored = recipes.SCHEDULE_FIELDS if previous.get("scheme") == config.scheme == "std" else ()
    for key, value in current.items():
        if key in _FIELDS_ALLOWED_TO_CHANGE_ON_RESUME or key not in previous or key in ignored:
            continue
        if previous[key] != value:
            raise ValueError(
                f"output_dir {run_dir!r} holds a run with {key}={previous[key]!r}, "
                f"now {key}={value!r}: use a new --output_dir or the same settings")


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
