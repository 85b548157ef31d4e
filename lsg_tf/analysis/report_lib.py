"""Every analysis on a list of runs, and the side-by-side report (library of ``lsg_tf.report``).

:func:`analyse_runs` loads each run folder (:func:`lsg_tf.run_io.read_run`), runs one
inference pass over the shared test images (:func:`lsg_tf.core.features.pooled_features_and_logits`)
and evaluates every analysis of :mod:`lsg_tf.analysis` on the cached pooled features and the
weights. :func:`write_report` turns the result into ``report.md``, ``report.json`` and PNG
figures. Analyses that need a gate use the run's trained gate, or for an STD run (whose gate
is never trained) the gate that minimises Φ. :func:`comparisons` gives every gated run's
difference to the STD run with a paired bootstrap interval over the test images.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from lsg_tf.analysis import (
    clusters,
    correlation,
    filters_per_class,
    head,
    markdown,
    masking,
    metrics,
    mis,
    phi,
    report_intervals,
    similarity,
)
from lsg_tf.analysis.markdown import FIGURES, PAPER_TABLE1, PAPER_TABLE2  # noqa: F401  (API)
from lsg_tf.run_io import jsonable

REPORT_FILE = "report.md"
JSON_FILE = "report.json"
# Training settings worth showing (paths are left out: the report must not name machines).
_CONFIG_KEYS = ("dataset", "model", "scheme", "epochs", "batch_size", "train_subset",
                "test_subset", "optimizer", "learning_rate", "lr_schedule", "weight_decay",
                "period", "phase", "warmup_epochs", "lsg_weight", "sparsity_form",
                "sparsity_coefficient", "density_target", "gate_optimizer",
                "gate_learning_rate", "fixed_gate", "augment", "image_size", "seed")


@dataclasses.dataclass
class ReportOptions:
    """Parameters shared by every run of a report (identical for STD and LSG models).

    Attributes:
        phi_coefficient: ``a`` of Φ (raw units).
        phi_density_target: ``s / (C K)`` of Φ; None:
            :func:`lsg_tf.core.gate.default_density_target`.
        phi_steps, phi_learning_rate: Φ's Adam budget (all-ones start, full batch).
        mask_threshold: filters with ``G[c, k] >` this are masked for class c.
        mask_classes: class sets masked for Fig. 5 (the paper: {0} and {0, 5}).
        m: dominant filters per class for C_IC (6 for ResNet20, 25 for AlexNet).
        filter_threshold: h for counting the filters each class monopolises.
        redundancy_thresholds: thresholds of the redundancy curve (Fig. 7e).
        mis_max_examples: MIS on a seeded subset of this many images (None: all).
        seed: seed of MIS, k-means and subsampling.
        batch_size: inference batch size.
        bootstrap_resamples: resamples of the paired bootstrap of
            :func:`~lsg_tf.analysis.report_intervals.comparisons`.
        bootstrap_seed: its seed (fixed: the same report gives the same intervals).
    """

    phi_coefficient: float = 0.01
    phi_density_target: float | None = None
    phi_steps: int = 500
    phi_learning_rate: float = 0.1
    mask_threshold: float = 0.5
    mask_classes: tuple = ((0,), (0, 5))
    m: int = 6
    filter_threshold: float = 0.5
    redundancy_thresholds: tuple = tuple(round(0.05 * i, 2) for i in range(19))
    mis_max_examples: int | None = mis.DEFAULT_MAX_EXAMPLES
    seed: int = 0
    batch_size: int = 256
    bootstrap_resamples: int = 2000
    bootstrap_seed: int = 0

    def __post_init__(self):
        self.mask_classes = tuple(tuple(int(c) for c in s) for s in self.mask_classes)
        if any(not s for s in self.mask_classes):
            raise ValueError(f"mask_classes must be non-empty class sets, got {self.mask_classes}")
        if not 0 <= self.mask_threshold < 1:
            raise ValueError(f"mask_threshold must be in [0, 1), got {self.mask_threshold!r}")
        if not 0 < self.filter_threshold <= 1:
            raise ValueError(f"filter_threshold must be in (0, 1], got {self.filter_threshold!r}")
        if int(self.m) != self.m or self.m < 1:
            raise ValueError(f"m must be an integer >= 1, got {self.m!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        if int(self.bootstrap_resamples) != self.bootstrap_resamples \
                or self.bootstrap_resamples < 100:
            raise ValueError(f"bootstrap_resamples must be an integer >= 100, "
                             f"got {self.bootstrap_resamples!r}")


@dataclasses.dataclass
class TestData:
    """The test images every run is evaluated on.

    Attributes:
        images: uint8 ``[N, H, W, C]``; labels: int32 ``[N]``; class_names: C names.
        spec: how they were loaded (dataset, data_dir, image_size, test_subset, seed).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    spec: dict


@dataclasses.dataclass
class RunAnalysis:
    """Every analysis of one run (see the module of each field's type).

    ``c_ic`` is the ``cosine`` entry of ``c_ic_variants``
    (:data:`lsg_tf.analysis.correlation.C_IC_VARIANTS`). The last four fields are per-image
    values over the test images, for the intervals of :func:`comparisons` (left out of
    ``report.json``): ``correct`` (bool, STD path), ``masked_own`` and ``masked_others``
    (:func:`lsg_tf.analysis.masking.per_image_masking`, Fig. 5) and ``phi_per_image``
    (gated cross-entropy at Φ's gate plus Φ's sparsity term; its mean is Φ, Table 1).
    """

    name: str
    scheme: str
    config: dict
    training: dict
    gate_trained: bool
    trained_gate: np.ndarray
    analysis_gate: np.ndarray
    table1: metrics.Table1Row
    phi: phi.PhiResult
    timing: dict
    mis: mis.MISResult
    masking: list
    masking_sweep: masking.MaskingSweep
    similarity: similarity.SimilarityResult
    correlation: np.ndarray
    redundancy: np.ndarray
    dominant_filters: np.ndarray
    c_ic: float
    clusters: clusters.ClusterMatch
    filters_per_class: filters_per_class.FiltersPerClass
    filter_order: np.ndarray
    c_ic_variants: dict = dataclasses.field(default_factory=dict)
    correct: np.ndarray | None = dataclasses.field(default=None, repr=False)
    masked_own: np.ndarray | None = dataclasses.field(default=None, repr=False)
    masked_others: np.ndarray | None = dataclasses.field(default=None, repr=False)
    phi_per_image: np.ndarray | None = dataclasses.field(default=None, repr=False)


# RunAnalysis fields holding per-image values, not results (left out of report.json).


@dataclasses.dataclass
class Report:
    """The analyses of several runs on the same test data."""

    runs: list
    data: TestData
    options: ReportOptions


# --------------------------------------------------------------------------- data
def data_spec(config: dict, test_subset: int | None = None, data_dir: str | None = None,
              cache_dir: str | None = None) -> dict:
    """The test data of a run's ``config.json``, with optional overrides."""
    image_size = config.get("image_size")
    return {
        "dataset": config.get("dataset", "fashion_mnist"),
        "data_dir": data_dir if data_dir is not None else config.get("data_dir"),
        "cache_dir": cache_dir if cache_dir is not None else config.get("cache_dir"),
        "image_size": image_size,
        "test_subset": test_subset if test_subset is not None else config.get("test_subset"),
        "seed": int(config.get("seed", 0)),
    }


def load_test_data(spec: dict) -> TestData:
    """Loads the test split named by :func:`data_spec` (stratified subset if requested)."""
    from lsg_tf import data

    size = spec["image_size"]
    splits = data.load_dataset(spec["dataset"], data_dir=spec["data_dir"],
                               image_size=(size, size) if size else None,
                               cache_dir=spec["cache_dir"])
    splits = data.apply_subsets(splits, None, spec["test_subset"], spec["seed"])
    return TestData(images=splits.x_test, labels=splits.y_test,
                    class_names=tuple(splits.class_names), spec=dict(spec))


# ----------------------------------------------------------------------- analyses
def analyse_model(model, test: TestData, trained_gate: np.ndarray, gate_trained: bool,
                  options: ReportOptions | None = None, name: str = "model",
                  log: Callable[[str], None] | None = None) -> RunAnalysis:
    """Runs every analysis on one model.

    Args:
        model: an :class:`~lsg_tf.core.model.LSGModel`.
        test: the test data.
        trained_gate: the model's gate ``[C, K]``.
        gate_trained: False for an STD model: its analyses then use Φ's gate.
        options: shared parameters.
        name: label of progress messages.
        log: progress messages sink (default: stderr).

    Returns:
        A :class:`RunAnalysis` (``config``/``training`` left empty).
    """
    from lsg_tf.core import features

    options = options or ReportOptions()
    log = log or _stderr
    labels = np.asarray(test.labels)
    num_classes = len(test.class_names)
    if model.num_classes != num_classes:
        raise ValueError(f"run {name!r} has {model.num_classes} classes, the test data "
                         f"{test.spec.get('dataset')!r} has {num_classes}")
    outside = sorted({c for s in options.mask_classes for c in s if c >= num_classes})
    if outside:
        raise ValueError(f"mask_classes name classes {outside} outside [0, {num_classes}); "
                         "choose class sets of this dataset (--mask_classes)")
    log(f"{name}: inference pass over {len(labels)} test images")
    start = time.perf_counter()
    pooled, logits = features.pooled_features_and_logits(
        model, test.images, options.batch_size, progress=f"{name} features")
    inference_seconds = time.perf_counter() - start
    kernel, bias = head.classifier_weights(model)
    predictions = logits.argmax(axis=1)

    log(f"{name}: Φ ({options.phi_steps} Adam steps on cached features)")
    phi_result = phi.filter_ambiguity(
        pooled, labels, kernel, bias, coefficient=options.phi_coefficient,
        density_target=options.phi_density_target, steps=options.phi_steps,
        learning_rate=options.phi_learning_rate)
    trained_gate = np.asarray(trained_gate, dtype=np.float32)
    gate = trained_gate if gate_trained else phi_result.gate
    table1 = metrics.table1_row(logits, labels, trained_gate, phi_result, gate_trained)
    timing = {
        "num_images": int(len(labels)),
        "inference_seconds": inference_seconds,
        "phi_optimisation_seconds": phi_result.seconds,
        # Φ alone = its own pooled-feature pass (the inference pass) + the optimisation.
        "phi_to_inference_ratio": (inference_seconds + phi_result.seconds) / inference_seconds,
    }

    log(f"{name}: MIS")
    mis_result = mis.mutual_information_score(
        pooled, labels, num_classes, seed=options.seed, max_examples=options.mis_max_examples,
        progress=f"{name} MIS")
    log(f"{name}: masking, similarity, correlation, clusters")
    masked = [masking.mask_filters(pooled, labels, kernel, bias, gate, classes,
                                   options.mask_threshold)
              for classes in options.mask_classes]
    sweep = masking.masking_sweep(pooled, labels, kernel, bias, gate, options.mask_threshold)
    masked_own, masked_others = masking.per_image_masking(sweep.correct, labels)
    # Φ per image: cross-entropy of the gated logits (a ⊙ G[y]) W + b at Φ's gate + sparsity.
    phi_per_image = metrics.per_image_cross_entropy(
        head.logits(pooled, kernel, bias, phi_result.gate[labels]), labels) + phi_result.sparsity
    sim = similarity.feature_gate_similarity(pooled, labels, predictions, gate)
    dominant = correlation.dominant_filters(pooled, labels, num_classes,
                                            min(options.m, pooled.shape[1]))
    try:
        filters = correlation.last_filters(model)
        corr = correlation.filter_correlation(filters)
        redundancy = correlation.redundancy_curve(corr, options.redundancy_thresholds)
        c_ic_variants = correlation.inter_class_correlation_variants(filters, dominant)
    except correlation.NoFilterWeights as e:  # n/a (NaN, shown as missing), never a zero
        log(f"{name}: {e}")
        corr = np.full((pooled.shape[1],) * 2, np.nan)
        redundancy = np.full(len(options.redundancy_thresholds), np.nan)
        c_ic_variants = dict.fromkeys(correlation.C_IC_VARIANTS, np.nan)
    cluster = clusters.cluster_centres(pooled, gate, labels, seed=options.seed)
    return RunAnalysis(
        name=name, scheme="", config={}, training={}, gate_trained=bool(gate_trained),
        trained_gate=trained_gate, analysis_gate=np.asarray(gate, dtype=np.float32),
        table1=table1, phi=phi_result, timing=timing, mis=mis_result, masking=masked,
        masking_sweep=sweep, similarity=sim, correlation=corr, redundancy=redundancy,
        dominant_filters=dominant, c_ic=c_ic_variants["cosine"],
        clusters=cluster,
        filters_per_class=filters_per_class.filters_per_class(gate, options.filter_threshold),
        filter_order=correlation.filter_order(gate),
        c_ic_variants=c_ic_variants,
        correct=predictions == labels, masked_own=masked_own, masked_others=masked_others,
        phi_per_image=phi_per_image)


def analyse_runs(run_dirs: Sequence[str], names: Sequence[str] | None = None,
                 options: ReportOptions | None = None, test_subset: int | None = None,
                 data_dir: str | None = None, cache_dir: str | None = None,
                 log: Callable[[str], None] | None = None) -> Report:
    """Analyses finished run folders on the same test data.

    The test data is the first run's (``config.json``: dataset, data_dir, image_size,
    test_subset, seed) with the given overrides; every run must use the same dataset.

    Raises:
        ValueError: no run, names of the wrong count or repeated, runs on different datasets.
        FileNotFoundError: a run folder is incomplete.
    """
    from lsg_tf import load_model, run_io

    if not run_dirs:
        raise ValueError("need at least one run folder (--run)")
    runs = [run_io.read_run(d) for d in run_dirs]
    names = list(names) if names else [r.name for r in runs]
    if len(names) != len(runs):
        raise ValueError(f"got {len(names)} names for {len(runs)} runs; give one name per run")
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got {names}; pass distinct --names")
    first = data_spec(runs[0].config, test_subset, data_dir, cache_dir)
    for run, name in zip(runs[1:], names[1:]):
        spec = data_spec(run.config)
        for key in ("dataset", "image_size"):
            if spec[key] != first[key]:
                raise ValueError(f"run {name!r} was trained on {key}={spec[key]!r}, run "
                                 f"{names[0]!r} on {first[key]!r}; a report compares runs on "
                                 f"one dataset")
    options = options or ReportOptions()
    log = log or _stderr
    log(f"loading test data: {first['dataset']}, test_subset={first['test_subset']}")
    test = load_test_data(first)
    analyses = []
    for index, (run, name) in enumerate(zip(runs, names)):
        log(f"[{index + 1}/{len(runs)}] {name} ({run.scheme})")
        model = load_model(run.model_path)
        gate_trained = run.scheme != "std"  # an STD run never uses its gate, fixed or not
        result = analyse_model(model, test, run.gate, gate_trained, options, name, log)
        result.scheme = run.scheme
        result.config = _public_config(run.config)
        result.training = {k: run.metrics.get(k) for k in
                           ("test/accuracy", "test/cross_entropy", "gate_density",
                            "wall_time_seconds", "num_train", "num_test", "epochs",
                            "gate_target")}
        analyses.append(result)
    return Report(runs=analyses, data=test, options=options)


# ------------------------------------------------------------------------ writing
def report_json(report: Report, command: str = "", compared: list | None = None) -> dict:
    """Every number of the report as JSON-ready data (NaN and inf become null).

    Top-level keys: ``command``, ``data``, ``options``, ``paper``, ``runs`` (one dict per
    :class:`RunAnalysis`, per-image values left out, with ``c_ic_variants``: C_IC under each
    reading of :data:`lsg_tf.analysis.correlation.C_IC_VARIANTS`) and ``comparisons``: one
    dict per gated run and metric against the STD run (:func:`comparisons`; ``compared``
    if given), empty without a run of scheme "std"::

        {"metric": "accuracy" | "phi" | "masked_class_recall" | "other_classes_recall",
         "run": <gated run name>, "baseline": <STD run name>,
         "lsg": <mean over images, gated run>, "std": <same, STD run>,
         "difference": lsg - std, "low": <2.5 % bound>, "high": <97.5 % bound>,
         "claim": "higher" | "lower" (the paper's direction of lsg - std),
         "verdict": "reproduces" | "does not reproduce" | "inconclusive",
         "method": "paired bootstrap over N test images, R resamples[, caveat]"}
    """
    if compared is None:
        compared = report_intervals.comparisons(report)
    runs = []
    for run in report.runs:
        item = dataclasses.asdict(run)
        for key in report_intervals.PER_IMAGE_FIELDS:  # per-image data, not results
            item.pop(key)
        item["masking_sweep"].pop("correct")
        for result in item["masking"]:
            result.pop("correct")
        item["clusters"].pop("assignments")  # per-image data, not a result
        item["redundancy"] = {"thresholds": list(report.options.redundancy_thresholds),
                              "fraction_above": run.redundancy}
        runs.append(item)
    spec = {k: v for k, v in report.data.spec.items() if k not in ("data_dir", "cache_dir")}
    return jsonable({
        "command": command,
        "data": {**spec, "num_images": int(len(report.data.labels)),
                 "class_names": list(report.data.class_names)},
        "options": dataclasses.asdict(report.options),
        "paper": {"table1": PAPER_TABLE1, "table2_c_ic": PAPER_TABLE2},
        "runs": runs,
        "comparisons": compared,
    }, finite=True, significant=6)


def dump_json(data: dict) -> str:
    """JSON text with one line per key and each list of numbers on one line."""
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False)
    number = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|null"
    flat = re.compile(r"\[\s*((?:(?:%s),\s*)*(?:%s))\s*\]" % (number, number))
    return flat.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text) + "\n"


def write_report(report: Report, out_dir: str, command: str = "") -> dict:
    """Writes ``report.md``, ``report.json`` and the figures into ``out_dir``.

    Returns:
        ``{"report": path, "json": path, <figure key>: path, ...}``.
    """
    from lsg_tf import run_io
    from lsg_tf.core import plots

    os.makedirs(out_dir, exist_ok=True)
    paths = {"report": os.path.join(out_dir, REPORT_FILE),
             "json": os.path.join(out_dir, JSON_FILE)}
    from lsg_tf.analysis.figures import report_figures

    for key, figure in report_figures(report).items():
        paths[key] = os.path.join(out_dir, FIGURES[key])
        plots.save_figure(figure, paths[key])
    compared = report_intervals.comparisons(report)
    run_io.write_text(paths["json"], dump_json(report_json(report, command, compared)))
    run_io.write_text(paths["report"], markdown.report_markdown(report, command, compared))
    return paths


def _public_config(config: dict) -> dict:
    public = {k: config.get(k) for k in _CONFIG_KEYS if k in config}
    if isinstance(public.get("fixed_gate"), str) and public["fixed_gate"].endswith(".npy"):
        public["fixed_gate"] = os.path.basename(public["fixed_gate"])
    return public


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
