"""LSGModel: a CNN with a label-sensitive gate trained by Algorithm 1 of the paper.

Forward paths (Fig. 3):
  * STD path, ``call(x)``: backbone -> global average pooling -> Dense logits.
    This is the only path at inference and the one that is exported.
  * LSG path (training only): the pooled features are multiplied by the gate row
    ``G[y]`` of each example's label before the classifier. Because the gate is one
    scalar per channel and GAP is linear, ``GAP(F * G[y]) = GAP(F) * G[y]``, so both
    paths share one backbone pass.

One compiled train function per path; :class:`lsg_tf.core.callbacks.TrainingPathSelector`
swaps them at each epoch start. A Python flag read at trace time would freeze one path forever, and
a ``tf.cond`` on a variable breaks optimizer updates under MirroredStrategy.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from lsg_tf.core import gate as gate_lib
from lsg_tf.core import keras_adapter
from lsg_tf.core.callbacks import TrainingPathSelector
from lsg_tf.core.inputs import channel_list, check_first_batch
from lsg_tf.core.schedule import LSG, PATHS, STD, Schedule


@keras.saving.register_keras_serializable(package="lsg_tf")
class LSGModel(keras.Model):
    """A classifier with a label-sensitive gate matrix ``G`` of shape ``[C, K]``.

    Args:
        backbone: a Keras model mapping normalised images ``[B, H, W, C_in]`` to the
            last conv feature map ``[B, h, w, K]``.
        num_classes: C.
        schedule: a :class:`~lsg_tf.core.schedule.Schedule` (scheme, period, phase, warm-up).
        lsg_weight: λ of Eq. 3.
        sparsity_coefficient: ``a`` of Eq. 2 in the paper's raw units (per-entry
            gradient of the sparsity term).
        density_target: target density ``||G||_1/(C*K)``, in [1/C, 1];
            ``s = density_target * C * K``. Default ``min(1, 1.5/C)``: 0.15 for C=10,
            about 1.5 classes per filter (the paper's LSG ResNet20 reached 0.17).
        sparsity_form: "abs" (the paper's ``a|‖G‖₁ - s|``) or "hinge" (``a max(0, ‖G‖₁ - s)``).
        fixed_gate: optional ``[C, K]`` array; the gate is then constant (appendix C).
        input_mean, input_std: per-channel statistics of inputs in [0, 1]; the model
            normalises inside its graph, so callers feed images scaled to [0, 1].
        class_names: optional names, carried with the model for reports and export.
        classifier_weight_decay: weight decay of the classifier kernel, as SGD's
            ``weight_decay`` (gradient ``wd * W``, i.e. an L2 term ``wd/2 * ||W||²``),
            the convention of :func:`lsg_tf.core.backbones.build_backbone`.
        classifier_bias_decay: also decay the classifier bias (weight-decay scope
            ``"all"``: every network variable, never G).
        image_inputs: False when the inputs are feature maps of a frozen network part,
            computed once (:mod:`lsg_tf.training.frozen_cache`): they are then taken as
            they are (no scaling, no normalisation, no pixel-range check).
    """

    def __init__(
        self,
        backbone: keras.Model,
        num_classes: int,
        schedule: Schedule | None = None,
        lsg_weight: float = 1.0,
        sparsity_coefficient: float = 0.01,
        density_target: float | None = None,
        sparsity_form: str = "abs",
        fixed_gate=None,
        input_mean=None,
        input_std=None,
        class_names=None,
        classifier_weight_decay: float = 0.0,
        classifier_bias_decay: bool = False,
        image_inputs: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        feature_shape = backbone.output_shape
        if len(feature_shape) != 4:
            raise ValueError(
                "backbone must output a conv feature map [B, h, w, K], "
                f"got output shape {feature_shape}"
            )
        if lsg_weight < 0:
            raise ValueError(f"lsg_weight (λ) must be >= 0, got {lsg_weight!r}")
        if sparsity_coefficient < 0:
            raise ValueError(f"sparsity_coefficient (a) must be >= 0, got {sparsity_coefficient!r}")
        gate_lib.check_sparsity_form(sparsity_form)
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.num_filters = int(feature_shape[-1])
        self.schedule = schedule or Schedule()
        self.lsg_weight = float(lsg_weight)
        self.sparsity_coefficient = float(sparsity_coefficient)
        if density_target is None:
            density_target = gate_lib.default_density_target(self.num_classes)
        self.density_target = float(density_target)
        self.target_norm = gate_lib.target_norm(density_target, self.num_classes, self.num_filters)
        self.sparsity_form = sparsity_form
        self.class_names = list(class_names) if class_names is not None else None
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} names, num_classes is {self.num_classes}"
            )
        channels = backbone.input_shape[-1]
        self.input_mean = channel_list(input_mean, channels, 0.0, "input_mean")
        self.input_std = channel_list(input_std, channels, 1.0, "input_std")
        if min(self.input_std) <= 0:
            raise ValueError(f"input_std must be > 0 per channel, got {self.input_std}")
        self.classifier_weight_decay = float(classifier_weight_decay)
        self.classifier_bias_decay = bool(classifier_bias_decay)
        self.image_inputs = bool(image_inputs)
        decay = (keras.regularizers.L2(classifier_weight_decay / 2)
                 if classifier_weight_decay else None)

        if fixed_gate is not None:
            fixed_gate = np.asarray(fixed_gate, dtype="float32")
            if fixed_gate.shape != (self.num_classes, self.num_filters):
                raise ValueError(
                    f"fixed_gate has shape {fixed_gate.shape}, expected "
                    f"[num_classes, K] = [{self.num_classes}, {self.num_filters}]"
                )
        self.fixed_gate = fixed_gate
        self.pool = keras.layers.GlobalAveragePooling2D(name="gap")
        self.classifier = keras.layers.Dense(
            self.num_classes,
            name="classifier",
            kernel_regularizer=decay,
            bias_regularizer=decay if classifier_bias_decay else None,
        )
        self.classifier.build((None, self.num_filters))
        constraint = gate_lib.GateConstraint()
        initial = fixed_gate if fixed_gate is not None else np.ones(
            (self.num_classes, self.num_filters), "float32")
        # The constraint is applied by Keras only after updates: project the start value.
        initial = np.asarray(constraint(ops.convert_to_tensor(initial)))
        self.gate = self.add_weight(
            shape=(self.num_classes, self.num_filters),
            initializer=keras.initializers.Constant(initial),
            constraint=constraint,
            trainable=fixed_gate is None and self.schedule.scheme != "std",
            name="gate",
        )
        self.gate_optimizer = None
        self._training_path = STD
        self._train_functions = {}
        self.std_ce_tracker = keras.metrics.Mean(name="std_ce")
        self.density_tracker = keras.metrics.Mean(name="gate_density")
        if self.schedule.scheme != "std":
            self.lsg_ce_tracker = keras.metrics.Mean(name="lsg_ce")
            self.sparsity_tracker = keras.metrics.Mean(name="sparsity")
        self.built = True

    # ----------------------------------------------------------------- forward
    def normalise(self, images):
        """Images ``[B, H, W, C]`` -> per-channel standardised float inputs.

        Float images are taken to be in [0, 1]; integer images (uint8) in 0-255, and are
        scaled by 1/255 first, so uint8 and the equivalent float images give equal logits.
        """
        images = ops.convert_to_tensor(images)
        if not self.image_inputs:
            return ops.cast(images, "float32")
        if "int" in str(images.dtype):
            images = ops.cast(images, "float32") / 255.0
        mean = ops.convert_to_tensor(self.input_mean, dtype=images.dtype)
        std = ops.convert_to_tensor(self.input_std, dtype=images.dtype)
        return (images - mean) / std

    def feature_maps(self, images, training=False):
        """Last conv layer output ``[B, h, w, K]`` for images in [0, 1]."""
        return self.backbone(self.normalise(images), training=training)

    def pooled_features(self, images, training=False):
        """Global-average-pooled last conv features ``a``, ``[B, K]``."""
        return self.pool(self.feature_maps(images, training=training))

    def call(self, images, training=False):
        """The STD path: logits ``[B, C]``."""
        return self.classifier(self.pooled_features(images, training=training))

    def gate_rows(self, labels):
        """``G[y]`` for integer labels ``[B]`` -> ``[B, K]``.

        A one-hot matmul rather than a gather so the gradient w.r.t. G is dense.
        """
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        return ops.matmul(ops.one_hot(labels, self.num_classes, dtype=self.gate.dtype), self.gate)

    def gated_logits(self, pooled, labels):
        """The LSG path on pooled features: ``W (a * G[y]) + b``, ``[B, C]``."""
        return self.classifier(pooled * self.gate_rows(labels))

    def sparsity_penalty(self):
        """The sparsity penalty of Eq. 2, ``a |‖G‖₁ - s|`` (or its hinge form), unscaled."""
        return gate_lib.sparsity_penalty(
            self.gate, self.sparsity_coefficient, self.target_norm, self.sparsity_form)

    # ---------------------------------------------------------------- training
    def compile(self, optimizer="sgd", loss=None, metrics=None, gate_optimizer=None, **kwargs):
        """Like ``keras.Model.compile``, with LSG defaults and an optional gate optimizer.

        Args:
            loss: defaults to sparse categorical cross-entropy on logits.
            metrics: defaults to ``["accuracy"]`` (sparse categorical accuracy).
            gate_optimizer: optional separate optimizer for G (the authors used a
                larger learning rate for the gated path). ``None``: G is updated by
                ``optimizer`` together with the network.
        """
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics is None:
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self.gate_optimizer = keras.optimizers.get(gate_optimizer) if gate_optimizer else None
        self._train_functions = {}

    def build_optimizers(self):
        """Creates optimizer slots for every variable, in the distribution scope.

        The STD path updates a subset of the variables; building with the full list
        first keeps one set of slots valid for every path, and makes checkpoints of the
        optimizer state loadable before the first step.
        """
        if self.optimizer is None:
            raise ValueError("LSGModel must be compiled before training or restoring a checkpoint")
        with self.distribute_strategy.scope():
            if not self.optimizer.built:
                self.optimizer.build(self.network_variables + self.gate_variables)
            if self.gate_optimizer is not None and not self.gate_optimizer.built:
                self.gate_optimizer.build(self.gate_variables)

    @property
    def network_variables(self):
        """θ: every trainable variable except the gate."""
        return [v for v in self.trainable_variables if v is not self.gate]

    @property
    def gate_variables(self):
        return [self.gate] if self.gate.trainable else []

    def set_training_path(self, path: str):
        """Selects the compiled train function of ``path`` ("std", "lsg" or "joint").

        Each function is traced lazily on its first call, and is only ever called
        while ``self._training_path`` equals its path, so tracing reads the right path.
        """
        if path not in PATHS:
            raise ValueError(f"training path must be one of {PATHS}, got {path!r}")
        if path != STD and self.schedule.scheme == "std":
            raise ValueError(f"training path {path!r} needs a gate, but this model's scheme is "
                             "'std' (it has no trained gate); only 'std' is allowed")
        self._training_path = path
        function = self._train_functions.get(path)
        if function is None:
            self.make_train_function(force=True)
            function = self._train_functions[path] = self.train_function
        self.train_function = function

    @property
    def training_path(self) -> str:
        return self._training_path

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        """``keras.Model.fit`` with the path schedule callback added if absent.

        The first batch is checked before training: float images must be in [0, 1]
        (0-255 floats would train to chance), labels integers in ``[0, C)``.
        """
        if self.image_inputs:
            check_first_batch(x, y, self.num_classes)
        callbacks = list(callbacks or [])
        if not any(isinstance(c, TrainingPathSelector) for c in callbacks):
            callbacks.insert(0, TrainingPathSelector())
        self.build_optimizers()
        return super().fit(x, y, *args, callbacks=callbacks, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under MultiWorkerMirroredStrategy, build from one replica's batch (keras_adapter).
        if iterator is not None and keras_adapter.is_multi_worker(self.distribute_strategy):
            batch = keras_adapter.first_replica_batch(self.distribute_strategy, iterator)
            data_batch = data_batch if batch is None else batch
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        """One step of Algorithm 1 on the path selected for this epoch.

        Costs (λ = ``lsg_weight``, R = weight regularisation losses):
          * std:   ``CE(y, ŷ) + R``, updates θ.
          * lsg:   ``λ (CE(y, ŷ_G) + sparsity) + R``, updates θ and G.
          * joint: ``CE(y, ŷ) + λ (CE(y, ŷ_G) + sparsity) + R``, updates θ and G.
        G is never handed to an optimizer on the STD path, so momentum cannot move it.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        path = self._training_path
        use_gate = self.schedule.scheme != "std"
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            pooled = self.pooled_features(x, training=True)
            logits = self.classifier(pooled)
            std_ce = keras_adapter.compiled_loss(self, y, logits, sample_weight)
            regularization = keras_adapter.regularization_losses(self)
            if use_gate:
                lsg_ce = keras_adapter.compiled_loss(self, y, self.gated_logits(pooled, y),
                                                     sample_weight)
                sparsity = self.sparsity_penalty()
                # The loss object scales CE by 1/replicas; do the same for our own term.
                gated_cost = self.lsg_weight * (lsg_ce + sparsity / replicas)
            if path == STD:
                terms = [std_ce]
            elif path == LSG:
                terms = [gated_cost]
            else:
                terms = [std_ce, gated_cost]
            terms += regularization
            loss = terms[0] if len(terms) == 1 else ops.sum(terms)
            keras_adapter.loss_tracker(self).update_state(
                _unscale(loss, replicas), sample_weight=ops.shape(logits)[0])
            scaled_loss = self.optimizer.scale_loss(loss)

        network = self.network_variables
        gate_vars = self.gate_variables if path != STD else []
        gradients = tape.gradient(scaled_loss, network + gate_vars)
        if gate_vars and self.gate_optimizer is not None:
            self.optimizer.apply_gradients(zip(gradients[:len(network)], network))
            self.gate_optimizer.apply_gradients(zip(gradients[len(network):], gate_vars))
        else:
            self.optimizer.apply_gradients(zip(gradients, network + gate_vars))

        self.std_ce_tracker.update_state(_unscale(std_ce, replicas),
                                         sample_weight=ops.shape(logits)[0])
        self.density_tracker.update_state(gate_lib.density(self.gate))
        if use_gate:
            self.lsg_ce_tracker.update_state(_unscale(lsg_ce, replicas),
                                             sample_weight=ops.shape(logits)[0])
            self.sparsity_tracker.update_state(sparsity)
        return keras_adapter.reducible(
            self.distribute_strategy,
            self.compute_metrics(x, y, logits, sample_weight=sample_weight))

    def test_step(self, data):
        """Evaluates the STD path: loss, CE and the compiled metrics."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits = self(x, training=False)
        loss = keras_adapter.total_loss(self, x, y, logits, sample_weight)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        loss_tracker = keras_adapter.loss_tracker(self)
        metrics = keras_adapter.compiled_metrics(self)
        loss_tracker.update_state(_unscale(loss, replicas), sample_weight=ops.shape(logits)[0])
        self.std_ce_tracker.update_state(
            _unscale(keras_adapter.compiled_loss(self, y, logits, sample_weight), replicas),
            sample_weight=ops.shape(logits)[0])
        metrics.update_state(y, logits, sample_weight)
        results = {}
        for metric in (loss_tracker, self.std_ce_tracker, metrics):
            value = metric.result()
            results.update(value if isinstance(value, dict) else {metric.name: value})
        return keras_adapter.reducible(self.distribute_strategy, results)

    # ----------------------------------------------------------- serialisation
    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and self.gate_optimizer is not None:
            config["gate_optimizer"] = keras.saving.serialize_keras_object(self.gate_optimizer)
        return config

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.build_optimizers()

    def get_config(self):
        return {
            "name": self.name,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "schedule": {
                "scheme": self.schedule.scheme,
                "period": self.schedule.period,
                "phase": self.schedule.phase,
                "warmup_epochs": self.schedule.warmup_epochs,
                "unit": self.schedule.unit,
            },
            "lsg_weight": self.lsg_weight,
            "sparsity_coefficient": self.sparsity_coefficient,
            "density_target": self.density_target,
            "sparsity_form": self.sparsity_form,
            "fixed_gate": None if self.fixed_gate is None else self.fixed_gate.tolist(),
            "input_mean": self.input_mean,
            "input_std": self.input_std,
            "class_names": self.class_names,
            "classifier_weight_decay": self.classifier_weight_decay,
            "classifier_bias_decay": self.classifier_bias_decay,
            "image_inputs": self.image_inputs,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["schedule"] = Schedule(**config["schedule"])
        return cls(**config)

    def build(self, input_shape=None):
        # Every weight is created in __init__ (K is known from the backbone).
        self.built = True


def _unscale(value, replicas):
    return value * replicas if replicas > 1 else value


