"""What every benchmark shares: the machine description, A/B alternation, the summary line.

A benchmark times two sides (A and B) of one comparison in one invocation: after
``warmup`` untimed rounds of each, it alternates A B A B ... for ``repeats`` rounds, so
that drifts of the machine (other load, thermal state) hit both sides alike, and reports
the median of each side and the ratio A / B of the medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> set:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def simd_level(flags: set) -> str:
    """The widest x86 SIMD level in ``flags``: "AMX", "AVX-512", "AVX2", "AVX" or "SSE".

    AMX (Sapphire Rapids and later) implies AVX-512; oneDNN picks its convolution kernels by
    this level, which is why training speed differs so much between CPUs.
    """
    if "amx_tile" in flags:
        return "AMX"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    if "avx" in flags:
        return "AVX"
    return "SSE" if flags else "unknown"


def kernel_settings(environ=None) -> str:
    """The SIMD level, oneDNN's ISA cap and on/off switch, and the thread settings."""
    environ = os.environ if environ is None else environ
    cap = environ.get("ONEDNN_MAX_CPU_ISA")
    onednn = environ.get("TF_ENABLE_ONEDNN_OPTS")
    threads = {k: environ[k] for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                       "TF_NUM_INTEROP_THREADS") if k in environ}
    return (f"SIMD: {simd_level(cpu_flags())}"
            f"; oneDNN ISA cap: {'ONEDNN_MAX_CPU_ISA=' + cap if cap else 'none'}"
            f"; oneDNN ops: {'TF_ENABLE_ONEDNN_OPTS=' + onednn if onednn else 'default (on)'}"
            f"; threads: {', '.join(f'{k}={v}' for k, v in threads.items()) or 'default'}")


def machine_description() -> str:
    """CPU model and SIMD level, cores, kernel and thread settings, Python, TensorFlow, Keras.

    Imports TensorFlow (the intra/inter-op pool sizes are read from it).
    """
    import keras
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    return (f"{cpu_model()}, {os.cpu_count()} cores; {kernel_settings()}; TensorFlow "
            f"intra/inter-op threads {intra or 'auto'}/{inter or 'auto'}; Python "
            f"{platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}")


def command_line() -> str:
    """The command that is running, as one would type it."""
    script = os.path.relpath(sys.argv[0]) if os.path.isabs(sys.argv[0]) else sys.argv[0]
    return " ".join(["python", shlex.quote(script)] + [shlex.quote(a) for a in sys.argv[1:]])


@dataclasses.dataclass
class Comparison:
    """Timings of both sides; ``ratio`` = median(A) / median(B)."""

    name_a: str
    name_b: str
    seconds_a: list
    seconds_b: list

    @property
    def median_a(self) -> float:
        return statistics.median(self.seconds_a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.seconds_b)

    @property
    def ratio(self) -> float:
        return self.median_a / self.median_b


def alternate(name_a: str, run_a: Callable[[], float | None], name_b: str,
              run_b: Callable[[], float | None], repeats: int = 5,
              warmup: int = 1) -> Comparison:
    """Times ``run_a`` and ``run_b`` alternately (A B A B ...) after ``warmup`` rounds.

    A callable may return its own measured seconds (e.g. a time taken inside another
    process, or per-item time); otherwise its wall time is used.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")

    def timed(run):
        start = time.perf_counter()
        measured = run()
        return float(measured) if measured is not None else time.perf_counter() - start

    for _ in range(warmup):
        timed(run_a)
        timed(run_b)
    seconds_a, seconds_b = [], []
    for _ in range(repeats):
        seconds_a.append(timed(run_a))
        seconds_b.append(timed(run_b))
    return Comparison(name_a, name_b, seconds_a, seconds_b)


def report(title: str, comparison: Comparison, goal: str, unit: str = "s",
           scale: float = 1.0, extra: str = "") -> str:
    """Prints and returns the benchmark's summary: machine, command, medians, ratio, goal."""
    def fmt(values):
        return ", ".join(f"{v * scale:.4g}" for v in values)

    lines = [
        f"== {title}",
        f"machine: {machine_description()}",
        f"command: {command_line()}",
        f"{comparison.name_a}: median {comparison.median_a * scale:.4g} {unit} "
        f"(runs: {fmt(comparison.seconds_a)})",
        f"{comparison.name_b}: median {comparison.median_b * scale:.4g} {unit} "
        f"(runs: {fmt(comparison.seconds_b)})",
        f"ratio {comparison.name_a} / {comparison.name_b} = {comparison.ratio:.3f}  "
        f"(goal: {goal})",
    ]
    if extra:
        lines.append(extra)
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def set_threads(threads: int | None) -> None:
    """Pins TensorFlow's intra-op and inter-op thread pools (before any op runs)."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _positive(text: str) -> int:
    value = int(text) if text.strip().lstrip("-").isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    value = int(text) if text.strip().lstrip("-").isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def arguments(doc: str, repeats: int | None = 5, warmup: int | None = 1,
              threads: int | None = None, smoke: str | None = "tiny sizes: checks it runs",
              repeats_help: str = "timed runs per side") -> argparse.ArgumentParser:
    """The argument parser every benchmark starts from: its docstring's first paragraph as
    description, ``--repeats`` and ``--warmup`` (unless None), ``--threads`` (None: TensorFlow's
    default) and ``--smoke`` (unless None), checked (a bad value is a one-line usage error)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if repeats is not None:
        parser.add_argument("--repeats", type=_positive, default=repeats, help=repeats_help)
    if warmup is not None:
        parser.add_argument("--warmup", type=_non_negative, default=warmup,
                            help="untimed runs per side first")
    parser.add_argument("--threads", type=_positive, default=threads,
                        help="intra-op and inter-op threads (default: "
                             + (f"{threads})" if threads else "TensorFlow's)"))
    if smoke is not None:
        parser.add_argument("--smoke", action="store_true", help=smoke)
    return parser
