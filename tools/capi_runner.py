r"""Runs a SavedModel signature through TensorFlow's C API, as TF Serving's loader does.

    python tools/capi_runner.py SAVED_MODEL_DIR SPEC.json OUT.npz [--repeat N] [--threads N]

SPEC.json, for the ``serving_default`` signature of an lsg_tf export
(``lsg_tf.serving.export_lib.export_saved_model``)::

    {"inputs":  {"serving_default_images:0": "x.npy"},
     "outputs": {"classes": "StatefulPartitionedCall_1:0",
                 "probabilities": "StatefulPartitionedCall_1:1"},
     "tags": ["serve"]}

Tensor names differ between SavedModels (and signatures): read them with
``saved_model_cli show --dir SAVED_MODEL_DIR --all`` ("name:" of each input and output).

``inputs`` maps graph tensor names (``operation:index``) to ``.npy`` files (relative
paths are read from SPEC.json's folder); the input dtype is the array's dtype.
``outputs`` maps the keys written to OUT.npz to graph tensor names; output dtypes and
shapes are read from the returned tensors (float32, float64, int32, int64, uint8,
bool). ``tags`` defaults to ``["serve"]``.

The SavedModel is loaded with ``TF_LoadSessionFromSavedModel`` (the C++ loader behind
TF Serving) and run with ``TF_SessionRun``. This script never imports the
``tensorflow`` Python package: it only loads the shared libraries shipped in the
installed wheel (``libtensorflow_framework.so.2`` with RTLD_GLOBAL, then
``libtensorflow_cc.so.2``) with ctypes. From the repository it imports only
``lsg_tf.cli.args`` (standard library); run as a script it puts the repository root on
``sys.path`` itself.

``--repeat N`` (default 1) runs ``TF_SessionRun`` N times on the same input tensors;
OUT.npz holds the outputs of the first run. ``--threads N`` sets the session's intra-op
and inter-op thread pools to N threads (default: TensorFlow's choice).

On success, prints one JSON line and exits 0: ``load_seconds`` (loading the SavedModel),
``run_seconds`` (the first ``TF_SessionRun``) and ``run_seconds_each`` (every
``TF_SessionRun``, in order; N values). A failing TF call exits 1 with
``capi_runner: <call> failed (TF code N): <message>`` on stderr; a bad command line or
spec exits 2.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import sys
import sysconfig
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lsg_tf.cli.args import positive_int  # noqa: E402  (standard library only)

_FRAMEWORK_LIB = "libtensorflow_framework.so.2"
_CC_LIB = "libtensorflow_cc.so.2"

# TF_DataType enum values (tensorflow/c/tf_datatype.h) <-> numpy dtypes.
_TF_TO_NUMPY = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 9: np.int64,
                10: np.bool_}
_NUMPY_TO_TF = {np.dtype(v): k for k, v in _TF_TO_NUMPY.items()}


class TFError(RuntimeError):
    """A C API call returned a non-OK TF_Status."""


class _Output(ctypes.Structure):
    """``TF_Output``: an operation and the index of one of its outputs."""

    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


def find_tensorflow_dir() -> str:
    """The installed wheel's ``tensorflow`` folder, found without importing it.

    ``find_spec`` of a top-level package only locates it; it does not run its
    ``__init__``.
    """
    spec = importlib.util.find_spec("tensorflow")
    candidates = list(spec.submodule_search_locations or []) if spec else []
    for key in ("platlib", "purelib"):
        candidates.append(os.path.join(sysconfig.get_paths()[key], "tensorflow"))
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, _CC_LIB)):
            return folder
    raise FileNotFoundError(f"no {_CC_LIB} in any of {candidates}")


def load_library(tf_dir: str) -> ctypes.CDLL:
    """Loads the framework library globally, then the C API library; declares the calls."""
    ctypes.CDLL(os.path.join(tf_dir, _FRAMEWORK_LIB), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(os.path.join(tf_dir, _CC_LIB), mode=ctypes.RTLD_GLOBAL)
    p, i, i64, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_size_t
    signatures = {
        "TF_Version": (ctypes.c_char_p, []),
        "TF_NewStatus": (p, []),
        "TF_DeleteStatus": (None, [p]),
        "TF_GetCode": (i, [p]),
        "TF_Message": (ctypes.c_char_p, [p]),
        "TF_NewGraph": (p, []),
        "TF_DeleteGraph": (None, [p]),
        "TF_NewSessionOptions": (p, []),
        "TF_DeleteSessionOptions": (None, [p]),
        "TF_SetConfig": (None, [p, ctypes.c_char_p, sz, p]),
        "TF_LoadSessionFromSavedModel": (
            p, [p, p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), i, p, p, p]),
        "TF_CloseSession": (None, [p, p]),
        "TF_DeleteSession": (None, [p, p]),
        "TF_GraphOperationByName": (p, [p, ctypes.c_char_p]),
        "TF_OperationNumOutputs": (i, [p]),
        "TF_AllocateTensor": (p, [i, ctypes.POINTER(i64), i, sz]),
        "TF_DeleteTensor": (None, [p]),
        "TF_TensorType": (i, [p]),
        "TF_NumDims": (i, [p]),
        "TF_Dim": (i64, [p, i]),
        "TF_TensorByteSize": (sz, [p]),
        "TF_TensorData": (p, [p]),
        "TF_SessionRun": (None, [p, p, ctypes.POINTER(_Output), ctypes.POINTER(p), i,
                                 ctypes.POINTER(_Output), ctypes.POINTER(p), i,
                                 ctypes.POINTER(p), i, p, p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def _check(lib, status, call: str) -> None:
    code = lib.TF_GetCode(status)
    if code != 0:
        message = (lib.TF_Message(status) or b"").decode("utf-8", "replace")
        raise TFError(f"{call} failed (TF code {code}): {message}")


def _parse_name(name: str) -> tuple[str, int]:
    operation, _, index = name.partition(":")
    if not operation or (index and not index.isdigit()):
        raise ValueError(f"tensor name must be 'operation:index', got {name!r}")
    return operation, int(index or 0)


def _output(lib, graph, name: str) -> _Output:
    operation_name, index = _parse_name(name)
    operation = lib.TF_GraphOperationByName(graph, operation_name.encode())
    if not operation:
        raise TFError(f"TF_GraphOperationByName failed: no operation {operation_name!r} in the "
                      "loaded graph")
    if index >= lib.TF_OperationNumOutputs(operation):
        raise TFError(f"operation {operation_name!r} has no output {index}")
    return _Output(operation, index)


def _to_tensor(lib, array: np.ndarray):
    # np.ascontiguousarray would turn a 0-d array into shape [1].
    array = np.require(np.asarray(array), requirements="C")
    if array.dtype not in _NUMPY_TO_TF:
        raise ValueError(f"input dtype must be one of {sorted(map(str, _NUMPY_TO_TF))}, "
                         f"got {array.dtype}")
    dims = (ctypes.c_int64 * array.ndim)(*array.shape)
    tensor = lib.TF_AllocateTensor(_NUMPY_TO_TF[array.dtype], dims, array.ndim, array.nbytes)
    if not tensor:
        raise TFError("TF_AllocateTensor returned NULL")
    if lib.TF_TensorByteSize(tensor) != array.nbytes:
        lib.TF_DeleteTensor(tensor)
        raise TFError("TF_AllocateTensor returned a tensor of the wrong byte size")
    if array.nbytes:
        ctypes.memmove(lib.TF_TensorData(tensor), array.ctypes.data, array.nbytes)
    return tensor


def _to_numpy(lib, tensor) -> np.ndarray:
    type_enum = lib.TF_TensorType(tensor)
    if type_enum not in _TF_TO_NUMPY:
        raise TFError(f"output TF_DataType {type_enum} is not supported")
    shape = tuple(lib.TF_Dim(tensor, d) for d in range(lib.TF_NumDims(tensor)))
    size = lib.TF_TensorByteSize(tensor)
    raw = ctypes.string_at(lib.TF_TensorData(tensor), size) if size else b""
    return np.frombuffer(raw, dtype=_TF_TO_NUMPY[type_enum]).reshape(shape).copy()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def thread_config(threads: int) -> bytes:
    """A serialized ``ConfigProto`` with both thread pools set to ``threads``.

    Encoded by hand (protobuf wire format) so that no tensorflow Python module is
    needed: field 2 ``intra_op_parallelism_threads`` and field 5
    ``inter_op_parallelism_threads``, both varints.
    """
    if int(threads) != threads or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    return b"\x10" + _varint(int(threads)) + b"\x28" + _varint(int(threads))


def run(saved_model_dir: str, inputs: dict, outputs: dict, tags=("serve",), repeat: int = 1,
        threads: int | None = None):
    """Loads ``saved_model_dir`` with the C API and runs it ``repeat`` times.

    Args:
        saved_model_dir: a SavedModel folder.
        inputs: graph tensor name -> numpy array.
        outputs: result key -> graph tensor name.
        tags: MetaGraph tags to load.
        repeat: how many times ``TF_SessionRun`` runs on the same input tensors.
        threads: intra-op and inter-op threads of the session; None: TensorFlow's default.

    Returns:
        ``(results, timings)``: result key -> numpy array (of the first run), and
        ``{"load_seconds", "run_seconds", "run_seconds_each"}``: ``run_seconds`` is the
        first run, ``run_seconds_each`` a list of ``repeat`` per-run seconds.

    Raises:
        ValueError: ``repeat`` or ``threads`` is not a positive integer.
        TFError: a C API call failed (the message is TF's).
    """
    if int(repeat) != repeat or repeat < 1:
        raise ValueError(f"repeat must be a positive integer, got {repeat!r}")
    config = thread_config(threads) if threads is not None else None
    lib = load_library(find_tensorflow_dir())
    status = lib.TF_NewStatus()
    graph = lib.TF_NewGraph()
    options = lib.TF_NewSessionOptions()
    session = None
    input_tensors = []
    output_values = None
    try:
        if config is not None:
            lib.TF_SetConfig(options, config, len(config), status)
            _check(lib, status, "TF_SetConfig")
        start = time.perf_counter()
        tag_array = (ctypes.c_char_p * len(tags))(*[t.encode() for t in tags])
        session = lib.TF_LoadSessionFromSavedModel(
            options, None, os.fsencode(saved_model_dir), tag_array, len(tags), graph, None,
            status)
        _check(lib, status, "TF_LoadSessionFromSavedModel")
        loaded = time.perf_counter()

        input_ops = [_output(lib, graph, name) for name in inputs]
        output_keys = list(outputs)
        output_ops = [_output(lib, graph, outputs[key]) for key in output_keys]
        for array in inputs.values():
            input_tensors.append(_to_tensor(lib, array))
        input_array = (_Output * len(input_ops))(*input_ops)
        input_values = (ctypes.c_void_p * len(input_tensors))(*input_tensors)
        output_array = (_Output * len(output_ops))(*output_ops)
        output_values = (ctypes.c_void_p * len(output_ops))()
        results, run_seconds = None, []
        for _ in range(int(repeat)):
            before = time.perf_counter()
            lib.TF_SessionRun(
                session, None, input_array, input_values, len(input_tensors),
                output_array, output_values, len(output_ops), None, 0, None, status)
            _check(lib, status, "TF_SessionRun")
            run_seconds.append(time.perf_counter() - before)
            if results is None:
                results = {key: _to_numpy(lib, output_values[n])
                           for n, key in enumerate(output_keys)}
            for n, tensor in enumerate(output_values):
                if tensor:
                    lib.TF_DeleteTensor(tensor)
                output_values[n] = None
        return results, {"load_seconds": loaded - start, "run_seconds": run_seconds[0],
                         "run_seconds_each": run_seconds}
    finally:
        for tensor in input_tensors:
            lib.TF_DeleteTensor(tensor)
        if output_values is not None:
            for tensor in output_values:
                if tensor:
                    lib.TF_DeleteTensor(tensor)
        if session:
            lib.TF_CloseSession(session, status)
            lib.TF_DeleteSession(session, status)
        lib.TF_DeleteSessionOptions(options)
        lib.TF_DeleteGraph(graph)
        lib.TF_DeleteStatus(status)


def _read_spec(path: str):
    with open(path) as f:
        spec = json.load(f)
    if not isinstance(spec, dict) or not spec.get("inputs") or not spec.get("outputs"):
        raise ValueError(f"{path} must hold a JSON object with non-empty 'inputs' and "
                         "'outputs'")
    folder = os.path.dirname(os.path.abspath(path))
    inputs = {name: np.load(os.path.join(folder, npy)) for name, npy in spec["inputs"].items()}
    return inputs, dict(spec["outputs"]), list(spec.get("tags", ["serve"]))


def main(argv) -> int:
    parser = argparse.ArgumentParser(
        prog=os.path.basename(argv[0]),
        description="Runs a SavedModel signature through TensorFlow's C API.")
    parser.add_argument("saved_model_dir", metavar="SAVED_MODEL_DIR")
    parser.add_argument("spec_path", metavar="SPEC.json")
    parser.add_argument("out_path", metavar="OUT.npz")
    parser.add_argument("--repeat", type=positive_int, default=1,
                        help="TF_SessionRun calls on the same inputs (default 1)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="intra-op and inter-op threads (default: TensorFlow's choice)")
    args = parser.parse_args(argv[1:])  # a bad command line exits 2
    try:
        inputs, outputs, tags = _read_spec(args.spec_path)
    except (OSError, ValueError) as error:
        print(f"capi_runner: bad spec: {error}", file=sys.stderr)
        return 2
    try:
        results, timings = run(args.saved_model_dir, inputs, outputs, tags,
                               repeat=args.repeat, threads=args.threads)
    except TFError as error:
        print(f"capi_runner: {error}", file=sys.stderr)
        return 1
    finally:
        if "tensorflow" in sys.modules:
            raise RuntimeError("tensorflow's Python package was imported")
    np.savez(args.out_path, **results)
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
