"""lsg_tf.serving.client and its CLI tools/serve_client.py against test peers that stand in for
TF Serving (tests/serving/serving_peers.py).

The peers load the real exported SavedModel; expected values come from the same
SavedModel run in-process.
"""

import io
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_backbone
from PIL import Image
from serving_peers import FixedAnswers, GrpcPeer, RestPeer, SavedModels

from lsg_tf.core.model import LSGModel
from lsg_tf.serving import client as serve_client
from lsg_tf.serving import export_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = ["cat", "dog", "bird"]
# Gate [C=3, K=6]: which filters each class may use (values > 0.5 count as "used").
GATE = np.array([[1.0, 0.9, 0.0, 0.0, 0.2, 0.0],
                 [0.0, 0.0, 1.0, 0.6, 0.0, 0.0],
                 [0.0, 0.0, 0.0, 0.0, 0.7, 1.0]], np.float32)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Exports a tiny gray 8x8 model as ``toy`` and serves it over REST and gRPC."""
    keras.utils.set_random_seed(0)
    model = LSGModel(tiny_backbone(), 3, class_names=NAMES)
    model(np.zeros((1, 8, 8, 1), np.float32))
    model.gate.assign(GATE)
    export_dir = str(tmp_path_factory.mktemp("exported"))
    version_dir = export_lib.export_saved_model(model, export_dir, "toy")
    models = SavedModels(os.path.join(export_dir, "toy"), "toy")
    with RestPeer(models) as rest, GrpcPeer(models) as grpc_peer:
        yield {"export_dir": export_dir, "version_dir": version_dir,
               "model": models.versions[1], "rest": rest.address, "grpc": grpc_peer.address}


def _write_pngs(folder, count, size=(8, 8), mode="L", seed=0):
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        shape = size + ((3,) if mode == "RGB" else ())
        path = os.path.join(folder, f"img{i}.png")
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
        paths.append(path)
    return paths


def _reference(served, signature, batch):
    outputs = served["model"].signatures[signature](images=tf.constant(batch))
    return {k: v.numpy() for k, v in outputs.items()}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- predictions

TRANSPORTS = [("rest", "instances"), ("rest", "inputs"), ("grpc", "instances")]


@pytest.mark.parametrize("protocol,rest_format", TRANSPORTS)
def test_predict_serving_default_matches_saved_model(served, protocol, rest_format):
    batch = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    outputs = serve_client.predict(batch, "toy", protocol=protocol, server=served[protocol],
                                   rest_format=rest_format, timeout=10)
    expected = _reference(served, "serving_default", batch)
    assert sorted(outputs) == ["classes", "probabilities"]
    np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(outputs["classes"], expected["classes"])


@pytest.mark.parametrize("protocol,rest_format", TRANSPORTS)
def test_run_top_k_prints_names_from_class_names_file(served, tmp_path, protocol,
                                                      rest_format):
    paths = _write_pngs(str(tmp_path), 3)
    out = io.StringIO()
    serve_client.run(paths, "toy", protocol=protocol, server=served[protocol],
                     rest_format=rest_format, top_k=2, export_dir=served["export_dir"],
                     timeout=10, out=out)
    batch = np.stack([np.asarray(Image.open(p))[..., None] for p in paths])
    probabilities = _reference(served, "serving_default", batch)["probabilities"]
    with open(os.path.join(served["version_dir"], "class_names.txt")) as f:
        names = f.read().split()
    assert names == NAMES
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 * 3
    for i, path in enumerate(paths):
        assert lines[3 * i] == path
        order = np.argsort(-probabilities[i])[:2]
        for rank, c in enumerate(order, 1):
            label, value = lines[3 * i + rank].rsplit("  ", 1)
            assert label.strip() == f"{rank}. {names[c]} ({c})"
            assert abs(float(value) - probabilities[i, c]) < 1e-5


def test_run_without_class_names_prints_indices(served, tmp_path):
    out = io.StringIO()
    serve_client.run(_write_pngs(str(tmp_path), 1), "toy", server=served["rest"], top_k=3,
                     out=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines[1:]] == ["class"] * 3
    assert sorted(int(line.split()[2]) for line in lines[1:]) == [0, 1, 2]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_run_explain_writes_overlay_png_of_image_size(served, tmp_path, protocol):
    paths = _write_pngs(str(tmp_path), 2, size=(12, 10), seed=3)
    out_dir = str(tmp_path / "overlays")
    out = io.StringIO()
    outputs = serve_client.run(paths, "toy", protocol=protocol, server=served[protocol],
                               signature="explain", class_names=os.path.join(
                                   served["version_dir"], "class_names.txt"),
                               out_dir=out_dir, top_filters=2, timeout=10, out=out)
    batch = np.stack([np.asarray(Image.open(p))[..., None] for p in paths])
    expected = _reference(served, "explain", batch)
    assert outputs["cam"].shape == (2, 12, 10)
    np.testing.assert_allclose(outputs["cam"], expected["cam"], atol=1e-5)
    np.testing.assert_array_equal(outputs["class_filters"], GATE[expected["classes"]])
    text = out.getvalue()
    for i in range(2):
        png = os.path.join(out_dir, f"img{i}_cam.png")
        with Image.open(png) as image:
            assert image.size == (10, 12) and image.mode == "RGB"
        assert f"CAM overlay: {png}" in text
        used = np.flatnonzero(GATE[expected["classes"][i]] > 0.5)
        assert (f"(gate > 0.5): {', '.join(map(str, used))} ({len(used)} of 6)") in text


def test_run_channels_converts_rgb_photos_for_a_gray_model(served, tmp_path):
    paths = _write_pngs(str(tmp_path), 2, mode="RGB")
    with pytest.raises(serve_client.ServingError, match=r"HTTP 400: input images: shape"):
        serve_client.run(paths, "toy", server=served["rest"], out=io.StringIO())
    outputs = serve_client.run(paths, "toy", server=served["rest"], channels=1,
                               out=io.StringIO())
    gray = np.stack([np.asarray(Image.open(p).convert("L"))[..., None] for p in paths])
    expected = _reference(served, "serving_default", gray)
    np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"], atol=1e-5)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("protocol,label", [("rest", "REST"), ("grpc", "gRPC")])
def test_predict_unreachable_server_fails_fast_naming_it(protocol, label):
    address = f"127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(serve_client.ServingError) as error:
        serve_client.predict(np.zeros((1, 8, 8, 1), np.uint8), "toy", protocol=protocol,
                             server=address, timeout=2)
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert message.startswith(f"cannot reach TF Serving at {address} ({label})")
    assert "\n" not in message


@pytest.mark.parametrize("protocol,label", [("rest", "REST"), ("grpc", "gRPC")])
def test_predict_silent_server_times_out(protocol, label):
    with socket.socket() as silent:  # accepts TCP connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(serve_client.ServingError,
                           match=rf"no answer from TF Serving at {address} \({label}\) "
                                 r"within 0.5 s"):
            serve_client.predict(np.zeros((1, 8, 8, 1), np.uint8), "toy", protocol=protocol,
                                 server=address, timeout=0.5)
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("protocol,expected", [
    ("rest", r"HTTP 404: Servable not found for request: Latest\(nope\)"),
    ("grpc", r"NOT_FOUND: Servable not found for request: Latest\(nope\)"),
])
def test_predict_unknown_model_surfaces_server_error(served, protocol, expected):
    with pytest.raises(serve_client.ServingError,
                       match=rf"refused model 'nope', signature 'serving_default': {expected}"):
        serve_client.predict(np.zeros((1, 8, 8, 1), np.uint8), "nope", protocol=protocol,
                             server=served[protocol])


@pytest.mark.parametrize("protocol,expected", [
    ("rest", r'HTTP 400: Serving signature name: "gradcam" not found in signature def'),
    ("grpc", r'FAILED_PRECONDITION: Serving signature key "gradcam" not found.'),
])
def test_predict_unknown_signature_surfaces_server_error(served, protocol, expected):
    with pytest.raises(serve_client.ServingError, match=expected):
        serve_client.predict(np.zeros((1, 8, 8, 1), np.uint8), "toy", protocol=protocol,
                             server=served[protocol], signature="gradcam")


def test_predict_unknown_version_surfaces_server_error(served):
    with pytest.raises(serve_client.ServingError,
                       match=r"model 'toy' version 7.*HTTP 404: .*Specific\(toy, 7\)"):
        serve_client.predict(np.zeros((1, 8, 8, 1), np.uint8), "toy", server=served["rest"],
                             version=7)


def test_read_images_mixed_sizes_raises_naming_sizes(tmp_path):
    os.makedirs(tmp_path / "a")
    small = _write_pngs(str(tmp_path / "a"), 1, size=(8, 8))
    large = _write_pngs(str(tmp_path), 1, size=(9, 8))
    with pytest.raises(ValueError, match=r"different sizes \(.*img0.png 8x8, .*img0.png 9x8\)"):
        serve_client.read_images(small + large)


def test_read_images_unreadable_missing_or_unsupported_file(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=rf"image file {broken} is unreadable"):
        serve_client.read_images([str(broken)])
    with pytest.raises(FileNotFoundError, match=r"image file .*missing.jpg does not exist"):
        serve_client.read_images([str(tmp_path / "missing.jpg")])
    with pytest.raises(ValueError, match=r"unsupported extension '.gif', allowed .png"):
        serve_client.read_images([str(tmp_path / "x.gif")])
    floats = tmp_path / "floats.npy"
    np.save(floats, np.zeros((2, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"floats.npy: dtype float32, expected uint8"):
        serve_client.read_images([str(floats)])


def test_read_images_npy_batch_and_mixed_channels(tmp_path):
    batch = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)  # [N, h, w] is read as h, w, C
    np.save(tmp_path / "b.npy", batch[..., None])
    names, images = serve_client.read_images([str(tmp_path / "b.npy")])
    assert names == [f"{tmp_path / 'b.npy'}[0]", f"{tmp_path / 'b.npy'}[1]"]
    np.testing.assert_array_equal(images, batch[..., None])
    rgb = _write_pngs(str(tmp_path), 1, size=(3, 4), mode="RGB")
    with pytest.raises(ValueError, match=r"different channel counts .* pass --channels"):
        serve_client.read_images([str(tmp_path / "b.npy")] + rgb)
    _, images = serve_client.read_images([str(tmp_path / "b.npy")] + rgb, channels=3)
    assert images.shape == (3, 3, 4, 3)


def test_convert_channels_hand_values():
    rgba = np.array([[[255, 0, 0, 9], [0, 255, 0, 9], [10, 20, 30, 9]]], np.uint8)
    gray = serve_client.convert_channels(rgba, 1)
    # 0.299*255 = 76.2; 0.587*255 = 149.7; 0.299*10 + 0.587*20 + 0.114*30 = 18.1
    np.testing.assert_array_equal(gray[..., 0], [[76, 150, 18]])
    np.testing.assert_array_equal(serve_client.convert_channels(rgba, None), rgba[..., :3])
    np.testing.assert_array_equal(serve_client.convert_channels(gray, 3)[0, 1], [150] * 3)
    with pytest.raises(ValueError, match=r"channels must be 1 or 3 \(or unset\), got 2"):
        serve_client.convert_channels(gray, 2)


def test_normalise_cam_per_image_min_max():
    cam = np.array([[[1.0, 3.0], [2.0, 5.0]], [[4.0, 4.0], [4.0, 4.0]]])
    np.testing.assert_allclose(serve_client.normalise_cam(cam),
                               [[[0, 0.5], [0.25, 1]], [[0, 0], [0, 0]]])


def test_save_overlay_blends_colormap_over_gray_image(tmp_path):
    import matplotlib

    image = np.array([[[0], [100]], [[200], [255]]], np.uint8)
    cam = np.array([[-1.0, 0.0], [1.0, 3.0]])  # normalised: 0, 0.25, 0.5, 1
    path = serve_client.save_overlay(image, cam, str(tmp_path / "o" / "x.png"), alpha=0.25)
    with Image.open(path) as saved:
        pixels = np.asarray(saved)
    jet = matplotlib.colormaps["jet"](np.array([[0.0, 0.25], [0.5, 1.0]]))[..., :3]
    expected = np.rint((0.75 * image / 255.0 + 0.25 * jet) * 255)
    np.testing.assert_array_equal(pixels, expected)
    with pytest.raises(ValueError, match=r"cam has shape \[2, 3\], the image is 2x2"):
        serve_client.save_overlay(image, np.zeros((2, 3)), str(tmp_path / "y.png"))


def test_overlay_paths_are_distinct_per_image():
    names = ["d[1]/a.png", "e/a.png", "x/b.npy[0]", "x/b.npy[1]"]
    assert serve_client.overlay_paths(names, "out") == [
        os.path.join("out", f) for f in ["a_cam.png", "a_1_cam.png", "b_0_cam.png", "b_1_cam.png"]]


def test_format_filters_lists_gate_row_and_most_active():
    lines = serve_client.format_filters(np.array([0.2, 1.0, 0.6, 0.5]),
                                        np.array([0.1, 0.3, 2.0, 5.0]), top=3)
    assert lines[0].endswith("(gate > 0.5): 1, 2 (2 of 4)")
    assert lines[1].endswith(": 3 (5), 2* (2), 1* (0.3)")


def test_top_classes_orders_and_clips_k():
    indices, values = serve_client.top_classes(np.array([[0.2, 0.5, 0.3]]), 5)
    np.testing.assert_array_equal(indices, [[1, 2, 0]])
    np.testing.assert_allclose(values, [[0.5, 0.3, 0.2]])
    with pytest.raises(ValueError, match="top_k must be a positive integer, got 0"):
        serve_client.top_classes(np.ones((1, 3)), 0)


def test_parse_rest_answer_single_and_several_outputs():
    rows = serve_client.parse_rest_answer({"predictions": [[0.1, 0.9], [0.7, 0.3]]}, 2)
    np.testing.assert_allclose(rows["output"], [[0.1, 0.9], [0.7, 0.3]])
    several = serve_client.parse_rest_answer(
        {"predictions": [{"classes": 1, "p": [0.1]}, {"classes": 0, "p": [0.2]}]}, 2)
    np.testing.assert_array_equal(several["classes"], [1, 0])
    columns = serve_client.parse_rest_answer({"outputs": {"classes": [1, 0]}}, 2)
    np.testing.assert_array_equal(columns["classes"], [1, 0])
    with pytest.raises(serve_client.ServingError, match="expected a batch of 3"):
        serve_client.parse_rest_answer({"outputs": [1, 0]}, 3)


ROWS = "REST answer output 'probabilities' row"


@pytest.mark.parametrize("answer, message", [
    ({"predictions": [{"classes": 1, "probabilities": [0.1, 0.9]}, {"classes": 0}]},
     "REST answer row 1 lacks output 'probabilities' (it has 'classes'; expected classes, "
     "probabilities)"),
    ({"predictions": [{"probabilities": ["0.1", "0.9"]}, {"probabilities": [0.5, 0.5]}]},
     f"{ROWS} 0: got text of shape [2] ['0.1', '0.9'], expected [classes] numbers in [0, 1]"),
    ({"predictions": [{"probabilities": 0.7}, {"probabilities": 0.3}]},
     f"{ROWS} 0: got the number 0.7, expected [classes] numbers in [0, 1]"),
    ({"predictions": [{"probabilities": [0.5, 0.5]}, {"probabilities": [float("nan"), 1.0]}]},
     f"{ROWS} 1 holds NaN or inf, expected [classes] numbers in [0, 1]"),
    ({"outputs": {"probabilities": [[0.5, 0.5], [float("inf"), 0.0]]}},
     f"{ROWS} 1 holds NaN or inf, expected [classes] numbers in [0, 1]"),
    ({"outputs": {"probabilities": [[0.5, 0.5], [1.7, -0.7]]}},
     f"{ROWS} 1 holds 1.7, expected [classes] numbers in [0, 1]"),
    ({"outputs": {"probabilities": [[0.5, 0.5], [1.0]]}},
     f"{ROWS} 1 has shape [1], row 0 has [2]"),
    ({"outputs": {"probabilities": [[0.5, 0.5], [[0.1], [0.2, 0.3]]]}},
     f"{ROWS} 1 is ragged (lists of different lengths), expected [classes] numbers in [0, 1]"),
    ({"outputs": {"probabilities": [[0.5, 0.5], [0.5, None]]}},
     f"{ROWS} 1: got non-numbers of shape [2] [0.5, None], expected [classes] numbers in "
     "[0, 1]"),
    ({"outputs": {"probabilities": [[0.5, 0.5]], "classes": [0, 1]}},
     "REST answer output 'probabilities' has shape [1, 2], expected a batch of 2"),
    ({"outputs": {"classes": [0.5, 1.0]}},
     "REST answer output 'classes' row 0: got the number 0.5, expected one integer class index"),
    ({"predictions": {"probabilities": [0.5, 0.5]}},
     "REST answer 'predictions' is dict, expected a list of 2 rows (one per image)"),
    ({"predictions": [{"classes": 1}, 3]},
     "REST answer row 1 is int, expected an object of outputs (classes)"),
])
def test_parse_rest_answer_refuses_malformed_answers_naming_output_and_row(answer, message):
    with pytest.raises(serve_client.ServingError) as error:
        serve_client.parse_rest_answer(answer, 2)
    assert str(error.value) == message


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
@pytest.mark.parametrize("outputs, message", [
    ({"probabilities": np.array([["0.1", "0.9"]]), "classes": np.array([1])},
     "output 'probabilities' row 0: got text of shape [2] "),
    ({"probabilities": np.array([0.7]), "classes": np.array([1])},
     "output 'probabilities' row 0: got the number 0.7"),
    ({"probabilities": np.array([[np.nan, 1.0]], np.float32), "classes": np.array([1])},
     "output 'probabilities' row 0 holds NaN or inf"),
])
def test_malformed_answer_of_a_server_is_one_serving_error(tmp_path, protocol, outputs,
                                                           message):
    peer = RestPeer if protocol == "rest" else GrpcPeer
    with peer(FixedAnswers(outputs)) as server:
        with pytest.raises(serve_client.ServingError) as error:
            serve_client.run(_write_pngs(str(tmp_path), 1), "toy", protocol=protocol,
                             server=server.address, out=io.StringIO())
    label = "REST" if protocol == "rest" else "gRPC"
    assert str(error.value).startswith(f"{label} answer {message}"), str(error.value)
    assert "expected [classes] numbers in [0, 1]" in str(error.value)
    assert "\n" not in str(error.value)


def test_parse_server_defaults_and_errors():
    assert serve_client.parse_server(None, "rest") == ("localhost", 8501)
    assert serve_client.parse_server(None, "grpc") == ("localhost", 8500)
    assert serve_client.parse_server("[::1]:9000", "grpc") == ("[::1]", 9000)
    with pytest.raises(ValueError, match=r"--server must be host:port .* got 'localhost'"):
        serve_client.parse_server("localhost", "rest")
    with pytest.raises(ValueError, match=r"protocol must be one of rest, grpc, got 'http'"):
        serve_client.parse_server(None, "http")


def test_find_class_names_latest_version_and_folders(tmp_path):
    for version in (1, 3):
        os.makedirs(tmp_path / "m" / str(version))
        (tmp_path / "m" / str(version) / "class_names.txt").write_text(f"v{version}\n")
    find = serve_client.find_class_names
    assert find(str(tmp_path), "m") == str(tmp_path / "m" / "3" / "class_names.txt")
    assert find(str(tmp_path), "m", 1) == str(tmp_path / "m" / "1" / "class_names.txt")
    assert find(str(tmp_path / "m" / "1"), "m") == str(tmp_path / "m" / "1" / "class_names.txt")
    with pytest.raises(FileNotFoundError, match=r"no class_names.txt of 'm' \(version 2\)"):
        find(str(tmp_path), "m", 2)


def test_constants_match_the_exporter():
    assert serve_client.SERVING_SIGNATURE == export_lib.SERVING_SIGNATURE
    assert serve_client.EXPLAIN_SIGNATURE == export_lib.EXPLAIN_SIGNATURE
    assert serve_client.INPUT_NAME == export_lib.INPUT_NAME
    assert serve_client.CLASS_NAMES_FILE == export_lib.CLASS_NAMES_FILE


def test_contract_and_rest_client_do_not_import_tensorflow():
    code = ("import sys; import lsg_tf.serving.client, lsg_tf.serving.signature; "
            "print('tensorflow' in sys.modules)")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "False"


# ----------------------------------------------------------------------------- command line


@pytest.mark.parametrize("entry", [["-m", "tools.serve_client"], ["tools/serve_client.py"]])
def test_cli_prints_top_k_and_fails_with_one_line(served, tmp_path, entry):
    paths = _write_pngs(str(tmp_path), 2)
    command = [sys.executable, *entry, f"--server={served['rest']}",
               f"--export_dir={served['export_dir']}", "--top_k=1", "--timeout=10"]
    env = dict(os.environ, PYTHONPATH="")
    ok = subprocess.run(command + ["--model_name=toy", f"--images={paths[0]}", paths[1]],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0] == paths[0] and lines[2] == paths[1]
    assert lines[1].split()[1] in NAMES
    bad = subprocess.run(command + ["--model_name=nope", f"--images={paths[0]}"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"serve_client: error: TF Serving at {served['rest']} (REST) refused model 'nope', "
        "signature 'serving_default': HTTP 404: Servable not found for request: Latest(nope)"]
