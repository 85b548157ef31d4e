"""Tests for lsg_tf.serving.export_lib: the TF Serving export of the STD path.

The served graph is checked the way TF Serving loads it: ``capi_runner.py`` runs the
SavedModel through TensorFlow's C API (``TF_LoadSessionFromSavedModel``) in a process
that never imports tensorflow's Python package.
"""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, tiny_backbone
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.config import model_server_config_pb2

from lsg_tf import data
from lsg_tf.core.backbones import build_backbone
from lsg_tf.core.model import LSGModel
from lsg_tf.serving import export_lib

RUNNER = os.path.join(ROOT, "tools", "capi_runner.py")
CLASS_NAMES = ["cat", "dog", "frog"]
SIGNATURES = ("serving_default", "explain")
SERVING_OUTPUTS = ("classes", "probabilities")
EXPLAIN_OUTPUTS = ("cam", "class_filters", "classes", "filter_activations", "probabilities")


# ------------------------------------------------------------------- helpers
def _randomise(model, seed):
    """Gives the model a non-trivial gate (column max 1) and classifier bias."""
    rng = np.random.default_rng(seed)
    gate = rng.random(model.gate.shape).astype(np.float32)
    model.gate.assign(gate / gate.max(axis=0, keepdims=True))
    model.classifier.bias.assign(rng.normal(0, 0.5, model.num_classes).astype(np.float32))
    return model


def _images(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _signature_defs(saved_model_dir):
    """``{signature: {"inputs"|"outputs": {key: TensorInfo}}}`` read from saved_model.pb."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    (meta_graph,) = saved_model.meta_graphs
    return {name: {"inputs": dict(s.inputs), "outputs": dict(s.outputs)}
            for name, s in meta_graph.signature_def.items()}


def _reference(model, images):
    """What both signatures must return, from the Keras model itself (eager), on images
    resized as the image-folder training pipeline resizes them."""
    height, width = images.shape[1:3]
    model_size = tuple(model.backbone.input_shape[1:3])
    if (height, width) != model_size:
        images = data.resize_images(tf.constant(images), model_size).numpy()
    pixels = tf.constant(images, tf.float32) / 255.0
    logits = model(pixels)
    classes = np.argmax(logits.numpy(), axis=-1)
    kernel = model.classifier.kernel.numpy()  # [K, C]
    cam = np.einsum("bhwk,kb->bhw", model.feature_maps(pixels).numpy(), kernel[:, classes])
    cam = tf.image.resize(cam[..., None], (height, width), method="bilinear")[..., 0]
    return {
        "probabilities": tf.nn.softmax(logits, axis=-1).numpy(),
        "classes": classes.astype(np.int64),
        "filter_activations": model.pooled_features(pixels).numpy(),
        "class_filters": model.gate.numpy()[classes],
        "cam": cam.numpy(),
    }


def _assert_outputs_equal(outputs, expected, names, label):
    assert sorted(outputs) == sorted(names), label
    for name in names:
        got = np.asarray(outputs[name])
        assert got.dtype == (np.int64 if name == "classes" else np.float32), (label, name)
        assert got.shape == expected[name].shape, (label, name)
        np.testing.assert_allclose(got, expected[name], rtol=1e-5, atol=1e-5,
                                   err_msg=f"{label}: {name}")


def _clean_env():
    return {"PATH": os.environ.get("PATH", os.defpath), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run_capi(saved_model_dir, images, folder, signatures=SIGNATURES):
    """Runs ``signatures`` on ``images`` through capi_runner.py in one C API session.

    Returns:
        ``(completed_process, {signature: {output: array}})`` (empty dict on failure).
    """
    defs = _signature_defs(saved_model_dir)
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "images.npy"), images)
    spec = {"inputs": {}, "outputs": {}}
    for signature in signatures:
        spec["inputs"][defs[signature]["inputs"]["images"].name] = "images.npy"
        for key, info in defs[signature]["outputs"].items():
            spec["outputs"][f"{signature}.{key}"] = info.name
    spec_path, out_path = os.path.join(folder, "spec.json"), os.path.join(folder, "out.npz")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    process = subprocess.run([sys.executable, RUNNER, saved_model_dir, spec_path, out_path],
                             capture_output=True, text=True, env=_clean_env(), timeout=300)
    results = {}
    if process.returncode == 0:
        with np.load(out_path) as data:
            for key in data.files:
                signature, name = key.split(".", 1)
                results.setdefault(signature, {})[name] = data[key]
    return process, results


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    model = LSGModel(tiny_backbone((8, 8, 1), 6, seed=1), 3, input_mean=[0.5],
                     input_std=[0.2], class_names=CLASS_NAMES)
    return _randomise(model, seed=1)


@pytest.fixture(scope="module")
def resnet_model():
    keras.utils.set_random_seed(0)
    backbone = build_backbone("resnet20", (32, 32, 3), seed=0)
    rng = np.random.default_rng(2)
    for layer in backbone.layers:  # inference statistics differ from batch statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.2, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    model = LSGModel(backbone, 10, input_mean=[0.49, 0.48, 0.45], input_std=[0.25, 0.24, 0.26])
    return _randomise(model, seed=2)


@pytest.fixture(scope="module")
def models(tiny_model, resnet_model):
    return {"tiny": tiny_model, "resnet20": resnet_model}


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("exported"))
    return {name: export_lib.export_saved_model(model, base, name)
            for name, model in models.items()}


@pytest.fixture(scope="module")
def loaded_tiny(exports):
    return tf.saved_model.load(exports["tiny"])


# ------------------------------------------------------------- C API (TF Serving's loader)
@pytest.mark.parametrize("name, size", [("tiny", (8, 8)), ("tiny", (12, 10)),
                                        ("resnet20", (32, 32))])
def test_capi_signatures_match_keras_model(name, size, models, exports, tmp_path):
    model = models[name]
    images = _images((3, *size, model.backbone.input_shape[-1]), seed=3)
    process, results = _run_capi(exports[name], images, str(tmp_path))
    assert process.returncode == 0, process.stderr
    expected = _reference(model, images)
    assert results["explain"]["cam"].shape == (3, *size)
    _assert_outputs_equal(results["serving_default"], expected, SERVING_OUTPUTS,
                          f"{name} {size} serving_default")
    _assert_outputs_equal(results["explain"], expected, EXPLAIN_OUTPUTS,
                          f"{name} {size} explain")


def test_capi_run_fails_for_tf_saved_model_save_export(tiny_model, tmp_path):
    # Negative control (TECH_NOTES): this export loads in TF2 Python but not in TF Serving.
    class Wrapper(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.uint8,
                                                    name="images")])
        def serve(self, images):
            logits = self.model(tf.cast(images, tf.float32) / 255.0)
            return {"probabilities": tf.nn.softmax(logits, axis=-1),
                    "classes": tf.argmax(logits, axis=-1)}

    wrapper = Wrapper(tiny_model)
    path = str(tmp_path / "saved_model_save")
    tf.saved_model.save(wrapper, path, signatures={"serving_default": wrapper.serve})
    images = _images((2, 8, 8, 1), seed=4)
    in_python = tf.saved_model.load(path).signatures["serving_default"](images=images)
    np.testing.assert_allclose(in_python["probabilities"],
                               _reference(tiny_model, images)["probabilities"], atol=1e-5)

    process, _ = _run_capi(path, images, str(tmp_path / "run"),
                           signatures=("serving_default",))
    assert process.returncode == 1, process.stdout
    assert "TF_SessionRun failed" in process.stderr
    assert "Could not find variable" in process.stderr


def test_capi_rejects_wrong_channel_count(exports, tmp_path):
    process, _ = _run_capi(exports["tiny"], _images((2, 8, 8, 3)), str(tmp_path),
                           signatures=("serving_default",))
    assert process.returncode == 1
    assert re.search(r"TF_SessionRun failed \(TF code 3\): Shape of tensor \S+ \[2,8,8,3\] "
                     r"is not compatible with expected shape \[\?,\?,\?,1\]", process.stderr)


def test_capi_runner_docstring_spec_runs_on_our_export(exports, models, tmp_path):
    with open(RUNNER) as f:
        source = f.read()
    example = re.search(r"::\n\n(    \{.*?\})\n", source, re.DOTALL).group(1)
    spec = json.loads(example)
    images = _images((2, 8, 8, 1), seed=3)
    np.save(tmp_path / "x.npy", images)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    process = subprocess.run([sys.executable, RUNNER, exports["tiny"], str(tmp_path / "spec.json"),
                              str(tmp_path / "out.npz")], capture_output=True, text=True,
                             env=_clean_env(), timeout=300)
    assert process.returncode == 0, process.stderr
    expected = _reference(models["tiny"], images)
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["probabilities"], expected["probabilities"], atol=1e-5)
        np.testing.assert_array_equal(out["classes"], expected["classes"])


def test_capi_runner_keeps_a_scalar_input_scalar(tmp_path):
    class Scalar(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="x")])
        def rank(self, x):
            return {"rank": tf.rank(x), "twice": 2.0 * x}

    module = Scalar()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.rank})
    defs = _signature_defs(str(tmp_path / "sm"))["serving_default"]
    np.save(tmp_path / "x.npy", np.float32(1.5))
    spec = {"inputs": {defs["inputs"]["x"].name: "x.npy"},
            "outputs": {k: v.name for k, v in defs["outputs"].items()}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    process = subprocess.run([sys.executable, RUNNER, str(tmp_path / "sm"),
                              str(tmp_path / "spec.json"), str(tmp_path / "out.npz")],
                             capture_output=True, text=True, env=_clean_env(), timeout=300)
    assert process.returncode == 0, process.stderr
    with np.load(tmp_path / "out.npz") as out:
        assert int(out["rank"]) == 0
        assert out["twice"].shape == () and float(out["twice"]) == 3.0


def test_capi_runner_never_imports_tensorflow():
    with open(RUNNER) as f:
        source = f.read()
    assert not re.search(r"^\s*(import|from)\s+tensorflow", source, re.MULTILINE)
    assert '"tensorflow" in sys.modules' in source


# ------------------------------------------------------------- signatures
def test_saved_model_cli_show_lists_both_signatures(exports):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    process = subprocess.run([cli, "show", "--all", "--dir", exports["tiny"]],
                             capture_output=True, text=True, env=_clean_env(), timeout=300)
    assert process.returncode == 0, process.stderr
    signatures = {}
    blocks = re.split(r"^signature_def\['([^']+)'\]:$", process.stdout, flags=re.MULTILINE)
    for name, block in zip(blocks[1::2], blocks[2::2]):
        tensors = re.findall(r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+"
                             r"shape: (\([^)]*\))", block)
        signatures[name] = {(kind, key): (dtype, shape) for kind, key, dtype, shape in tensors}
        if not name.startswith("__"):
            assert "Method name is: tensorflow/serving/predict" in block
    # TF adds its own "__saved_model_init_op" entry to every SavedModel.
    assert sorted(n for n in signatures if not n.startswith("__")) == ["explain",
                                                                       "serving_default"]
    images = {("inputs", "images"): ("DT_UINT8", "(-1, -1, -1, 1)")}
    serving = {("outputs", "probabilities"): ("DT_FLOAT", "(-1, 3)"),
               ("outputs", "classes"): ("DT_INT64", "(-1)")}
    assert signatures["serving_default"] == {**images, **serving}
    assert signatures["explain"] == {
        **images, **serving,
        ("outputs", "cam"): ("DT_FLOAT", "(-1, -1, -1)"),
        ("outputs", "class_filters"): ("DT_FLOAT", "(-1, 6)"),
        ("outputs", "filter_activations"): ("DT_FLOAT", "(-1, 6)"),
    }


def test_signature_defs_name_input_images_uint8(exports):
    defs = _signature_defs(exports["resnet20"])
    for signature in SIGNATURES:
        (key, info), = defs[signature]["inputs"].items()
        assert key == "images" and info.dtype == types_pb2.DT_UINT8
        assert [d.size for d in info.tensor_shape.dim] == [-1, -1, -1, 3]
    assert sorted(defs["explain"]["outputs"]) == sorted(EXPLAIN_OUTPUTS)


@pytest.mark.parametrize("size", [(12, 10), (5, 7), (40, 36)])
def test_signatures_resize_other_image_sizes(size, tiny_model, loaded_tiny):
    images = _images((2, *size, 1), seed=5)
    expected = _reference(tiny_model, images)
    serving = loaded_tiny.signatures["serving_default"](images=tf.constant(images))
    explain = loaded_tiny.signatures["explain"](images=tf.constant(images))
    _assert_outputs_equal({k: v.numpy() for k, v in serving.items()}, expected,
                          SERVING_OUTPUTS, "serving_default")
    _assert_outputs_equal({k: v.numpy() for k, v in explain.items()}, expected,
                          EXPLAIN_OUTPUTS, "explain")
    assert explain["cam"].shape == (2, *size)


@pytest.mark.parametrize("signature", SIGNATURES)
@pytest.mark.parametrize("images, message", [
    (tf.zeros((1, 8, 8, 1), tf.float32),
     r"expected to be a uint8 tensor but is a float tensor"),
    (tf.zeros((8, 8, 1), tf.uint8),
     r"Shape of tensor images \[8,8,1\] is not compatible with expected shape \[\?,\?,\?,1\]"),
    (tf.zeros((1, 8, 8, 3), tf.uint8),
     r"Shape of tensor images \[1,8,8,3\] is not compatible with expected shape \[\?,\?,\?,1\]"),
], ids=["float32", "rank3", "three_channels"])
def test_signature_call_rejects_bad_images(signature, images, message, loaded_tiny):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded_tiny.signatures[signature](images=images)


# ------------------------------------------------------------- strip_gate
@pytest.mark.parametrize("name", ["tiny", "resnet20"])
def test_strip_gate_matches_model_logits(name, models):
    model = models[name]
    pixels = _images((2, *model.backbone.input_shape[1:]), seed=6).astype(np.float32) / 255
    outputs = export_lib.strip_gate(model)(pixels)
    np.testing.assert_allclose(outputs["logits"], model(pixels), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outputs["feature_maps"], model.feature_maps(pixels),
                               rtol=1e-5, atol=1e-5)


def test_strip_gate_keras_file_loads_without_lsg_tf_classes(tiny_model, tmp_path, monkeypatch):
    pixels = _images((2, 8, 8, 1), seed=7).astype(np.float32) / 255
    std_path = export_lib.strip_gate(tiny_model)
    std_path.save(tmp_path / "std.keras")
    tiny_model.save(tmp_path / "lsg.keras")
    registry = keras.saving.get_custom_objects()
    for key in [k for k in registry if k.startswith("lsg_tf>")]:
        monkeypatch.delitem(registry, key)

    reloaded = keras.models.load_model(tmp_path / "std.keras")
    np.testing.assert_allclose(reloaded(pixels)["logits"], tiny_model(pixels), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(TypeError, match="LSGModel"):  # control: the registry is really empty
        keras.models.load_model(tmp_path / "lsg.keras")


# ------------------------------------------------------------- layout
def test_export_writes_tf_serving_layout(exports):
    path = exports["tiny"]
    base = os.path.dirname(os.path.dirname(path))
    assert path == os.path.join(base, "tiny", "1")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isfile(os.path.join(path, "variables", "variables.index"))
    with open(os.path.join(path, export_lib.CLASS_NAMES_FILE)) as f:
        assert f.read().splitlines() == CLASS_NAMES
    with open(os.path.join(path, "README.md")) as f:
        assert "- 2: frog" in f.read()
    with open(os.path.join(exports["resnet20"], export_lib.CLASS_NAMES_FILE)) as f:
        assert f.read().splitlines() == [f"class_{i}" for i in range(10)]


def test_export_version_folder_honours_umask(exports, tmp_path):
    reference = tmp_path / "plain"
    os.mkdir(reference)
    assert os.stat(exports["tiny"]).st_mode & 0o777 == os.stat(reference).st_mode & 0o777


def test_export_version_auto_increments(tiny_model, tmp_path):
    first = export_lib.export_saved_model(tiny_model, str(tmp_path), "m")
    second = export_lib.export_saved_model(tiny_model, str(tmp_path), "m")
    assert (first, second) == (str(tmp_path / "m" / "1"), str(tmp_path / "m" / "2"))
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2"]
    third = export_lib.export_saved_model(tiny_model, str(tmp_path), "m", version=7)
    assert third == str(tmp_path / "m" / "7")


def test_export_existing_version_raises(tiny_model, tmp_path):
    export_lib.export_saved_model(tiny_model, str(tmp_path), "m", version=3)
    with pytest.raises(ValueError, match=r"m/3 already exists"):
        export_lib.export_saved_model(tiny_model, str(tmp_path), "m", version=3)
    assert os.listdir(tmp_path / "m") == ["3"]


@pytest.mark.parametrize("version", [0, -1, 1.5, "2"])
def test_export_bad_version_raises(version, tiny_model, tmp_path):
    with pytest.raises(ValueError, match="version must be a positive integer"):
        export_lib.export_saved_model(tiny_model, str(tmp_path), "m", version=version)


@pytest.mark.parametrize("name", ["", None, "../up", "a/b", "has space", ".hidden", "-x"])
def test_export_bad_model_name_raises(name, tiny_model, tmp_path):
    export_dir = tmp_path / "exported"
    with pytest.raises(ValueError, match="model_name must match"):
        export_lib.export_saved_model(tiny_model, str(export_dir), name)
    assert os.listdir(tmp_path) == []  # nothing created, not even outside export_dir


def test_export_class_names_count_mismatch_raises(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="class_names has 2 names, the model has 3 classes"):
        export_lib.export_saved_model(tiny_model, str(tmp_path), "m", class_names=["a", "b"])


def test_models_config_lists_each_model_once(tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("tiny", "tiny", "other"):
        export_lib.export_saved_model(tiny_model, "exported", name)
    os.makedirs(os.path.join("exported", "no_versions", "notes"))
    config_path = export_lib.write_models_config("exported")
    with open(config_path) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    entries = [(c.name, c.base_path, c.model_platform)
               for c in config.model_config_list.config]
    root = os.path.realpath(tmp_path / "exported")
    assert [(n, os.path.realpath(p), pl) for n, p, pl in entries] == [
        ("other", os.path.join(root, "other"), "tensorflow"),
        ("tiny", os.path.join(root, "tiny"), "tensorflow")]
    assert all(os.path.isabs(p) for _, p, _ in entries)


def test_export_failure_leaves_no_partial_version(tiny_model, tmp_path, monkeypatch):
    export_lib.export_saved_model(tiny_model, str(tmp_path), "m")
    with open(tmp_path / export_lib.MODELS_CONFIG) as f:
        config_before = f.read()
    # ExportArchive() returns a backend class that does not inherit ExportArchive's methods.
    archive_class = type(keras.export.ExportArchive())
    write_out = archive_class.write_out

    def write_then_fail(self, filepath, *args, **kwargs):
        write_out(self, filepath, *args, **kwargs)
        assert os.listdir(filepath)  # the temporary folder is not empty when it fails
        raise OSError("disk full")

    monkeypatch.setattr(archive_class, "write_out", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_lib.export_saved_model(tiny_model, str(tmp_path), "m")
    assert os.listdir(tmp_path / "m") == ["1"]
    assert sorted(os.listdir(tmp_path)) == ["m", export_lib.MODELS_CONFIG]
    with open(tmp_path / export_lib.MODELS_CONFIG) as f:
        assert f.read() == config_before
