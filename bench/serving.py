r"""Exported SavedModel through TensorFlow's C API vs the Keras model (goal: C API ≤ Keras).

  python bench/serving.py [--calls 50 --batch_calls 10 --repeats 5 --warmup 1] [--smoke]

A ResNet20 LSGModel (random weights: they do not change the cost) is exported with
:func:`lsg_tf.serving.export_lib.export_saved_model` into a temporary folder. The C API side runs
its ``serving_default`` signature with ``tools/capi_runner.py`` (``TF_LoadSessionFromSavedModel``
+ ``TF_SessionRun``, the C++ loader behind TF Serving) in a subprocess, one process per
round; the Keras side calls ``model.predict`` in this process. Both get the same seeded
uint8 images (the signature's input dtype); Keras gets them as float32 / 255, converted
once before timing (the served graph does that conversion itself, inside its timing).

Two comparisons, each alternating C API and Keras rounds after warm-up
(:func:`bench.common.alternate`); a round's value is the median of its per-call times:
  * batch-1 latency, ``--calls`` single-image calls per round: C API seconds per
    ``TF_SessionRun`` (timed inside the runner: process start, model load and one untimed
    first run excluded) vs ``model.predict(x, verbose=0)``. The direct call
    ``model(x, training=False)``, timed in the Keras rounds, is reported for information.
  * batch-``--batch`` throughput, ``--batch_calls`` calls per round: images/s of the C API
    vs ``model.predict(x, batch_size=batch, verbose=0)``.
Once, the probabilities of both sides are checked to agree within 1e-4.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402
from lsg_tf.cli.args import positive_int  # noqa: E402
from lsg_tf.serving.signature import INPUT_DTYPE, INPUT_NAME, SERVING_SIGNATURE  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "tools", "capi_runner.py")
TOLERANCE = 1e-4


def serving_tensors(saved_model_dir: str, signature: str = SERVING_SIGNATURE):
    """Graph tensor names of ``signature``: ``(input name, {output key: tensor name})``.

    Raises:
        ValueError: the signature does not take one uint8 ``images`` input.
    """
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    definition = saved_model.meta_graphs[0].signature_def[signature]
    inputs = dict(definition.inputs)
    dtype = types_pb2.DataType.Value(f"DT_{INPUT_DTYPE.upper()}")
    if list(inputs) != [INPUT_NAME] or inputs[INPUT_NAME].dtype != dtype:
        raise ValueError(f"{saved_model_dir}: signature {signature!r} must take one "
                         f"{INPUT_DTYPE} {INPUT_NAME!r} input, got {sorted(inputs)}")
    return inputs[INPUT_NAME].name, {key: info.name for key, info in definition.outputs.items()}


class CapiSide:
    """One C API round: a runner process that times ``calls`` runs of ``images``.

    Each call returns the median seconds per ``TF_SessionRun`` of the round; the runner
    makes ``calls + 1`` runs and the first (graph set-up) is not counted.
    """

    def __init__(self, saved_model_dir, input_name, outputs, images, calls, threads,
                 folder):
        import numpy as np

        os.makedirs(folder, exist_ok=True)
        np.save(os.path.join(folder, "images.npy"), images)
        self.spec_path = os.path.join(folder, "spec.json")
        self.out_path = os.path.join(folder, "out.npz")
        with open(self.spec_path, "w") as f:
            json.dump({"inputs": {input_name: "images.npy"}, "outputs": outputs}, f)
        self.command = [sys.executable, RUNNER, saved_model_dir, self.spec_path,
                        self.out_path, "--repeat", str(calls + 1)]
        if threads:
            self.command += ["--threads", str(threads)]
        self.calls = calls
        self.load_seconds = []

    def __call__(self) -> float:
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        process = subprocess.run(self.command, capture_output=True, text=True, env=env)
        if process.returncode != 0:
            raise RuntimeError(f"capi_runner exited {process.returncode}: "
                               f"{process.stderr.strip()[-2000:]}")
        timings = json.loads(process.stdout.strip().splitlines()[-1])
        each = timings["run_seconds_each"][1:]
        if len(each) != self.calls:
            raise RuntimeError(f"capi_runner timed {len(each)} runs, expected {self.calls}")
        self.load_seconds.append(timings["load_seconds"])
        return statistics.median(each)

    def outputs(self) -> dict:
        """The outputs of the last round (first run of its process)."""
        import numpy as np

        with np.load(self.out_path) as data:
            return {key: data[key] for key in data.files}


def _median_time(function, calls: int) -> float:
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def _softmax(logits):
    import numpy as np

    logits = np.asarray(logits, np.float64)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _fmt_ms(values) -> str:
    return ", ".join(f"{v * 1e3:.4g}" for v in values)


def main(argv=None) -> int:
    parser = common.arguments(__doc__)
    parser.add_argument("--calls", type=positive_int, default=50,
                        help="batch-1 calls per round (each side)")
    parser.add_argument("--batch_calls", type=positive_int, default=10,
                        help="batch calls per round of the throughput comparison")
    parser.add_argument("--batch", type=positive_int, default=64,
                        help="images per call of the throughput comparison")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.smoke:
        args.calls, args.batch_calls, args.repeats, args.warmup = 5, 2, 1, 0
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()  # before TensorFlow is imported (set_threads imports it)
    common.set_threads(args.threads)
    import numpy as np

    from bench import _model
    from lsg_tf.core.schedule import Schedule
    from lsg_tf.serving import export_lib

    model = _model.resnet20_model(Schedule("std"))
    images, _ = _model.random_images(args.batch, seed=0)  # uint8 [batch, 32, 32, 3]
    single = images[:1]
    pixels = images.astype(np.float32) / 255.0  # what the served graph computes
    single_pixels = pixels[:1]

    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        saved_model_dir = export_lib.export_saved_model(model, tmp, "resnet20")
        input_name, outputs = serving_tensors(saved_model_dir)
        capi_single = CapiSide(saved_model_dir, input_name, outputs, single, args.calls,
                               args.threads, os.path.join(tmp, "single"))
        capi_batch = CapiSide(saved_model_dir, input_name, outputs, images, args.batch_calls,
                              args.threads, os.path.join(tmp, "batch"))

        # Keras warm-up (traces predict's function for both shapes) and its reference outputs.
        keras_outputs = {
            "single predict": _softmax(model.predict(single_pixels, verbose=0)),
            "batch predict": _softmax(model.predict(pixels, batch_size=args.batch, verbose=0)),
            "batch call": _softmax(model(pixels, training=False)),
        }
        direct_medians = []

        def keras_single() -> float:
            predict = _median_time(lambda: model.predict(single_pixels, verbose=0), args.calls)
            direct_medians.append(
                _median_time(lambda: model(single_pixels, training=False), args.calls))
            return predict

        def keras_batch() -> float:
            return _median_time(
                lambda: model.predict(pixels, batch_size=args.batch, verbose=0),
                args.batch_calls)

        latency = common.alternate("C API", capi_single, "Keras predict", keras_single,
                                   repeats=args.repeats, warmup=args.warmup)
        direct = direct_medians[-args.repeats:]  # drop the warm-up rounds
        common.report(
            "Serving latency: ResNet20, batch 1, C API (TF Serving's loader) vs Keras predict",
            latency, "≤ 1.0", unit="ms", scale=1e3,
            extra=(f"Keras direct call model(x, training=False): median "
                   f"{statistics.median(direct) * 1e3:.4g} ms (runs: {_fmt_ms(direct)}); "
                   f"ratio C API / Keras direct call = "
                   f"{latency.median_a / statistics.median(direct):.3f}\n"
                   f"each run: median of {args.calls} calls; C API timed per TF_SessionRun "
                   f"inside its process (start, model load "
                   f"{statistics.median(capi_single.load_seconds):.2f} s and a first run "
                   f"excluded)"))

        timed = common.alternate("C API", capi_batch, "Keras predict", keras_batch,
                                 repeats=args.repeats, warmup=args.warmup)
        throughput = common.Comparison(
            "C API", "Keras predict", [args.batch / s for s in timed.seconds_a],
            [args.batch / s for s in timed.seconds_b])
        common.report(
            f"Serving throughput: ResNet20, batch {args.batch}, C API vs Keras predict",
            throughput, "≥ 1.0", unit="images/s",
            extra=(f"per batch of {args.batch}: C API median {timed.median_a * 1e3:.4g} ms, "
                   f"Keras predict median {timed.median_b * 1e3:.4g} ms; each run: median "
                   f"of {args.batch_calls} calls"))

        served = {"single": capi_single.outputs()["probabilities"],
                  "batch": capi_batch.outputs()["probabilities"]}
    differences = {
        "predict": max(np.abs(served["single"] - keras_outputs["single predict"]).max(),
                       np.abs(served["batch"] - keras_outputs["batch predict"]).max()),
        "direct call": np.abs(served["batch"] - keras_outputs["batch call"]).max(),
    }
    agree = all(d <= TOLERANCE for d in differences.values())
    print(f"probabilities agree: max |C API - Keras predict| = {differences['predict']:.2e}, "
          f"max |C API - Keras direct call| = {differences['direct call']:.2e} "
          f"(tolerance {TOLERANCE:g}, {args.batch + 1} images): "
          f"{'OK' if agree else 'MISMATCH'}", flush=True)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
