"""Table 1 across training budgets: STD and the LSG schemes at several epoch counts.

The paper trains 150 epochs; the CPU budget 15. Whether LSG's accuracy gap to STD shrinks with
budget is measured by training every variant at each epoch count ``E`` on the same data (the
budget's flagfile, only ``epochs`` changed, the schedules scaled to the run's length as they
are for any run), into ``RUNS/e<E>/<variant>[-s<seed>]``. Each epoch count is tabulated as the
seeds table of :mod:`lsg_tf.reproduction.scheme_table` (``OUT/e<E>/seeds/``), and
:mod:`lsg_tf.reproduction.budget_curve_page` draws the gap against epochs.

Each point trains and is tabulated on its own, so a curve grows in chunks: train a point
(``points={60: (0,)}``), then write the page from whatever has finished. Every finished run
leaves its record in ``OUT/e<E>/runs/`` (:mod:`lsg_tf.reproduction.run_records`): committed
with the page, the records stand in for run folders that are gone, so points trained on
different machines join one curve.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lsg_tf import run_io
from lsg_tf.reporting.stats import interval_verdict
from lsg_tf.reproduction import run_records
from lsg_tf.reproduction.budgets import Budget, DataSource, check_seeds, main_seed, train_config
from lsg_tf.reproduction.experiments import MAIN_VARIANTS, SEEDS_DIR
from lsg_tf.reproduction.reproduce_lib import (
    SEEDS_JSON,
    StageLog,
    runs_key,
    seeds_stage,
    train_runs,
)

CURVE_VARIANTS = MAIN_VARIANTS  # std, alternate, joint


def point_dir(root: str, epochs: int) -> str:
    """The folder of one epoch count under a runs or results folder."""
    return os.path.join(root, f"e{epochs}")


def epoch_budget(base: Budget, epochs: int) -> Budget:
    """``base`` trained for ``epochs`` epochs (everything else, the analyses too, unchanged)."""
    if int(epochs) < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs!r}")
    return dataclasses.replace(base, name=f"{base.name}-e{int(epochs)}", epochs=int(epochs))


def check_points(base: Budget, points: dict) -> dict:
    """``{epochs: seeds}`` with integer epochs (ascending) and each point's seeds checked as
    :func:`~lsg_tf.reproduction.budgets.check_seeds` does (the flagfile's seed first);
    ValueError otherwise."""
    if not points:
        raise ValueError("the budget curve needs at least one epoch count")
    checked = {}
    for epochs, seeds in points.items():
        try:
            epochs = int(epochs)
        except (TypeError, ValueError):
            raise ValueError(f"epoch counts must be integers, got {epochs!r}") from None
        if epochs < 1 or epochs in checked:
            raise ValueError(f"epoch counts must be distinct and at least 1, got "
                             f"{sorted(points)}")
        checked[epochs] = check_seeds(base, seeds)
    return dict(sorted(checked.items()))


def records_dir(out_dir: str | None, epochs: int) -> str | None:
    """The folder of one point's run records under the curve's results folder."""
    return out_dir and os.path.join(point_dir(out_dir, epochs), run_records.RECORDS_DIR)


def train_curve(base: Budget, points: dict, runs_dir: str, source: DataSource,
                variants=CURVE_VARIANTS, out_dir: str | None = None) -> dict:
    """Trains (or resumes, or skips) every variant at every point; returns
    ``{epochs: {(variant, seed): run folder}}``. Runs recorded under ``out_dir`` are skipped.

    The flagfile's seed trains at every epoch count before any other seed, the shorter
    budgets first: the curve's shape arrives before its spread.
    """
    points = check_points(base, points)
    run_dirs = {epochs: {} for epochs in points}
    for rank in range(max(len(seeds) for seeds in points.values())):
        for epochs, seeds in points.items():
            if rank < len(seeds):
                folder = point_dir(runs_dir, epochs)
                run_dirs[epochs].update(train_runs(epoch_budget(base, epochs), variants, folder,
                                                   source, StageLog(folder), seeds[:rank + 1],
                                                   records_dir(out_dir, epochs)))
    return run_dirs


def finished_runs(base: Budget, points: dict, runs_dir: str, source: DataSource,
                  variants=CURVE_VARIANTS, out_dir: str | None = None) -> dict:
    """``{epochs: {(variant, seed): run folder}}`` of the seeds whose runs of every variant
    have finished or are recorded under ``out_dir`` (points with none are left out); trains
    nothing."""
    points = check_points(base, points)
    found = {}
    for epochs, seeds in points.items():
        budget = epoch_budget(base, epochs)
        dirs = {(v, s): train_config(budget, v, point_dir(runs_dir, epochs), source, s).output_dir
                for s in seeds for v in variants}
        records = records_dir(out_dir, epochs)
        done = [s for s in seeds
                if all(run_records.is_available(records, dirs[(v, s)]) for v in variants)]
        if done:
            found[epochs] = {key: path for key, path in dirs.items() if key[1] in done}
    return found


def tabulate(base: Budget, run_dirs: dict, out_dir: str, variants, command: str,
             progress: bool = True) -> dict:
    """The seeds table of each point (``OUT/e<E>/seeds/``; skipped when its runs have not
    changed since it was written); returns ``{epochs: seeds.json contents}``."""
    if "std" not in variants:
        raise ValueError(f"the budget curve compares with STD: variants must include std, "
                         f"got {list(variants)}")
    tables = {}
    for epochs, dirs in sorted(run_dirs.items()):
        folder, records = point_dir(out_dir, epochs), records_dir(out_dir, epochs)
        run_records.save_records(dirs, records, progress)
        seeds_stage(dirs, variants, folder, StageLog(folder),
                    runs_key(epoch_budget(base, epochs), dirs, records), command, progress,
                    records)
        table = run_io.read_json(os.path.join(folder, SEEDS_DIR, SEEDS_JSON))
        table["gate_target"] = {f"{v}-s{s}": run_records.run_metrics(path, records).get(
            "gate_target") for (v, s), path in dirs.items()}
        tables[epochs] = table
    return tables


def reproduce_curve(out_dir: str, runs_dir: str, base: Budget, source: DataSource, points: dict,
                    command: str, variants=CURVE_VARIANTS, train: bool = True,
                    progress: bool = True) -> str:
    """Trains the points (unless ``train=False``), tabulates every point with finished runs
    and writes ``OUT/README.md`` with the gap figure; returns the page's path."""
    from lsg_tf.reproduction import budget_curve_page

    variants = tuple(variants)
    if "std" not in variants or len(variants) < 2:
        raise ValueError(f"the budget curve compares LSG with STD: variants must include std "
                         f"and an LSG variant, got {list(variants)}")
    points = check_points(base, points)
    if train:
        train_curve(base, points, runs_dir, source, variants, out_dir)
    run_dirs = finished_runs(base, points, runs_dir, source, variants, out_dir)
    if not run_dirs:
        raise ValueError(f"no epoch count has finished runs of every variant in {runs_dir}")
    tables = tabulate(base, run_dirs, out_dir, variants, command, progress)
    change = gap_change(base, run_dirs, out_dir, variants, progress)
    return budget_curve_page.write_page(out_dir, tables, change, variants, base, command,
                                        main_seed(base))


GAP_CHANGE_JSON = "gap_change.json"


def gap_change(base: Budget, run_dirs: dict, out_dir: str, variants,
               progress: bool = True) -> dict:
    """How each LSG variant's gap to STD moves from the shortest to the longest budget.

    Per test image and seed (the seeds both points have), the change is
    ``(LSG_long - STD_long) - (LSG_short - STD_short)`` of 1/0 correctness: a paired bootstrap
    over those pairs gives its 95% interval (``{}`` with fewer than two points or no common
    seed). Written to ``OUT/gap_change.json``; skipped when the runs have not changed.
    """
    from lsg_tf.reporting.stats import paired_bootstrap
    from lsg_tf.reproduction.reproduce_lib import fingerprint

    if len(run_dirs) < 2:
        return {}
    short, long = min(run_dirs), max(run_dirs)
    seeds = sorted({s for _, s in run_dirs[short]} & {s for _, s in run_dirs[long]})
    if not seeds:
        return {}
    dirs = {(epochs, v, s): run_dirs[epochs][(v, s)]
            for epochs in (short, long) for v in variants for s in seeds}
    path = os.path.join(out_dir, GAP_CHANGE_JSON)
    log = StageLog(out_dir)
    key = fingerprint([runs_key(epoch_budget(base, e), {(v, s): d for (p, v, s), d
                                                         in dirs.items() if p == e},
                                records_dir(out_dir, e))
                       for e in (short, long)])

    def work():
        correct = {}
        for e in (short, long):
            point = {k: d for k, d in dirs.items() if k[0] == e}
            correct.update(run_records.run_answers(point, records_dir(out_dir, e), progress))
        change = {"from_epochs": short, "to_epochs": long, "seeds": seeds, "variants": {}}
        for v in variants:
            if v == "std":
                continue
            gap = {e: np.concatenate([np.subtract(correct[(e, v, s)], correct[(e, "std", s)],
                                                  dtype=np.float64) for s in seeds])
                   for e in (short, long)}
            difference, low, high = paired_bootstrap(gap[long], gap[short])
            change["variants"][v] = {
                "difference": difference, "bootstrap95": [low, high], "pairs": int(gap[long].size),
                "verdict": interval_verdict(low, high, "higher")}
        run_io.write_json(path, change)

    log.run("gap_change", key, path,
            f"gap change {short} -> {long} epochs over seeds {', '.join(map(str, seeds))}", work)
    return run_io.read_json(path)
