"""Test peers standing in for TF Serving in the client tests. Not a serving product.

TF Serving cannot be installed where the tests run, so these two small servers load a
real exported SavedModel with ``tf.saved_model.load`` and answer the subset of TF
Serving's APIs that ``lsg_tf.serving.client`` uses, with TF Serving's request and
answer formats and error messages:

* :class:`RestPeer`: ``POST /v1/models/<name>[/versions/<v>]:predict`` with row
  (``instances``) or columnar (``inputs``) bodies, answering ``{"predictions": ...}`` or
  ``{"outputs": ...}``, and ``{"error": "..."}`` with HTTP 400/404 on failures.
* :class:`GrpcPeer`: ``tensorflow.serving.PredictionService/Predict``.

They serve on 127.0.0.1 only, one model name with the versions found on disk (or, with
:class:`FixedAnswers`, the same outputs for every request), no batching, no model reloading,
no TLS. Use them only in tests.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import threading
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


class _NotFound(Exception):
    pass


class _BadRequest(Exception):
    pass


class SavedModels:
    """The versions of one exported model, loaded once and shared by both peers.

    Args:
        model_dir: ``<export_dir>/<model_name>`` holding integer version folders.
        name: the served model name.
    """

    def __init__(self, model_dir: str, name: str):
        self.name = name
        self.versions = {int(d): tf.saved_model.load(os.path.join(model_dir, d))
                         for d in os.listdir(model_dir) if d.isdigit()}

    def run(self, name: str, version: int | None, signature: str,
            inputs: dict) -> tuple[int, dict[str, np.ndarray]]:
        """Runs a signature like TF Serving's Predict; returns ``(version, outputs)``.

        Raises:
            _NotFound: unknown model or version (TF Serving's NOT_FOUND).
            _BadRequest: unknown signature or inputs it rejects.
        """
        if name != self.name or (version is not None and version not in self.versions):
            spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise _NotFound(f"Servable not found for request: {spec}")
        version = max(self.versions) if version is None else version
        model = self.versions[version]
        signature = signature or "serving_default"
        if signature not in model.signatures:
            raise _BadRequest(f'Serving signature name: "{signature}" not found in signature def')
        function = model.signatures[signature]
        wanted = function.structured_input_signature[1]
        if set(inputs) != set(wanted):
            raise _BadRequest(f"input keys {sorted(inputs)} do not match the signature's "
                              f"{sorted(wanted)}")
        tensors = {}
        for key, spec in wanted.items():
            try:
                tensors[key] = tf.convert_to_tensor(inputs[key], dtype=spec.dtype)
            except (TypeError, ValueError) as e:
                raise _BadRequest(f"input {key}: {e}") from None
            if not spec.shape.is_compatible_with(tensors[key].shape):
                raise _BadRequest(f"input {key}: shape {tensors[key].shape} is not "
                                  f"compatible with {spec.shape}")
        try:
            outputs = function(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            raise _BadRequest(" ".join(str(e).split())) from None
        return version, {k: v.numpy() for k, v in outputs.items()}


class FixedAnswers:
    """Stands in for :class:`SavedModels`: every request of any model gets ``outputs``
    (malformed answers, for the client's checks)."""

    def __init__(self, outputs: dict):
        self.outputs = outputs

    def run(self, name, version, signature, inputs) -> tuple[int, dict]:
        return 1, {k: np.asarray(v) for k, v in self.outputs.items()}


# ----------------------------------------------------------------------------- REST

_PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")


class RestPeer:
    """A TF Serving REST ``:predict`` stand-in on ``127.0.0.1:<port>`` (test peer only).

    Args:
        models: the :class:`SavedModels` to serve.
        port: 0 picks a free port; read it from :attr:`port`.
    """

    def __init__(self, models: SavedModels, port: int = 0):
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's name)
                status, body = peer.answer(self.path, self.rfile.read(
                    int(self.headers.get("Content-Length") or 0)))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.models = models
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, body: bytes) -> tuple[int, dict]:
        """``(HTTP status, JSON body)`` for a POST, formatted as TF Serving does."""
        match = _PREDICT_PATH.match(path)
        if not match:
            return 400, {"error": f"Malformed request: POST {path}"}
        try:
            request = json.loads(body)
        except ValueError as e:
            return 400, {"error": f"JSON Parse error: {e}"}
        if not isinstance(request, dict) or ("instances" in request) == ("inputs" in request):
            return 400, {"error": "Missing 'inputs' or 'instances' key"}
        name, version = match.group(1), match.group(2)
        row_format = "instances" in request
        try:
            if row_format:
                rows = request["instances"]
                if rows and all(isinstance(r, dict) for r in rows):
                    inputs = {k: [r[k] for r in rows] for k in rows[0]}
                else:
                    inputs = {"images": rows}
            else:
                inputs = request["inputs"]
                if not isinstance(inputs, dict):
                    inputs = {"images": inputs}
            _, outputs = self.models.run(name, int(version) if version else None,
                                         request.get("signature_name", ""), inputs)
        except _NotFound as e:
            return 404, {"error": str(e)}
        except (_BadRequest, KeyError) as e:
            return 400, {"error": str(e)}
        lists = {k: v.tolist() for k, v in outputs.items()}
        if row_format:
            if len(lists) == 1:
                return 200, {"predictions": next(iter(lists.values()))}
            batch = {len(v) for v in lists.values()}
            if len(batch) != 1:
                return 400, {"error": "Output tensors have different batch sizes"}
            return 200, {"predictions": [{k: v[i] for k, v in lists.items()}
                                         for i in range(batch.pop())]}
        return 200, {"outputs": next(iter(lists.values())) if len(lists) == 1 else lists}

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


# ----------------------------------------------------------------------------- gRPC


class _Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, models: SavedModels):
        self.models = models

    def Predict(self, request, context):  # noqa: N802  (the RPC's name)
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        try:
            served, outputs = self.models.run(spec.name, version, spec.signature_name, inputs)
        except _NotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except _BadRequest as e:
            message = str(e)
            if "signature" in message and "not found" in message:
                # TF Serving's gRPC Predict words it this way (FAILED_PRECONDITION).
                signature = spec.signature_name or "serving_default"
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f'Serving signature key "{signature}" not found.')
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = served
        response.model_spec.signature_name = spec.signature_name or "serving_default"
        wanted = set(request.output_filter) or set(outputs)
        for key in wanted & set(outputs):
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
        return response


class GrpcPeer:
    """A TF Serving gRPC ``PredictionService/Predict`` stand-in (test peer only).

    Args:
        models: the :class:`SavedModels` to serve.
    """

    def __init__(self, models: SavedModels):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _Servicer(models), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(grace=None).wait()
