"""The paper's CIFAR-10 experiments end to end: train, analyse, attack, localize, write a page.

:func:`reproduce` trains STD, LSG with Algorithm 1's alternating schedule and LSG with the
footnote-1 joint scheme (plus, optionally, the ``a = 0`` ablation of Fig. 4b and the fixed
gate of appendix C) with identical data, seed, optimiser, learning-rate schedule and
:class:`Budget`; then runs the report (Tables 1-2, masking), the adversarial evaluation
(Tables 4-5) and localization on MSRC-v2 photos (Table 3's shape) on all of them, and writes
``README.md`` with :mod:`lsg_tf.results_page`.

Every stage is resumable: a training run continues from its last checkpoint, and an analysis
stage is skipped when ``stages.json`` records it complete for the same runs and budget and
its output file exists. ``python -m lsg_tf.reproduce`` is the command-line front end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time

from lsg_tf import recipes, run_io

STAGES_FILE = "stages.json"
REPORT_DIR = "report"
ATTACK_DIR = "attack_eval"
LOCALIZATION_DIR = "localization"

# ResNet20 has K = 64 top filters; with C = 10 classes: 6 filters per class and 4 shared.
FIXED_GATE_SPEC = "6,4"

# Training overrides of each variant; everything else is shared.
VARIANTS = {
    "std": {"scheme": "std"},
    "alternate": {"scheme": "alternate"},
    "joint": {"scheme": "joint"},
    "alternate_a0": {"scheme": "alternate", "sparsity_coefficient": 0.0},
    "fixed_gate": {"scheme": "alternate", "fixed_gate": FIXED_GATE_SPEC},
}
MAIN_VARIANTS = ("std", "alternate", "joint")
ABLATIONS = ("alternate_a0", "fixed_gate")
LABELS = {"std": "STD", "alternate": "LSG-alternate", "joint": "LSG-joint",
          "alternate_a0": "LSG-alternate a=0", "fixed_gate": "LSG fixed gate"}


@dataclasses.dataclass(frozen=True)
class Budget:
    """Everything that sizes the experiments; the same for every model.

    Training follows ``cifar.flags`` (the paper's section 4 setting: ResNet20, SGD momentum
    0.9, lr 0.1, λ = 1, a = 0.01, gate by Adam lr 0.01, with the library's recipe
    :data:`lsg_tf.recipes.DEFAULT`); the budget sets the data, epochs, batch and schedule,
    and the sample counts of the analyses.
    """

    name: str
    train_subset: int | None  # stratified, seeded; None = all
    test_subset: int | None
    epochs: int
    batch_size: int
    lr_schedule: str
    model: str = "resnet20"
    # Report (section 4.1-4.3).
    phi_steps: int = 500
    mis_max_examples: int | None = 5000
    # Attacks (section 4.5, appendix F).
    detect_train_per_class: tuple = (100, 500, 1000)
    detect_test_per_class: int = 100
    detect_repeats: int = 5
    pgd_iter: int = 40
    pixel_images: int = 100
    pixel_iter: int = 100
    pixel_population: int = 400
    ls_images: int = 100
    ls_max_candidates: int | None = None
    ls_rounds: int = 150
    # Localization: the first this many photos with a mapped class (None = all).
    localization_max_images: int | None = None

    def describe(self) -> str:
        subset = (f"a stratified {self.train_subset:,}-image training subset (seed 0)"
                  if self.train_subset else "the full training set")
        test = f"a {self.test_subset:,}-image test subset" if self.test_subset \
            else "the full test set"
        return (f"{self.model}, {subset}, {test}, {self.epochs} epochs, batch "
                f"{self.batch_size}, lr schedule {self.lr_schedule}; detection with "
                f"{'/'.join(str(n) for n in self.detect_train_per_class)} training and "
                f"{self.detect_test_per_class} test images per class, {self.detect_repeats} "
                f"repeats, PGD ε = 0.3 with {self.pgd_iter} iterations; one-pixel attack on "
                f"{self.pixel_images} images ({self.pixel_iter} generations × "
                f"{self.pixel_population}); local search on {self.ls_images} images"
                + (f" (at most {self.ls_max_candidates} candidates per round)"
                   if self.ls_max_candidates else "")
                + f", {self.ls_rounds} rounds; Φ with {self.phi_steps} Adam steps; MIS on "
                + (f"{self.mis_max_examples:,} test images" if self.mis_max_examples
                   else "all test images"))


BUDGETS = {
    # About an hour and a half on a 2-core CPU for the five models and every analysis.
    "cpu": Budget(name="cpu", train_subset=20000, test_subset=None, epochs=15, batch_size=128,
                  lr_schedule="cosine", detect_train_per_class=(20, 50, 100),
                  detect_test_per_class=50, detect_repeats=3, pixel_images=25, pixel_iter=10,
                  pixel_population=200, ls_images=40, ls_max_candidates=128),
    # The paper's setting (section 4 and appendix F), for a GPU.
    "paper": Budget(name="paper", train_subset=None, test_subset=None, epochs=150,
                    batch_size=256, lr_schedule="step", mis_max_examples=None),
}


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where the CIFAR-10 data and the localization photos are."""

    dataset: str = "image_folder"  # or "cifar10" (TFDS)
    data_dir: str | None = None
    cache_dir: str | None = None
    voc_dir: str | None = None  # VOC-layout MSRC-v2; None skips localization


def train_config(budget: Budget, variant: str, runs_dir: str, source: DataSource):
    """The :class:`~lsg_tf.training.TrainConfig` of one variant under ``budget``."""
    from lsg_tf.training import TrainConfig

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    settings = dict(
        output_dir=os.path.join(runs_dir, variant), dataset=source.dataset,
        data_dir=source.data_dir, cache_dir=source.cache_dir, model=budget.model,
        train_subset=budget.train_subset, test_subset=budget.test_subset,
        epochs=budget.epochs, batch_size=budget.batch_size, optimizer="sgd",
        learning_rate=0.1, momentum=0.9, lr_schedule=budget.lr_schedule,
        period=3, phase=1, lsg_weight=1.0, sparsity_form="abs", sparsity_coefficient=0.01,
        density_target=0.15, gate_optimizer="adam", gate_learning_rate=0.01, seed=0,
        verbose=2, export_dir=None)
    # The recipe (warm-up, Nesterov, weight decay, initialisation) is the library's; the
    # budget sets the schedule's shape.
    settings.update({k: v for k, v in recipes.DEFAULT.items() if k != "lr_schedule"})
    settings.update(VARIANTS[variant])
    return TrainConfig(**settings)


class StageLog:
    """``stages.json``: which stages are complete, for which inputs, and their wall time."""

    def __init__(self, out_dir: str):
        self.path = os.path.join(out_dir, STAGES_FILE)
        self.records = run_io.read_json(self.path) if os.path.exists(self.path) else {}

    def done(self, stage: str, key: str, output: str | None = None) -> bool:
        record = self.records.get(stage)
        return bool(record and record.get("key") == key
                    and (output is None or os.path.exists(output)))

    def record(self, stage: str, key: str, seconds: float) -> None:
        self.records[stage] = {"key": key, "seconds": round(float(seconds), 1)}
        run_io.write_json(self.path, self.records)

    def seconds(self, stage: str):
        return self.records.get(stage, {}).get("seconds")

    def run(self, stage: str, key: str, output: str, title: str, work) -> None:
        """Runs ``work()`` unless ``stage`` is recorded complete for ``key`` with ``output``
        present; then records its wall time."""
        if self.done(stage, key, output):
            _say(f"{stage}: complete, skipped")
            return
        _say(title)
        start = time.perf_counter()
        work()
        self.record(stage, key, time.perf_counter() - start)


def fingerprint(value) -> str:
    """A short stable hash of a JSON-able value (stage keys)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _say(message: str) -> None:
    print(f"[reproduce {time.strftime('%H:%M:%S')}] {message}", flush=True)


def train_runs(budget: Budget, variants, runs_dir: str, source: DataSource,
               log: StageLog) -> dict:
    """Trains (or resumes, or skips when finished) every variant; returns run folders."""
    from lsg_tf import training

    run_dirs = {}
    for i, variant in enumerate(variants):
        config = train_config(budget, variant, runs_dir, source)
        key = fingerprint(_run_key(config))
        stage = f"train/{variant}"
        run_dirs[variant] = config.output_dir
        if log.done(stage, key) and run_io.is_finished(config.output_dir):
            _say(f"train {variant}: finished, skipped ({i + 1}/{len(variants)})")
            continue
        _say(f"train {variant} ({i + 1}/{len(variants)}) -> {config.output_dir}")
        metrics = training.train(config)
        log.record(stage, key, metrics["wall_time_seconds"])
        _say(f"train {variant}: test accuracy {metrics['test/accuracy']:.4f}, "
             f"gate density {metrics['gate_density']:.3f}")
    return run_dirs


def _run_key(config) -> dict:
    """The settings that define a trained run (not where its data or output lives)."""
    skip = {"output_dir", "data_dir", "cache_dir", "verbose", "export_dir", "export_name"}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}


def _runs_key(budget: Budget, run_dirs: dict) -> str:
    """Key of an analysis stage: the budget and each run's final metrics."""
    finished = {}
    for name, run_dir in run_dirs.items():
        metrics = run_io.read_json(os.path.join(run_dir, run_io.METRICS_FILE))
        finished[name] = [metrics["test/accuracy"], metrics["gate_density"],
                          metrics["wall_time_seconds"]]
    return fingerprint({"budget": dataclasses.asdict(budget), "runs": finished})


def report_stage(budget: Budget, run_dirs: dict, out_dir: str, source: DataSource,
                 log: StageLog, key: str) -> None:
    """Tables 1-2, masking, similarity, MIS, clusters (``lsg_tf.report``) -> ``report/``."""
    from lsg_tf.analysis import report_lib

    folder = os.path.join(out_dir, REPORT_DIR)
    names = list(run_dirs)

    def work():
        options = report_lib.ReportOptions(phi_steps=budget.phi_steps,
                                           mis_max_examples=budget.mis_max_examples)
        report = report_lib.analyse_runs(list(run_dirs.values()), names=names,
                                         options=options, data_dir=source.data_dir,
                                         cache_dir=source.cache_dir)
        command = (f"python -m lsg_tf.report {' '.join(f'--run=runs/{n}' for n in names)} "
                   f"--names={','.join(names)} --phi_steps={budget.phi_steps} "
                   f"--mis_max_examples={budget.mis_max_examples or 0} --out={REPORT_DIR}")
        report_lib.write_report(report, folder, command)

    log.run("report", key, os.path.join(folder, report_lib.JSON_FILE),
            "report (Φ, MIS, masking, correlation, ...)", work)


def attack_config(budget: Budget, data_dir: str | None = None):
    """The adversarial evaluation (Tables 4-5) at ``budget``."""
    from lsg_tf.robustness import evaluate
    from lsg_tf.robustness.protocol import DetectionProtocol

    return evaluate.AttackEvalConfig(
        attacks=("pgd", "pixel", "local_search"), detect=True,
        pgd=evaluate.PGDConfig(max_iter=budget.pgd_iter),
        detection=DetectionProtocol(train_per_class=tuple(budget.detect_train_per_class),
                                    test_per_class=budget.detect_test_per_class,
                                    repeats=budget.detect_repeats),
        pixel=evaluate.PixelConfig(images=budget.pixel_images, max_iter=budget.pixel_iter,
                                   population=budget.pixel_population),
        local_search=evaluate.LocalSearchConfig(images=budget.ls_images,
                                                rounds=budget.ls_rounds,
                                                max_candidates=budget.ls_max_candidates),
        data_dir=data_dir)


def attack_command(budget: Budget, names) -> str:
    """``tools/attack_eval``'s command line equivalent to :func:`attack_config`."""
    parts = ["python -m tools.attack_eval"] + [f"--run=runs/{n}" for n in names]
    parts += ["--attacks=pgd,pixel,local_search", "--detect",
              "--detect_train_per_class=" + ",".join(str(n) for n in
                                                     budget.detect_train_per_class),
              f"--detect_test_per_class={budget.detect_test_per_class}",
              f"--detect_repeats={budget.detect_repeats}", f"--pgd_iter={budget.pgd_iter}",
              f"--pixel_images={budget.pixel_images}", f"--pixel_iter={budget.pixel_iter}",
              f"--pixel_population={budget.pixel_population}",
              f"--ls_images={budget.ls_images}", f"--ls_rounds={budget.ls_rounds}"]
    if budget.ls_max_candidates:
        parts.append(f"--ls_max_candidates={budget.ls_max_candidates}")
    return " ".join(parts + [f"--out={ATTACK_DIR}"])


def attack_stage(budget: Budget, run_dirs: dict, out_dir: str, source: DataSource,
                 log: StageLog, key: str, progress: bool = True) -> None:
    """Detection (Table 4) and black-box attacks (Table 5) -> ``attack_eval/``."""
    import logging

    from lsg_tf.robustness import evaluate, report

    folder = os.path.join(out_dir, ATTACK_DIR)

    def work():
        logging.getLogger("art").setLevel(logging.WARNING)
        results = evaluate.evaluate_runs(list(run_dirs.values()),
                                         attack_config(budget, source.data_dir),
                                         progress=progress)
        report.write_report(results, folder, command=attack_command(budget, list(run_dirs)))

    log.run("attack_eval", key, os.path.join(folder, report.JSON_FILE),
            "attack_eval (PGD + detection, one-pixel, local search)", work)


def localization_stage(budget: Budget, run_dirs: dict, out_dir: str, source: DataSource,
                       log: StageLog, key: str) -> None:
    """One-filter and CAM localization on the VOC-layout photos -> ``localization/``."""
    from lsg_tf.analysis import localization_report as report

    if not source.voc_dir:
        _say("localization: no VOC-layout folder given, skipped")
        return
    folder = os.path.join(out_dir, LOCALIZATION_DIR)
    names = list(run_dirs)
    voc_name = os.path.basename(os.path.normpath(source.voc_dir))
    command = (f"python -m lsg_tf.localize {' '.join(f'--run=runs/{n}' for n in names)} "
               f"--names={','.join(names)} --voc_dir=data/{voc_name}"
               + (f" --max_images={budget.localization_max_images}"
                  if budget.localization_max_images else "")
               + f" --out={LOCALIZATION_DIR}")

    def work():
        report.localization_report(list(run_dirs.values()), names, source.voc_dir, folder,
                                   command, max_images=budget.localization_max_images)

    log.run("localization", key, os.path.join(folder, report.JSON_FILE),
            "localization (one filter, CAM)", work)


def reproduce(out_dir: str, runs_dir: str, budget: Budget, source: DataSource,
              variants=MAIN_VARIANTS + ABLATIONS, command: str = "",
              progress: bool = True) -> str:
    """Runs every stage (skipping complete ones) and writes ``out_dir/README.md``.

    Returns:
        The path of the results page.
    """
    variants = list(variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants: unknown {unknown}, allowed {sorted(VARIANTS)}")
    missing = [v for v in MAIN_VARIANTS if v not in variants]
    if missing:
        raise ValueError(f"variants must include {list(MAIN_VARIANTS)}; missing {missing}")
    os.makedirs(out_dir, exist_ok=True)
    log = StageLog(out_dir)
    run_dirs = train_runs(budget, variants, runs_dir, source, log)
    key = _runs_key(budget, run_dirs)  # the analyses' inputs: budget and trained runs
    report_stage(budget, run_dirs, out_dir, source, log, key)
    attack_stage(budget, run_dirs, out_dir, source, log, key, progress)
    localization_stage(budget, run_dirs, out_dir, source, log, key)
    from lsg_tf import results_page

    path = results_page.write_page(out_dir, budget, variants, log.records, command)
    _say(f"results -> {path}")
    return path
