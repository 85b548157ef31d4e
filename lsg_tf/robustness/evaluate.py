"""Evaluates several runs on the same images and targets: Tables 4 and 5 of the paper.

:func:`evaluate_runs` reads the run folders, loads their (shared) data set once, draws every
image set once (stratified, seeded, from one split) and the PGD target permutation once, then
for each run:

* clean accuracy on the test split (Table 5, "No Attack");
* at every ε of ``pgd.eps``: targeted L∞ PGD on the detection pool (or on ``pgd.images`` test
  images without detection) and the detection protocol of Table 4 on conv-layer features of
  the pool and its PGD versions, with the baseline detectors on the same splits;
* the one-pixel and local-search attacks on correctly classified images (Table 5);

and, across runs, every LSG − STD difference with its 95% interval
(:mod:`lsg_tf.robustness.intervals`). It returns plain numbers (JSON-ready) plus, under each
run's ``"arrays"`` key, the per-image values, example images and ROC curves that the
intervals and :mod:`lsg_tf.robustness.attack_report` use.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from lsg_tf import data, load_model, run_io
from lsg_tf.core import features
from lsg_tf.robustness import (
    art_wrapper,
    batched_pixel,
    black_box,
    detector,
    intervals,
    local_search,
    pgd,
    radii,
)
from lsg_tf.robustness.protocol import DetectionProtocol, run_detectors, sample_pool

ATTACKS = ("pgd", "pixel", "local_search")
SPLITS = ("test", "train")


def _positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


@dataclasses.dataclass(frozen=True)
class PGDConfig:
    """Targeted L∞ PGD (section 4.5: ε = 0.3, 40 iterations), at one or several ε.

    ``eps`` is one radius or a sweep (default :data:`~lsg_tf.robustness.radii.EPS_SWEEP`;
    Table 4 is measured at every ε). The step is
    ``eps_step`` when given (the same for every ε), else ``2.5 ε / max_iter`` (Madry et al.,
    2018), so a sweep's steps scale with ε. ``images`` test images are attacked only when
    detection is off (with detection, PGD runs on the detection pool).
    """

    eps: float | tuple = radii.EPS_SWEEP
    eps_step: float | None = None
    max_iter: int = 40
    batch_size: int = 128
    images: int = 500

    def __post_init__(self):
        _positive_int("pgd images", self.images)
        values = tuple(float(e) for e in np.atleast_1d(self.eps))
        steps = values + (() if self.eps_step is None else (float(self.eps_step),))
        if not values or not all(math.isfinite(e) and 0 < e <= 1 for e in steps):
            raise ValueError(f"pgd eps and eps_step must be in {radii.EPS_RANGE} (images are in "
                             f"[0, 1]), got {self.eps}, {self.eps_step}")
        if len(set(values)) != len(values):
            raise ValueError(f"pgd eps lists a radius twice: {list(values)}")
        object.__setattr__(self, "eps", values)
        _positive_int("pgd max_iter", self.max_iter)
        _positive_int("pgd batch_size", self.batch_size)

    def step(self, eps: float) -> float:
        """The step size at radius ``eps``."""
        return float(self.eps_step) if self.eps_step is not None else \
            radii.scaled_step(eps, self.max_iter)


@dataclasses.dataclass(frozen=True)
class PixelConfig:
    """One-pixel attack budget (Su et al.: population 400, 100 generations)."""

    images: int = 100
    pixels: int = 1
    max_iter: int = 100
    population: int = 400

    def __post_init__(self):
        for name in ("images", "pixels", "max_iter", "population"):
            _positive_int(f"pixel {name}", getattr(self, name))


@dataclasses.dataclass(frozen=True)
class LocalSearchConfig:
    """Local-search attack parameters (see :class:`~.local_search.LocalSearchAttack`)."""

    images: int = 100
    p: float = 10.0
    r: float = 1.5
    d: int = 5
    t: int = 5
    k: int = 1
    rounds: int = 150
    max_candidates: int | None = None

    def __post_init__(self):
        _positive_int("local_search images", self.images)
        local_search.check_parameters(p=self.p, r=self.r, d=self.d, t=self.t, k=self.k,
                                      max_rounds=self.rounds, initial_fraction=0.1,
                                      max_candidates=self.max_candidates)


@dataclasses.dataclass(frozen=True)
class AttackEvalConfig:
    """Everything :func:`evaluate_runs` needs.

    Attributes:
        attacks: subset of ``ATTACKS``.
        detect: run the detection protocol of Table 4 (needs PGD, run whatever ``attacks``).
        pgd, detection, pixel, local_search: per-part settings.
        accuracy_images: test images for the clean accuracy (stratified); None: all.
        detection_split: split the detection pool is drawn from, "test" or "train".
        seed: seed of every image sample, the target permutation and the attacks.
        data_dir: overrides the runs' recorded data folder (data moved since training).
        examples: example images per attack and run for the figure.
        batch_size: batch size of feature extraction and accuracy.
    """

    attacks: tuple[str, ...] = ATTACKS
    detect: bool = True
    pgd: PGDConfig = PGDConfig()
    detection: DetectionProtocol = DetectionProtocol()
    pixel: PixelConfig = PixelConfig()
    local_search: LocalSearchConfig = LocalSearchConfig()
    accuracy_images: int | None = None
    detection_split: str = "test"
    seed: int = 0
    data_dir: str | None = None
    examples: int = 4
    batch_size: int = 256

    def __post_init__(self):
        attacks = tuple(self.attacks)
        unknown = [a for a in attacks if a not in ATTACKS]
        if unknown:
            raise ValueError(f"unknown attack(s) {unknown}; allowed: {list(ATTACKS)}")
        if len(set(attacks)) != len(attacks):
            raise ValueError(f"attacks lists an attack twice: {list(attacks)}")
        object.__setattr__(self, "attacks", attacks)
        if self.detection_split not in SPLITS:
            raise ValueError(f"detection_split must be one of {SPLITS}, got "
                             f"{self.detection_split!r}")
        _positive_int("accuracy_images", self.accuracy_images, allow_none=True)
        _positive_int("batch_size", self.batch_size)
        if isinstance(self.examples, bool) or int(self.examples) != self.examples or \
                self.examples < 0:
            raise ValueError(f"examples must be an integer >= 0, got {self.examples!r}")

    @property
    def runs_pgd(self) -> bool:
        return self.detect or "pgd" in self.attacks


def run_label(run: run_io.Run) -> str:
    """"STD" or "LSG-<scheme>", with the folder name when it adds information."""
    label = "STD" if run.scheme == "std" else f"LSG-{run.scheme}"
    return label if run.name.lower() in (run.scheme, label.lower()) else f"{label} ({run.name})"


def load_shared_dataset(runs: list[run_io.Run], data_dir: str | None = None) -> data.ImageSplits:
    """Loads the data set the runs were trained on (the full splits, no subsets).

    Raises:
        ValueError: the runs were trained on different data sets.
    """
    def key(run):
        c = run.config
        return c.get("dataset"), c.get("data_dir"), c.get("image_size")

    if len({key(r) for r in runs}) > 1:
        described = "; ".join(f"{r.name}: dataset={key(r)[0]!r} data_dir={key(r)[1]!r} "
                              f"image_size={key(r)[2]!r}" for r in runs)
        raise ValueError(f"runs must share one data set to be evaluated on the same images, "
                         f"got {described}")
    name, recorded_dir, size = key(runs[0])
    return data.load_dataset(name, data_dir=data_dir or recorded_dir,
                             image_size=(size, size) if size else None,
                             cache_dir=runs[0].config.get("cache_dir"))


def _stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    n = min(int(n), len(labels))
    return data.stratified_subset(np.arange(len(labels)), labels, n, seed)[0]


def _unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def _example_positions(labels: np.ndarray, count: int, rank: np.ndarray):
    """Up to ``count`` positions, lowest ``rank`` first (stable), distinct classes first."""
    order = np.argsort(rank, kind="stable")
    chosen, seen = [], set()
    for i in order:
        if labels[i] not in seen:
            chosen.append(i)
            seen.add(labels[i])
        if len(chosen) == count:
            return np.array(chosen, int)
    rest = [i for i in order if i not in chosen][:count - len(chosen)]
    return np.array(chosen + rest, int)


def _black_box_record(result: black_box.BlackBoxResult, indices: np.ndarray) -> dict:
    record = result.summary()
    record["per_image"] = {
        "index": indices.tolist(),
        "label": result.labels.tolist(),
        "attempted": result.attempted.tolist(),
        "success": result.success.tolist(),
        "adv_label": result.adv_predictions.tolist(),
        "queries": result.queries.tolist(),
        "seconds": np.round(result.seconds, 4).tolist(),
        "changed_pixels": result.changed.tolist(),
    }
    return record


def _examples(x, x_adv, labels, adv_labels, success, attempted, count):
    """Example pairs for the figure: successes first, then failures, then images not attacked."""
    rank = np.where(success, 0, np.where(attempted, 1, 2))
    positions = _example_positions(labels, count, rank)
    return {"clean": x[positions], "adv": x_adv[positions], "labels": labels[positions],
            "adv_labels": adv_labels[positions], "success": success[positions],
            "attempted": attempted[positions]}


def evaluate_runs(run_dirs: list[str], config: AttackEvalConfig = AttackEvalConfig(),
                  progress: bool = True, log=None) -> dict:
    """Evaluates every run on the same images and targets.

    Args:
        run_dirs: finished run folders (:func:`lsg_tf.run_io.read_run`), trained on one data
            set.
        config: what to run and how much.
        progress: show progress bars.
        log: called with one line of text as each part of a run finishes (e.g. ``print``
            where progress bars are off), or ``None``.

    Returns:
        A dict: ``"config"`` (the settings), ``"data"`` (data set, split and image counts),
        ``"runs"`` (one dict per run: ``name``, ``label``, ``scheme``, ``clean_accuracy``,
        ``sweep`` (one dict per ε: ``eps``, ``eps_step``, ``pgd``, ``detection``),
        ``pixel``, ``local_search`` as run, ``seconds`` per part, and
        ``arrays`` with per-image values, example images and ROC curves, not
        JSON-serialisable), ``"comparisons"`` (:func:`lsg_tf.robustness.intervals.comparisons`)
        and ``"wall_time_seconds"``.

    Raises:
        ValueError: no runs, runs of different data sets, or a model that does not fit the
            data (image shape or class count).
        FileNotFoundError: an unfinished run folder.
    """
    start = time.perf_counter()
    if not run_dirs:
        raise ValueError("run_dirs is empty; pass at least one run folder")
    runs = [run_io.read_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run folder names must be distinct (they label the tables), got {names}")
    splits = load_shared_dataset(runs, config.data_dir)
    num_classes = splits.num_classes
    seed = config.seed
    permutation = pgd.derangement(num_classes, seed)

    # Every image set is drawn once, so all runs see the same images and targets.
    pool_split = config.detection_split if config.detect else "test"
    pool_x_all = splits.x_test if pool_split == "test" else splits.x_train
    pool_y_all = splits.y_test if pool_split == "test" else splits.y_train
    if config.detect:
        pool_index = sample_pool(pool_y_all, config.detection.pool_size_per_class, num_classes,
                                 seed)
    else:
        pool_index = _stratified_indices(pool_y_all, config.pgd.images, seed + 1)
    pool_x, pool_y = _unit(pool_x_all[pool_index]), pool_y_all[pool_index]
    targets = pgd.pgd_targets(pool_y, permutation)
    pixel_index = _stratified_indices(splits.y_test, config.pixel.images, seed + 2)
    search_index = _stratified_indices(splits.y_test, config.local_search.images, seed + 3)
    accuracy_index = (np.arange(len(splits.y_test)) if config.accuracy_images is None
                      else _stratified_indices(splits.y_test, config.accuracy_images, seed + 4))

    results = {
        "config": _config_dict(config),
        "data": {
            "dataset": splits.name,
            "image_shape": list(splits.image_shape),
            "num_classes": num_classes,
            "class_names": list(splits.class_names),
            "accuracy_images": int(len(accuracy_index)),
            "pgd_pool_split": pool_split,
            "pgd_pool_images": int(len(pool_index)),
            "pgd_pool_index": pool_index.tolist(),
            "pixel_images": int(len(pixel_index)),
            "local_search_images": int(len(search_index)),
            "target_permutation": permutation.tolist(),
        },
        "runs": [],
    }
    for run in runs:
        results["runs"].append(_evaluate_run(
            run, config, splits, pool_x, pool_y, targets, pixel_index, search_index,
            accuracy_index, progress, log or (lambda line: None)))
    results["comparisons"] = intervals.comparisons(results)
    results["wall_time_seconds"] = time.perf_counter() - start
    return results


def _evaluate_run(run, config, splits, pool_x, pool_y, targets, pixel_index, search_index,
                  accuracy_index, progress, log) -> dict:
    tag = run.name
    model = load_model(run.model_path)
    expected = (tuple(splits.image_shape), splits.num_classes)
    found = (tuple(model.backbone.input_shape[1:]), model.num_classes)
    if found != expected:
        raise ValueError(f"run {run.name!r}: model takes images {found[0]} with {found[1]} "
                         f"classes, data set {splits.name!r} has {expected[0]} with "
                         f"{expected[1]} classes")
    out = {"name": run.name, "label": run_label(run), "scheme": run.scheme,
           "run_test_accuracy": run.metrics.get("test/accuracy"),
           "gate_density": run.metrics.get("gate_density"), "seconds": {}, "arrays": {}}
    seconds = out["seconds"]

    t0 = time.perf_counter()
    _, logits = features.pooled_features_and_logits(
        model, splits.x_test[accuracy_index], batch_size=config.batch_size,
        progress=f"{tag}: accuracy" if progress else None)
    out["arrays"]["correct"] = np.argmax(logits, 1) == splits.y_test[accuracy_index]
    out["clean_accuracy"] = float(np.mean(out["arrays"]["correct"]))
    seconds["accuracy"] = time.perf_counter() - t0
    log(f"{tag}: clean accuracy {out['clean_accuracy']:.4f} ({seconds['accuracy']:.0f} s)")

    # One classifier per output kind and run: each holds compiled functions.
    white_box = art_wrapper.make_classifier(model, "logits")
    black_box_classifier = art_wrapper.make_classifier(model, "probabilities")
    if config.runs_pgd:
        out["sweep"] = []
        out["arrays"].update(roc=[], detection_scores=[], detector_scores=[])
        extract, readout = detector.detector_inputs(
            model, config.batch_size, progress=f"{tag}: features" if progress else None,
            baselines=config.detection.baselines)
        correct = art_wrapper.predict_labels(white_box, pool_x) == pool_y
        clean_features = None
        if config.detect:
            t0 = time.perf_counter()
            clean_features = extract(pool_x)
            seconds["features"] = time.perf_counter() - t0
        for eps in config.pgd.eps:
            t0 = time.perf_counter()
            out["sweep"].append(_pgd_and_detection(
                white_box, extract, eps, config, pool_x, pool_y, targets, correct,
                clean_features, readout, out["arrays"], seconds,
                f"{tag}: ε={radii.eps_label(eps)}" if progress else None))
            log(f"{tag}: PGD{' and detection' if config.detect else ''} at "
                f"ε={radii.eps_label(eps)} ({time.perf_counter() - t0:.0f} s)")

    black_boxes = []
    if "pixel" in config.attacks:
        c = config.pixel
        black_boxes.append(("pixel", pixel_index,
                            lambda clf: batched_pixel.make_batched_pixel_attack(
                                clf, pixels=c.pixels, max_iter=c.max_iter,
                                population=c.population, seed=config.seed)))
    if "local_search" in config.attacks:
        s = config.local_search
        black_boxes.append(("local_search", search_index, lambda clf: local_search.
                            LocalSearchAttack(clf, p=s.p, r=s.r, d=s.d, t=s.t, k=s.k,
                                              max_rounds=s.rounds,
                                              max_candidates=s.max_candidates,
                                              seed=config.seed)))
    for name, index, make in black_boxes:
        t0 = time.perf_counter()
        classifier = black_box_classifier
        x, y = _unit(splits.x_test[index]), splits.y_test[index]
        result = black_box.run_black_box_attack(
            name, make(classifier), classifier, x, y,
            progress=f"{tag}: {name}" if progress else None)
        seconds[name] = time.perf_counter() - t0
        out[name] = _black_box_record(result, index)
        log(f"{tag}: {name} {out[name]['successes']}/{out[name]['attempts']} successes "
            f"({seconds[name]:.0f} s)")
        if config.examples:
            out["arrays"][name] = _examples(x, result.x_adv, y, result.adv_predictions,
                                            result.success, result.attempted, config.examples)
    seconds["total"] = float(sum(seconds.values()))
    return out


def _pgd_and_detection(classifier, extract, eps, config, pool_x, pool_y, targets, correct,
                       clean_features, readout, arrays, seconds, progress) -> dict:
    """Targeted PGD on the pool at radius ``eps`` and, with detection, Table 4's protocol
    (every detector) on the features of the pool and its PGD versions. Appends ROC curves and
    detector scores to ``arrays`` (lists, one entry per ε); adds wall times to ``seconds``."""
    p = config.pgd
    t0 = time.perf_counter()
    result = pgd.targeted_pgd(classifier, pool_x, targets, eps=eps, eps_step=p.step(eps),
                              max_iter=p.max_iter, batch_size=p.batch_size,
                              progress=f"{progress} PGD" if progress else None)
    seconds["pgd"] = seconds.get("pgd", 0.0) + time.perf_counter() - t0
    summary = result.summary(pool_y)
    summary["clean_accuracy_on_pool"] = float(correct.mean())
    summary["target_hit_rate_correct"] = (float(result.target_hit[correct].mean())
                                          if correct.any() else float("nan"))
    summary["target_hits"] = int(result.target_hit.sum())
    entry = {"eps": float(eps), "eps_step": p.step(eps), "pgd": summary}
    if config.examples and eps == max(p.eps):
        arrays["pgd"] = _examples(pool_x, result.x_adv, pool_y, result.predictions,
                                  result.target_hit, np.ones(len(pool_y), bool), config.examples)
    if config.detect:
        t0 = time.perf_counter()
        adv_features = extract(result.x_adv)
        seconds["features"] = seconds.get("features", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        detection = run_detectors(clean_features, adv_features, pool_y, config.detection,
                                  readout, progress=f"{progress} detector" if progress else None)
        seconds["detection"] = seconds.get("detection", 0.0) + time.perf_counter() - t0
        arrays["roc"].append(detection.pop("roc"))
        arrays["detection_scores"].append(detection.pop("scores"))
        arrays["detector_scores"].append(detection.pop("detector_scores"))
        detection["feature_dim"] = int(clean_features["conv"].shape[1])
        entry["detection"] = detection
    return entry


def _config_dict(config: AttackEvalConfig) -> dict:
    out = dataclasses.asdict(config)
    out["attacks"] = list(config.attacks)
    out.pop("data_dir")  # a machine path; the data set is named under "data"
    out["pgd"]["eps"] = list(config.pgd.eps)
    out["pgd"]["eps_step"] = [config.pgd.step(e) for e in config.pgd.eps]
    out["detection"]["pool_size_per_class"] = config.detection.pool_size_per_class
    return out
