r"""A TF Serving client for lsg_tf exports: REST or gRPC, top-k classes and CAM overlays.

The library behind ``python -m tools.serve_client`` (the command line only reads flags and
calls :func:`run`)::

    from lsg_tf.serving import client

    names, batch = client.read_images(["shoe.png", "shirt.png"], channels=1)
    outputs = client.predict(batch, "lsg_fashion", protocol="grpc")
    client.run(["photo.jpg"], "lsg_fashion", signature="explain", out_dir="overlays")

Talks to the model exported by ``lsg_tf.export`` with the contract of
:mod:`lsg_tf.serving.signature` (signatures ``serving_default`` and ``explain``; input
``images`` uint8 ``[batch, height, width, channels]``). REST needs only the standard
library, numpy and Pillow (matplotlib for ``explain`` overlays). gRPC needs
``tensorflow-serving-api``, whose message classes live in the ``tensorflow`` package:
importing them imports all of TensorFlow anyway, so the gRPC path (imported only when
``protocol="grpc"``) builds and reads tensors with ``tf.make_tensor_proto`` /
``tf.make_ndarray`` rather than by hand.

All images of one call form one request, so they must share height and width (the
model resizes in its graph, but a request is a single tensor); mixed sizes are refused
with the sizes named. Image files are png/jpg (alpha is dropped) or ``.npy`` uint8
arrays ``[N, h, w, C]``, ``[h, w, C]`` or ``[h, w]``. Error messages name the command
line's flags (``--server``, ``--channels``, ...), which match the parameters here.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

# The contract lsg_tf.serving.export_lib builds the signatures from (TensorFlow-free, like REST
# here). EXPLAIN_SIGNATURE is not used below: imported so callers find both names here.
from lsg_tf.serving.answer_checks import ServingError, check_outputs  # client.ServingError
from lsg_tf.serving.answers import (  # noqa: F401  (re-exported: client.X as before)
    find_class_names,
    format_filters,
    format_top_k,
    normalise_cam,
    overlay_paths,
    read_class_names,
    save_overlay,
    top_classes,
)
from lsg_tf.serving.images import (  # noqa: F401  (re-exported)
    IMAGE_EXTENSIONS,
    convert_channels,
    read_images,
)
from lsg_tf.serving.images import (
    one_line as _one_line,
)
from lsg_tf.serving.signature import (  # noqa: F401
    CAM,
    CLASS_FILTERS,
    CLASS_NAMES_FILE,
    EXPLAIN_SIGNATURE,
    FILTER_ACTIVATIONS,
    INPUT_DTYPE,
    INPUT_NAME,
    INPUT_RANK,
    PROBABILITIES,
    SERVING_SIGNATURE,
)

PROTOCOLS = ("rest", "grpc")
REST_FORMATS = ("instances", "inputs")
DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}


# ----------------------------------------------------------------------------- images


# ----------------------------------------------------------------------------- transport


def parse_server(server: str | None, protocol: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) -> ``(host, port)``; default localhost:8501/8500."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not server:
        return "localhost", DEFAULT_PORTS[protocol]
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--server must be host:port (e.g. localhost:{DEFAULT_PORTS[protocol]}), "
                         f"got {server!r}")
    return host, int(port)


def predict(images: np.ndarray, model_name: str, *, protocol: str = "rest",
            server: str | None = None, signature: str = SERVING_SIGNATURE,
            version: int | None = None, rest_format: str = "instances",
            timeout: float = 10.0) -> dict[str, np.ndarray]:
    """Runs ``signature`` of the served model on a batch.

    Args:
        images: uint8 ``[N, h, w, C]``.
        model_name: the served model's name.
        protocol: ``rest`` or ``grpc``.
        server: ``host:port``; default localhost:8501 (REST) / localhost:8500 (gRPC).
        signature: signature name (``serving_default`` or ``explain`` for lsg_tf exports).
        version: model version; None asks for the latest one.
        rest_format: ``instances`` (row format) or ``inputs`` (columnar), REST only.
        timeout: seconds to wait for the answer.

    Returns:
        Output name -> array with a leading batch axis ``[N, ...]``; for lsg_tf exports
        ``probabilities [N, classes]``, ``classes [N]`` and, for ``explain``,
        ``cam [N, h, w]``, ``class_filters [N, K]``, ``filter_activations [N, K]``.

    Raises:
        ValueError: bad arguments.
        ServingError: server unreachable, timed out, it answered with an error, or its
            answer does not fit the contract (:mod:`~lsg_tf.serving.answer_checks`).
    """
    host, port = parse_server(server, protocol)
    if not model_name:
        raise ValueError("model_name is required (the name in models.config)")
    if version is not None and (int(version) != version or version < 1):
        raise ValueError(f"version must be a positive integer, got {version!r}")
    images = np.asarray(images)
    if images.dtype != INPUT_DTYPE or images.ndim != INPUT_RANK:
        raise ValueError(f"images must be {INPUT_DTYPE} [N, h, w, C], got {images.dtype} "
                         f"{list(images.shape)}")
    if protocol == "rest":
        return predict_rest(images, model_name, host, port, signature, version, rest_format,
                            timeout)
    return predict_grpc(images, model_name, host, port, signature, version, timeout)


def _target(model_name, version, signature):
    spec = f"model {model_name!r}" + (f" version {version}" if version else "")
    return f"{spec}, signature {signature!r}"


def predict_rest(images, model_name, host, port, signature, version, rest_format, timeout):
    """REST ``:predict`` (see :func:`predict`)."""
    if rest_format not in REST_FORMATS:
        raise ValueError(f"rest_format must be one of {', '.join(REST_FORMATS)}, "
                         f"got {rest_format!r}")
    address = f"{host}:{port}"
    url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    path = f"/v1/models/{urllib.parse.quote(model_name, safe='')}"
    if version:
        path += f"/versions/{int(version)}"
    url = f"http://{url_host}:{port}{path}:predict"
    pixels = images.tolist()
    body = {"signature_name": signature}
    body.update({"instances": pixels} if rest_format == "instances"
                else {"inputs": {INPUT_NAME: pixels}})
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as e:
        detail = _http_error_detail(e)
        raise ServingError(f"TF Serving at {address} (REST) refused "
                           f"{_target(model_name, version, signature)}: HTTP {e.code}: "
                           f"{detail}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise ServingError(f"no answer from TF Serving at {address} (REST) within "
                               f"{timeout:g} s") from None
        raise ServingError(f"cannot reach TF Serving at {address} (REST): "
                           f"{_one_line(reason)}; is tensorflow_model_server running with "
                           f"--rest_api_port={port}?") from None
    try:
        answer = json.loads(payload)
    except ValueError:
        raise ServingError(f"TF Serving at {address} (REST) sent a non-JSON answer: "
                           f"{_one_line(payload[:200])}") from None
    return parse_rest_answer(answer, len(images))


def _http_error_detail(error) -> str:
    try:
        text = error.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and "error" in parsed:
            return _one_line(parsed["error"])
    except ValueError:
        pass
    return _one_line(text[:300] or error.reason)


def parse_rest_answer(answer, batch_size: int) -> dict[str, np.ndarray]:
    """TF Serving's REST ``:predict`` JSON -> output name -> ``[N, ...]`` array.

    Row format answers ``{"predictions": [...]}`` (per-instance dicts when the signature
    has several outputs, plain values when it has one); columnar answers
    ``{"outputs": {...}}`` (or the value itself for one output). A single unnamed output
    is returned as ``{"output": array}``.

    Raises:
        ServingError: a malformed answer: no ``predictions``/``outputs``, a row without an
            output the others have, or an output of the wrong shape or type
            (:func:`~lsg_tf.serving.answer_checks.output_rows`).
    """
    if not isinstance(answer, dict) or not ({"predictions", "outputs"} & answer.keys()):
        got = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        raise ServingError(f"unexpected REST answer ({got}): expected a JSON object with "
                           "'predictions' or 'outputs'")
    if "predictions" in answer:
        rows = answer["predictions"]
        if not isinstance(rows, list):
            raise ServingError(f"REST answer 'predictions' is {type(rows).__name__}, expected "
                               f"a list of {batch_size} rows (one per image)")
        if rows and any(isinstance(r, dict) for r in rows):
            outputs = _row_outputs(rows)
        else:
            outputs = {"output": rows}
    else:
        columns = answer["outputs"]
        outputs = columns if isinstance(columns, dict) else {"output": columns}
    return check_outputs(outputs, batch_size, "REST answer")


def _row_outputs(rows: list) -> dict[str, list]:
    """Row-format dicts -> output name -> its rows; every row must have every output."""
    names = list(dict.fromkeys(k for r in rows if isinstance(r, dict) for k in r))
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ServingError(f"REST answer row {i} is {type(row).__name__}, expected an "
                               f"object of outputs ({', '.join(names)})")
        missing = [n for n in names if n not in row]
        if missing:
            raise ServingError(f"REST answer row {i} lacks output {missing[0]!r} (it has "
                               f"{', '.join(map(repr, row)) or 'none'}; expected "
                               f"{', '.join(names)})")
    return {name: [r[name] for r in rows] for name in names}


def predict_grpc(images, model_name, host, port, signature, version, timeout):
    """gRPC ``PredictionService/Predict`` (see :func:`predict`)."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    address = f"{host}:{port}"
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version:
        request.model_spec.version.value = int(version)
    request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(images))
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(address, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            code, details = e.code(), _one_line(e.details() or "")
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ServingError(f"cannot reach TF Serving at {address} (gRPC): {details}; "
                                   f"is tensorflow_model_server running with --port={port}?"
                                   ) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ServingError(f"no answer from TF Serving at {address} (gRPC) within "
                                   f"{timeout:g} s") from None
            raise ServingError(f"TF Serving at {address} (gRPC) refused "
                               f"{_target(model_name, version, signature)}: {code.name}: "
                               f"{details}") from None
    outputs = {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
    return check_outputs(outputs, len(images), "gRPC answer")


# ----------------------------------------------------------------------------- reports


# ----------------------------------------------------------------------------- one call


def run(images, model_name: str, *, protocol: str = "rest", server: str | None = None,
        signature: str = SERVING_SIGNATURE, version: int | None = None,
        rest_format: str = "instances", top_k: int = 3, class_names: str | None = None,
        export_dir: str | None = None, channels: int | None = None,
        out_dir: str = "cam_overlays", top_filters: int = 5, alpha: float = 0.5,
        timeout: float = 10.0, out=None) -> dict[str, np.ndarray]:
    """Reads ``images``, asks the server, prints the report; returns the outputs.

    Prints per image the top-k classes (names when ``class_names`` or ``export_dir``
    locate a ``class_names.txt``, else indices); for the ``explain`` signature also the
    filters of the predicted class and the path of the CAM overlay PNG it writes.

    Args:
        images: image file paths (see :func:`read_images`); one request for all.
        model_name, protocol, server, signature, version, rest_format, timeout: see
            :func:`predict`.
        top_k: classes printed per image.
        class_names: a ``class_names.txt``; or
        export_dir: an export folder to find ``<model_name>/<version>/class_names.txt``
            in (the largest version when ``version`` is None).
        channels: convert images to 1 or 3 channels before sending (None: as stored).
        out_dir: folder for the ``explain`` overlays (``<image stem>_cam.png``).
        top_filters: ``explain``: how many of the most active filters to list.
        alpha: ``explain``: weight of the CAM colormap in the overlay.
        out: text stream for the report (default stdout).

    Returns:
        The outputs of :func:`predict` (name -> ``[N, ...]`` array).

    Raises:
        ValueError, FileNotFoundError: bad arguments or image / class-name files.
        ServingError: see :func:`predict`.
    """
    out = out or sys.stdout
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if class_names and export_dir:
        raise ValueError("give either --class_names or --export_dir, not both")
    names, batch = read_images(images, channels)
    overlays = overlay_paths(names, out_dir)
    outputs = predict(batch, model_name, protocol=protocol, server=server,
                      signature=signature, version=version, rest_format=rest_format,
                      timeout=timeout)
    names_path = class_names or (find_class_names(export_dir, model_name, version)
                                 if export_dir else None)
    labels = read_class_names(names_path) if names_path else None
    lines = []
    for i, name in enumerate(names):
        if PROBABILITIES in outputs:
            lines += format_top_k([name], outputs[PROBABILITIES][i:i + 1], top_k, labels)
        else:
            lines.append(name)
            lines += [f"  {key}: {np.asarray(value[i]).tolist()}"
                      for key, value in sorted(outputs.items())]
        if CLASS_FILTERS in outputs and FILTER_ACTIVATIONS in outputs:
            lines += format_filters(outputs[CLASS_FILTERS][i],
                                    outputs[FILTER_ACTIVATIONS][i], top_filters)
        if CAM in outputs:
            path = save_overlay(batch[i], np.asarray(outputs[CAM][i]), overlays[i], alpha)
            lines.append(f"  CAM overlay: {path}")
    print("\n".join(lines), file=out)
    return outputs
