"""The paper's CIFAR-10 experiments end to end: train, analyse, attack, localize, write a page.

:func:`reproduce` trains STD, LSG with Algorithm 1's alternating schedule and LSG with the
footnote-1 joint scheme (plus, optionally, the ``a = 0`` ablation of Fig. 4b and the fixed
gate of appendix C) with identical data, seed, optimiser, learning-rate schedule and
:class:`Budget`; then runs the report (Tables 1-2, masking), the adversarial evaluation
(Tables 4-5) and localization on MSRC-v2 photos (Table 3's shape) on all of them, and writes
``README.md`` with :mod:`lsg_tf.reproduction.results_page`. With several seeds, every variant also
trains once per extra seed and the seeds stage tabulates them (mean ± std, LSG − STD paired by seed
and over test images); the analyses use the flagfile's seed.

Each analysis stage does the work of a command-line module (``lsg_tf.report``,
``lsg_tf.attack_eval``, ``lsg_tf.localize``) in this process. Its flag values are built once
(:func:`report_stage_flags`, :func:`attack_stage_flags`, :func:`localization_stage_flags`):
the work reads them, and its report records them as that module's command line, with the
flag names checked against the module's flags (:mod:`lsg_tf.reproduction.commands`).

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

from lsg_tf import run_io
from lsg_tf.reproduction import commands, results_page, run_records
from lsg_tf.reproduction.budgets import (  # noqa: F401  (re-exported)
    BUDGETS,
    Budget,
    DataSource,
    check_seeds,
    flagfile_budget,
    main_seed,
    train_config,
)
from lsg_tf.reproduction.experiments import (  # noqa: F401
    ABLATIONS,
    ATTACK_DIR,
    CIFAR_CPU_FLAGFILE,
    CIFAR_FLAGFILE,
    LABELS,
    LOCALIZATION_DIR,
    MAIN_VARIANTS,
    REPORT_DIR,
    SEEDS_DIR,
    VARIANTS,
    cifar_setting,
    seed_run_name,
)
from lsg_tf.robustness import radii

STAGES_FILE = "stages.json"


def _print_line(line: str) -> None:
    """One line of progress at once (a log file sees it before the run ends)."""
    print(line, flush=True)

# The command-line module whose work each analysis stage does.
REPORT_CLI = "lsg_tf.report"
ATTACK_CLI = "lsg_tf.attack_eval"
LOCALIZE_CLI = "lsg_tf.localize"


class StageLog:
    """``stages.json``: which stages are complete, for which inputs, and their wall time."""

    def __init__(self, out_dir: str):
        self.path = os.path.join(out_dir, STAGES_FILE)
        self.records = run_io.read_json(self.path) if os.path.exists(self.path) else {}
        self.mine = {}  # the stages this process recorded

    def done(self, stage: str, key: str, output: str | None = None) -> bool:
        record = self.records.get(stage)
        return bool(record and record.get("key") == key
                    and (output is None or os.path.exists(output)))

    def record(self, stage: str, key: str, seconds: float) -> None:
        """Records one stage, keeping what other processes wrote to the file meanwhile
        (several reproductions may share one results folder, e.g. one per stage)."""
        on_disk = run_io.read_json(self.path) if os.path.exists(self.path) else {}
        self.mine[stage] = {"key": key, "seconds": round(float(seconds), 1)}
        self.records = {**self.records, **on_disk, **self.mine}
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
               log: StageLog, seeds=None, records_dir: str | None = None,
               folder_seeds=()) -> dict:
    """Trains (or resumes, or skips when finished) every variant with every seed; returns
    ``{(variant, seed): run folder}``. A run whose record is in ``records_dir``
    (:mod:`lsg_tf.reproduction.run_records`, same settings) is not trained again, unless its
    seed is in ``folder_seeds`` (seeds whose models the caller analyses, so their folders).

    The main variants (STD, alternate, joint) train over every seed before the ablations,
    so that their comparison over seeds is complete first.
    """
    from lsg_tf.training import train_lib

    seeds = check_seeds(budget, seeds)
    groups = ([v for v in variants if v in MAIN_VARIANTS],
              [v for v in variants if v not in MAIN_VARIANTS])
    jobs = [(variant, seed) for group in groups for seed in seeds for variant in group]
    run_dirs = {}
    for i, (variant, seed) in enumerate(jobs):
        config = train_config(budget, variant, runs_dir, source, seed)
        key = fingerprint(_run_key(config))
        name = os.path.basename(config.output_dir)  # <variant>, or <variant>-s<seed>
        stage = f"train/{name}"
        run_dirs[(variant, seed)] = config.output_dir
        if log.done(stage, key) and run_io.is_finished(config.output_dir):
            _say(f"train {name}: finished, skipped ({i + 1}/{len(jobs)})")
            continue
        if (seed not in folder_seeds and not run_io.is_finished(config.output_dir)
                and run_records.is_recorded(records_dir, config.output_dir, config)):
            _say(f"train {name}: recorded in {records_dir}, skipped ({i + 1}/{len(jobs)})")
            continue
        _say(f"train {name} ({i + 1}/{len(jobs)}) -> {config.output_dir}")
        metrics = train_lib.train(config)
        log.record(stage, key, metrics["wall_time_seconds"])
        _say(f"train {name}: test accuracy {metrics['test/accuracy']:.4f}, "
             f"gate density {metrics['gate_density']:.3f}")
    return run_dirs


# Settings added after runs were first keyed, at the value those runs trained with: left out
# of the key at that value, so finished runs keep their keys.
_KEY_NEUTRAL = {"period_unit": "epoch", "cache_frozen": False}


def _run_key(config) -> dict:
    """The settings that define a trained run (not where its data or output lives)."""
    skip = {"output_dir", "data_dir", "cache_dir", "verbose", "export_dir", "export_name"}
    return {k: v for k, v in dataclasses.asdict(config).items()
            if k not in skip and _KEY_NEUTRAL.get(k, object()) != v}


def runs_key(budget: Budget, run_dirs: dict, records_dir: str | None = None) -> str:
    """Key of an analysis stage: the budget and each run's final metrics (of its record in
    ``records_dir`` when its folder is gone)."""
    finished = {}
    for name, run_dir in sorted(run_dirs.items(), key=lambda item: str(item[0])):
        name = name if isinstance(name, str) else seed_run_name(*name)
        metrics = run_records.run_metrics(run_dir, records_dir)
        finished[name] = [metrics["test/accuracy"], metrics["gate_density"],
                          metrics["wall_time_seconds"]]
    return fingerprint({"budget": dataclasses.asdict(budget), "runs": finished})


# ------------------------------------------------------------------ analysis stages
def report_stage_flags(budget: Budget, run_dirs: dict, folder: str) -> dict:
    """``lsg_tf.report``'s flag values of the report stage (output folder ``folder``)."""
    return {"run": list(run_dirs.values()), "names": list(run_dirs),
            "phi_steps": budget.phi_steps, "mis_max_examples": budget.mis_max_examples or 0,
            "out": folder}


def attack_stage_flags(budget: Budget, run_dirs: dict, folder: str) -> dict:
    """``lsg_tf.attack_eval``'s flag values of the attack stage (output folder ``folder``)."""
    return {"run": list(run_dirs.values()), "attacks": ["pgd", "pixel", "local_search"],
            "detect": True, "detect_train_per_class": list(budget.detect_train_per_class),
            "detect_test_per_class": budget.detect_test_per_class,
            "detect_repeats": budget.detect_repeats, "pgd_iter": budget.pgd_iter,
            "pgd_eps": [radii.eps_label(e) for e in budget.pgd_eps],
            "pixel_images": budget.pixel_images, "pixel_iter": budget.pixel_iter,
            "pixel_population": budget.pixel_population, "ls_images": budget.ls_images,
            "ls_rounds": budget.ls_rounds,
            "ls_max_candidates": budget.ls_max_candidates or None, "out": folder}


def localization_stage_flags(budget: Budget, run_dirs: dict, voc_dir: str,
                             folder: str) -> dict:
    """``lsg_tf.localize``'s flag values of the localization stage (output ``folder``)."""
    return {"run": list(run_dirs.values()), "names": list(run_dirs), "voc_dir": voc_dir,
            "max_images": budget.localization_max_images or None, "out": folder}


def check_stage_flags(budget: Budget, run_dirs: dict, out_dir: str, voc_dir: str | None):
    """Builds every analysis stage's argument list: raises ValueError, naming the flag, when a
    stage sets a flag its command-line module does not define (before any training)."""
    commands.argv(REPORT_CLI, report_stage_flags(budget, run_dirs, out_dir))
    commands.argv(ATTACK_CLI, attack_stage_flags(budget, run_dirs, out_dir))
    commands.argv(LOCALIZE_CLI, localization_stage_flags(budget, run_dirs, voc_dir, out_dir))


def _stage_command(module: str, flags: dict, run_dirs: dict, out_dir: str,
                   shown: dict | None = None) -> str:
    """The command line a stage's report records: the stage's argument list with the run
    folders as ``runs/<name>`` and the output folder relative to the results page."""
    args = commands.argv(module, flags)  # checks the flag names
    placeholders = {run_dir: f"runs/{name}" for name, run_dir in run_dirs.items()}
    placeholders[flags["out"]] = os.path.relpath(flags["out"], out_dir)
    placeholders.update(shown or {})
    return commands.command(module, args, placeholders)


def report_stage(budget: Budget, run_dirs: dict, out_dir: str, source: DataSource,
                 log: StageLog, key: str) -> None:
    """Tables 1-2, masking, similarity, MIS, clusters (``lsg_tf.report``) -> ``report/``."""
    from lsg_tf.analysis import report_lib

    flags = report_stage_flags(budget, run_dirs, os.path.join(out_dir, REPORT_DIR))
    command = _stage_command(REPORT_CLI, flags, run_dirs, out_dir)

    def work():
        options = report_lib.ReportOptions(phi_steps=flags["phi_steps"],
                                           mis_max_examples=flags["mis_max_examples"] or None)
        report = report_lib.analyse_runs(flags["run"], names=flags["names"], options=options,
                                         data_dir=source.data_dir, cache_dir=source.cache_dir)
        report_lib.write_report(report, flags["out"], command)

    log.run("report", key, os.path.join(flags["out"], report_lib.JSON_FILE),
            "report (Φ, MIS, masking, correlation, ...)", work)


def _attack_config(flags: dict, data_dir: str | None = None):
    """The :class:`~lsg_tf.robustness.evaluate.AttackEvalConfig` of ``lsg_tf.attack_eval``'s
    flag values ``flags`` (those the attack stage sets; the others at their defaults)."""
    from lsg_tf.robustness import evaluate
    from lsg_tf.robustness.protocol import DetectionProtocol

    return evaluate.AttackEvalConfig(
        attacks=tuple(flags["attacks"]), detect=flags["detect"],
        pgd=evaluate.PGDConfig(eps=tuple(radii.parse_eps(e) for e in flags["pgd_eps"]),
                               max_iter=flags["pgd_iter"]),
        detection=DetectionProtocol(train_per_class=tuple(flags["detect_train_per_class"]),
                                    test_per_class=flags["detect_test_per_class"],
                                    repeats=flags["detect_repeats"]),
        pixel=evaluate.PixelConfig(images=flags["pixel_images"], max_iter=flags["pixel_iter"],
                                   population=flags["pixel_population"]),
        local_search=evaluate.LocalSearchConfig(images=flags["ls_images"],
                                                rounds=flags["ls_rounds"],
                                                max_candidates=flags["ls_max_candidates"]),
        data_dir=data_dir)


def attack_config(budget: Budget, data_dir: str | None = None):
    """The adversarial evaluation (Tables 4-5) at ``budget``."""
    return _attack_config(attack_stage_flags(budget, {}, ATTACK_DIR), data_dir)


def attack_stage(budget: Budget, run_dirs: dict, out_dir: str, source: DataSource,
                 log: StageLog, key: str, progress: bool = True) -> None:
    """Detection (Table 4) and black-box attacks (Table 5) -> ``attack_eval/``."""
    import logging

    from lsg_tf.robustness import attack_report, evaluate

    flags = attack_stage_flags(budget, run_dirs, os.path.join(out_dir, ATTACK_DIR))
    command = _stage_command(ATTACK_CLI, flags, run_dirs, out_dir)

    def work():
        logging.getLogger("art").setLevel(logging.WARNING)
        results = evaluate.evaluate_runs(flags["run"], _attack_config(flags, source.data_dir),
                                         progress=progress,
                                         log=None if progress else _print_line)
        attack_report.write_report(results, flags["out"], command=command)

    log.run("attack_eval", key, os.path.join(flags["out"], attack_report.JSON_FILE),
            "attack_eval (PGD + detection, one-pixel, local search)", work)


def localization_stage(budget: Budget, run_dirs: dict, out_dir: str, source: DataSource,
                       log: StageLog, key: str) -> None:
    """One-filter and CAM localization on the VOC-layout photos -> ``localization/``."""
    from lsg_tf.analysis import localization_report

    if not source.voc_dir:
        _say("localization: no VOC-layout folder given, skipped")
        return
    flags = localization_stage_flags(budget, run_dirs, source.voc_dir,
                                     os.path.join(out_dir, LOCALIZATION_DIR))
    voc_name = os.path.basename(os.path.normpath(source.voc_dir))
    command = _stage_command(LOCALIZE_CLI, flags, run_dirs, out_dir,
                             shown={source.voc_dir: f"data/{voc_name}"})

    def work():
        localization_report.localization_report(flags["run"], flags["names"],
                                                 flags["voc_dir"], flags["out"], command,
                                                 max_images=flags["max_images"])

    log.run("localization", key, os.path.join(flags["out"], localization_report.JSON_FILE),
            "localization (one filter, CAM)", work)


def seeds_stage(seed_dirs: dict, variants, out_dir: str, log: StageLog, key: str,
                command: str, progress: bool, records_dir: str | None = None) -> None:
    """Every variant over the seeds (``tools.compare_schemes --bootstrap``'s table) ->
    ``seeds/``: numbers as mean ± std and LSG − STD paired by seed and over test images
    (runs whose folders are gone read from their records in ``records_dir``)."""
    from lsg_tf.reproduction import scheme_table

    seeds = sorted({seed for _, seed in seed_dirs})
    folder = os.path.join(out_dir, SEEDS_DIR)

    def work():
        metrics = {run: run_records.run_metrics(run_dir, records_dir)
                   for run, run_dir in seed_dirs.items()}
        table = scheme_table.summary(metrics, variants, seeds,
                                     run_records.run_answers(seed_dirs, records_dir, progress))
        run_io.write_json(os.path.join(folder, SEEDS_JSON),
                          {"variants": list(variants), "seeds": seeds, "table": table})
        run_io.write_text(os.path.join(folder, "README.md"),
                          scheme_table.markdown(table, variants, seeds, command))

    log.run("seeds", key, os.path.join(folder, SEEDS_JSON),
            f"seeds: {len(variants)} variants × seeds {', '.join(map(str, seeds))}", work)


SEEDS_JSON = "seeds.json"
ANALYSIS_STAGES = ("report", "attack_eval", "localization", "seeds")


def reproduce(out_dir: str, runs_dir: str, budget: Budget, source: DataSource,
              variants=MAIN_VARIANTS + ABLATIONS, command: str = "",
              progress: bool = True, stages=ANALYSIS_STAGES, seeds=None,
              attacks: bool = True) -> str | None:
    """Trains every variant, runs the analysis ``stages`` (skipping complete ones) and, once
    every stage is complete, writes ``out_dir/README.md``.

    ``stages`` picks analysis stages to run now (e.g. the long attack stage alone, while the
    other stages' code is still changing); the page needs all of them. ``seeds`` (default:
    the flagfile's seed alone) must include the flagfile's seed; with more than one, every
    variant trains once per seed and the seeds stage tabulates them. ``attacks=False`` drops
    the attack stage (Tables 4-5, the longest stage on a CPU): the page is written without
    those tables and says so.

    Returns:
        The path of the results page, or None when a stage is still missing.
    """
    unknown = [s for s in stages if s not in ANALYSIS_STAGES]
    if unknown or not stages:
        raise ValueError(f"stages: unknown {unknown or 'none given'}, allowed "
                         f"{list(ANALYSIS_STAGES)}")
    variants = list(variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants: unknown {unknown}, allowed {sorted(VARIANTS)}")
    missing = [v for v in MAIN_VARIANTS if v not in variants]
    if missing:
        raise ValueError(f"variants must include {list(MAIN_VARIANTS)}; missing {missing}")
    seeds = check_seeds(budget, seeds)
    check_stage_flags(budget, {v: os.path.join(runs_dir, v) for v in variants}, out_dir,
                      source.voc_dir)
    os.makedirs(out_dir, exist_ok=True)
    log = StageLog(out_dir)
    # The analyses load seed 0's models; the other seeds enter only the seeds table, which
    # their records (beside it, committed with the page) can stand in for.
    records = os.path.join(out_dir, SEEDS_DIR, run_records.RECORDS_DIR)
    seed_dirs = train_runs(budget, variants, runs_dir, source, log, seeds, records,
                           folder_seeds=seeds[:1])
    run_dirs = {v: seed_dirs[(v, seeds[0])] for v in variants}
    key = runs_key(budget, run_dirs)  # the analyses' inputs: budget and trained runs
    if "report" in stages:
        report_stage(budget, run_dirs, out_dir, source, log, key)
    if "attack_eval" in stages and attacks:
        attack_stage(budget, run_dirs, out_dir, source, log, key, progress)
    if "localization" in stages:
        localization_stage(budget, run_dirs, out_dir, source, log, key)
    seeds_key = runs_key(budget, seed_dirs, records)
    if "seeds" in stages and len(seeds) > 1:
        run_records.save_records(seed_dirs, records, progress)
        seeds_stage(seed_dirs, variants, out_dir, log, seeds_key, command, progress, records)
    required = ("report",) + (("attack_eval",) if attacks else ()) + (
        ("localization",) if source.voc_dir else ())
    pending = [s for s in required if not log.done(s, key)]
    if len(seeds) > 1 and not log.done("seeds", seeds_key):
        pending.append("seeds")
    if pending:
        _say(f"stages not complete yet: {', '.join(pending)}; the page waits for them")
        return None
    path = results_page.write_page(out_dir, budget, variants, log.records, command,
                                   seeds_file=os.path.join(SEEDS_DIR, SEEDS_JSON)
                                   if len(seeds) > 1 else None, attacks=attacks)
    _say(f"results -> {path}")
    return path


def write_page_only(out_dir: str, budget: Budget, variants, seeds=None, attacks: bool = True,
                    command: str = "") -> str:
    """Rewrites ``out_dir/README.md`` from the stage outputs already in ``out_dir`` (e.g. after
    a section of the page changed, or the Tiny ImageNet part was added), training and
    analysing nothing; the stages are not checked against runs (none need exist here)."""
    seeds = check_seeds(budget, seeds)
    log = StageLog(out_dir)
    path = results_page.write_page(out_dir, budget, list(variants), log.records, command,
                                   seeds_file=os.path.join(SEEDS_DIR, SEEDS_JSON)
                                   if len(seeds) > 1 else None, attacks=attacks)
    _say(f"results -> {path}")
    return path
