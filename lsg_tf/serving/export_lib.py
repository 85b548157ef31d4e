"""Export the STD path of an LSGModel as a SavedModel for TF Serving.

The gate is a training-time device: the served graph is the STD path only (paper
Fig. 3, "When testing, we just run the STD path"). The ``explain`` signature also
returns the gate row of the predicted class as data, so clients can see which
filters the model was trained to use for it.

Layout written (TF Serving's): ``<export_dir>/<model_name>/<version>/saved_model.pb``
plus ``variables/``, ``class_names.txt`` and ``README.md``; ``<export_dir>/models.config``
lists every exported model. Versions are written to a hidden temporary folder and
renamed into place, so TF Serving never sees a half-written version.

Uses ``keras.export.ExportArchive``: ``tf.saved_model.save`` of a Keras 3 model loads
in Python but fails in the C++ loader TF Serving uses.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid

import keras
import numpy as np
import tensorflow as tf

from lsg_tf import data

# The serving contract (names, dtypes, shapes), shared with the client; re-exported here.
from lsg_tf.serving.signature import (
    CAM,
    CLASS_FILTERS,
    CLASS_NAMES_FILE,
    CLASSES,
    EXPLAIN_SIGNATURE,
    FILTER_ACTIVATIONS,
    INPUT_DTYPE,
    INPUT_NAME,
    OUTPUT_DTYPES,
    OUTPUTS,
    PROBABILITIES,
    SERVING_SIGNATURE,
    input_shape,
)

MODELS_CONFIG = "models.config"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def strip_gate(model) -> keras.Model:
    """The STD path of ``model`` as a plain functional Keras model.

    Args:
        model: an :class:`~lsg_tf.core.model.LSGModel`.

    Returns:
        A model mapping images in [0, 1] ``[B, H, W, C]`` to
        ``{"feature_maps": [B, h, w, K], "logits": [B, num_classes]}``; it shares the
        trained layers (no copy) and needs no lsg_tf class to run.
    """
    inputs = keras.Input(model.backbone.input_shape[1:], name=INPUT_NAME)
    normalised = keras.layers.Normalization(
        mean=model.input_mean, variance=np.square(model.input_std), name="normalise")(inputs)
    feature_maps = model.backbone(normalised)
    logits = model.classifier(model.pool(feature_maps))
    return keras.Model(inputs, {"feature_maps": feature_maps, "logits": logits},
                       name="std_path")


def export_saved_model(model, export_dir: str, model_name: str, version: int | None = None,
                       class_names=None) -> str:
    """Writes ``model``'s STD path as version ``version`` of ``model_name``.

    Signatures (the contract of :mod:`lsg_tf.serving.signature`; inputs uint8
    ``images [batch, height, width, channels]`` of any height/width, resized in the graph to
    the model's input size exactly as image-folder training data is,
    :func:`lsg_tf.data.resize_images`):
      * ``serving_default``: ``probabilities`` float32 ``[batch, classes]``,
        ``classes`` int64 ``[batch]``.
      * ``explain``: the same plus ``cam`` float32 ``[batch, height, width]`` (class
        activation map ``sum_k W[c, k] F_k`` of the predicted class c, bilinearly
        upsampled to the sent image size), ``class_filters`` float32 ``[batch, K]``
        (gate row ``G[c]``) and ``filter_activations`` float32 ``[batch, K]``
        (pooled last conv features).

    Args:
        model: a trained :class:`~lsg_tf.core.model.LSGModel`.
        export_dir: the TF Serving base folder (e.g. ``exported``).
        model_name: letters, digits, ``_ . -``.
        version: positive integer; default: one more than the largest existing.
        class_names: defaults to ``model.class_names`` or ``class_0 …``.

    Returns:
        The version folder written.

    Raises:
        ValueError: bad name or version, or the version already exists.
        lsg_tf.run_io.RunIOError: ``export_dir`` is not a writable folder.
    """
    from lsg_tf import run_io

    if not _MODEL_NAME.match(model_name or ""):
        raise ValueError(f"model_name must match {_MODEL_NAME.pattern} (letters, digits, _ . -), "
                         f"got {model_name!r}")
    run_io.check_writable_folder(export_dir, "export_dir")
    base = os.path.join(export_dir, model_name)
    os.makedirs(base, exist_ok=True)
    _remove_stale_temporaries(base)
    existing = [int(d) for d in os.listdir(base) if d.isdigit()]
    if version is None:
        version = max(existing, default=0) + 1
    if int(version) != version or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    target = os.path.join(base, str(version))
    if os.path.exists(target):
        raise ValueError(f"{target} already exists: pick another --version or remove it")
    names = list(class_names or model.class_names or
                 [f"class_{i}" for i in range(model.num_classes)])
    if len(names) != model.num_classes:
        raise ValueError(f"class_names has {len(names)} names, the model has "
                         f"{model.num_classes} classes")

    archive = build_archive(model)
    # Not tempfile.mkdtemp: its folder is mode 0700, unreadable by a server running as
    # another user once renamed; os.mkdir honours the umask.
    tmp = os.path.join(base, f".tmp-{version}-{uuid.uuid4().hex}")
    os.mkdir(tmp)
    try:
        archive.write_out(tmp, verbose=False)
        with open(os.path.join(tmp, CLASS_NAMES_FILE), "w") as f:
            f.write("\n".join(names) + "\n")
        with open(os.path.join(tmp, "README.md"), "w") as f:
            f.write(_version_readme(model, model_name, version, names))
        os.rename(tmp, target)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    write_models_config(export_dir)
    return target


STALE_SECONDS = 600
"""A ``.tmp-*`` folder older than this is left over from a killed export."""


def _remove_stale_temporaries(base: str) -> None:
    now = time.time()
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name.startswith(".tmp-") and now - os.path.getmtime(path) > STALE_SECONDS:
            shutil.rmtree(path, ignore_errors=True)


def build_archive(model) -> keras.export.ExportArchive:
    """The ExportArchive with the two signatures of :func:`export_saved_model`."""
    std_path = strip_gate(model)
    height, width, channels = model.backbone.input_shape[1:]
    kernel = model.classifier.kernel  # [K, C]
    gate = tf.constant(np.asarray(model.gate.numpy(), np.float32))  # [C, K]
    spec = tf.TensorSpec(input_shape(channels), tf.as_dtype(INPUT_DTYPE), name=INPUT_NAME)

    def run(images):
        # Signature calls do not enforce the TensorSpec's shape: without this check a
        # wrong channel count runs silently (Conv2D turns it into a grouped convolution).
        images = tf.ensure_shape(images, input_shape(channels))
        size = tf.shape(images)[1:3]
        images = tf.cond(
            tf.reduce_all(size == [height, width]), lambda: images,
            lambda: data.resize_images(images, [height, width]))
        pixels = tf.cast(images, tf.float32) / 255.0
        outputs = std_path(pixels, training=False)
        probabilities = tf.nn.softmax(outputs["logits"], axis=-1)
        classes = tf.argmax(outputs["logits"], axis=-1,
                            output_type=tf.as_dtype(OUTPUT_DTYPES[CLASSES]))
        return outputs["feature_maps"], probabilities, classes, size

    def serve(images):
        _, probabilities, classes, _ = run(images)
        return _typed(SERVING_SIGNATURE, {PROBABILITIES: probabilities, CLASSES: classes})

    def explain(images):
        feature_maps, probabilities, classes, size = run(images)
        class_weights = tf.gather(tf.transpose(kernel), classes)  # [B, K]
        cam = tf.einsum("bhwk,bk->bhw", feature_maps, class_weights)
        cam = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]
        return _typed(EXPLAIN_SIGNATURE, {
            PROBABILITIES: probabilities,
            CLASSES: classes,
            CAM: cam,
            CLASS_FILTERS: tf.gather(gate, classes),
            FILTER_ACTIVATIONS: tf.reduce_mean(feature_maps, axis=[1, 2]),
        })

    archive = keras.export.ExportArchive()
    archive.track(std_path)
    archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[spec])
    archive.add_endpoint(EXPLAIN_SIGNATURE, explain, input_signature=[spec])
    return archive


def _typed(signature: str, outputs: dict) -> dict:
    """``outputs`` in the contract's order and dtypes (a no-op cast when already right)."""
    if set(outputs) != set(OUTPUTS[signature]):
        raise ValueError(f"signature {signature!r} returns {sorted(outputs)}, the contract "
                         f"says {sorted(OUTPUTS[signature])}")
    return {name: tf.cast(outputs[name], OUTPUT_DTYPES[name]) for name in OUTPUTS[signature]}


def write_models_config(export_dir: str) -> str:
    """Writes ``<export_dir>/models.config`` (TF Serving ModelServerConfig, text format).

    Lists every model folder holding at least one integer version; base paths are
    absolute (TF Serving needs them), so with Docker mount ``export_dir`` at the same
    absolute path.
    """
    from lsg_tf import run_io

    export_dir = os.path.abspath(export_dir)
    entries = []
    for name in sorted(os.listdir(export_dir)):
        path = os.path.join(export_dir, name)
        if os.path.isdir(path) and any(d.isdigit() for d in os.listdir(path)):
            entries.append(
                "  config {\n"
                f'    name: "{name}"\n'
                f'    base_path: "{path}"\n'
                '    model_platform: "tensorflow"\n'
                "    model_version_policy { all {} }\n"
                "  }\n")
    text = "model_config_list {\n" + "".join(entries) + "}\n"
    config_path = os.path.join(export_dir, MODELS_CONFIG)
    run_io.write_text(config_path, text)
    return config_path


def _version_readme(model, model_name, version, names) -> str:
    height, width, channels = model.backbone.input_shape[1:]
    return (
        f"# {model_name} version {version}\n\n"
        "STD path of an LSG-trained CNN (lsg_tf). The gate is not part of the served graph.\n\n"
        f"Input `{INPUT_NAME}`: {INPUT_DTYPE} [batch, height, width, {channels}], raw pixels "
        f"0-255; any height/width is resized to {height}x{width} in the graph (bilinear with "
        "antialiasing, rounded to uint8, as the training images were).\n\n"
        "Signatures: "
        + "; ".join(f"`{name}` -> {', '.join(outputs)}" for name, outputs in OUTPUTS.items())
        + ".\n\n"
        f"Classes ({len(names)}, index: name), also in {CLASS_NAMES_FILE}:\n\n"
        + "".join(f"- {i}: {n}\n" for i, n in enumerate(names)))
