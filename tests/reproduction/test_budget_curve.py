"""The budget curve (lsg_tf.reproduction.budget_curve) at a toy budget: what it trains, the
numbers its page shows against the runs' own metrics, chunked training and bad input."""

import json
import os
import shutil

import numpy as np
import pytest
from toy_cifar import TOY, cifar_tree

from lsg_tf.reproduction import budget_curve, reproduce_lib

POINTS = {1: (0, 1), 2: (0,)}  # epochs: seeds


def _metrics(runs, epochs, name):
    return json.load(open(os.path.join(runs, f"e{epochs}", name, "metrics.json")))


@pytest.fixture(scope="module")
def toy_curve(tmp_path_factory):
    root = tmp_path_factory.mktemp("curve")
    cifar_tree(str(root / "cifar10"))
    source = reproduce_lib.DataSource(data_dir=str(root / "cifar10"),
                                      cache_dir=str(root / "cache"))
    out, runs = str(root / "results"), str(root / "runs")
    page = budget_curve.reproduce_curve(out, runs, TOY, source, POINTS, command="curve",
                                        progress=False)
    return out, runs, source, page


def test_each_point_trains_every_variant_with_its_seeds_and_epochs(toy_curve):
    _, runs, _, _ = toy_curve
    assert sorted(os.listdir(runs)) == ["e1", "e2"]
    for epochs, names in ((1, ["std", "std-s1", "joint", "joint-s1", "alternate", "alternate-s1"]),
                          (2, ["std", "joint", "alternate"])):
        for name in names:
            config = json.load(open(os.path.join(runs, f"e{epochs}", name, "config.json")))
            assert config["epochs"] == epochs
            assert config["seed"] == (1 if name.endswith("-s1") else 0)
        assert not os.path.exists(os.path.join(runs, "e2", "std-s1"))


def test_the_page_shows_the_runs_own_gaps(toy_curve):
    out, runs, _, page_path = toy_curve
    curve = json.load(open(os.path.join(out, "curve.json")))
    rows = {(r["epochs"], r["variant"]): r for r in curve["points"]}
    assert sorted(rows) == [(1, "alternate"), (1, "joint"), (2, "alternate"), (2, "joint")]
    for (epochs, variant), row in rows.items():
        suffixes = [""] + [f"-s{s}" for s in row["seeds"][1:]]
        gaps = [_metrics(runs, epochs, variant + x)["test/accuracy"]
                - _metrics(runs, epochs, "std" + x)["test/accuracy"] for x in suffixes]
        assert row["gap_per_seed"] == pytest.approx(gaps)
        # Over test images, pooled over seeds: the mean of the per-seed gaps (equal test sets).
        assert row["gap_images"]["difference"] == pytest.approx(np.mean(gaps))
        assert row["gap_images"]["pairs"] == 50 * len(row["seeds"])
    assert rows[(1, "joint")]["seeds"] == [0, 1] and rows[(2, "joint")]["seeds"] == [0]
    page = open(page_path).read()
    assert "![LSG − STD test accuracy against training epochs](gap.png)" in page
    assert os.path.getsize(os.path.join(out, "gap.png")) > 1000
    assert page.count("| no interval (one seed) |") == 2  # the 2-epoch rows
    for epochs in (1, 2):
        assert os.path.exists(os.path.join(out, f"e{epochs}", "seeds", "README.md"))


def test_the_gap_change_is_the_difference_of_the_two_gaps_on_common_seeds(toy_curve):
    out, runs, _, page_path = toy_curve
    change = json.load(open(os.path.join(out, "gap_change.json")))
    assert (change["from_epochs"], change["to_epochs"], change["seeds"]) == (1, 2, [0])
    for variant in ("alternate", "joint"):
        by_hand = sum(sign * (_metrics(runs, e, variant)["test/accuracy"]
                              - _metrics(runs, e, "std")["test/accuracy"])
                      for sign, e in ((1, 2), (-1, 1)))
        c = change["variants"][variant]
        assert c["difference"] == pytest.approx(by_hand)
        low, high = c["bootstrap95"]
        assert low <= c["difference"] <= high and c["pairs"] == 50
    assert "## How the gap moves with budget" in open(page_path).read()


def test_a_gate_that_missed_its_target_is_named_on_the_page(toy_curve):
    out, runs, _, page_path = toy_curve
    page = open(page_path).read()
    missed = [(e, n) for e, names in ((1, ("alternate", "alternate-s1", "joint", "joint-s1")),
                                      (2, ("alternate", "joint")))
              for n in names if not _metrics(runs, e, n)["gate_target"]["reached"]]
    assert ("## Gates that missed their target" in page) == bool(missed)
    for epochs, name in missed:
        assert f"- {epochs} epoch" in page and name in page.split("## Gates that missed")[1]


def test_page_only_trains_nothing_and_tabulates_only_finished_seeds(toy_curve, capsys):
    out, runs, source, _ = toy_curve
    stamp = os.path.getmtime(os.path.join(runs, "e1", "joint", "metrics.json"))
    capsys.readouterr()
    budget_curve.reproduce_curve(out, runs, TOY, source, {1: (0, 1), 2: (0, 1)},
                                 command="curve", train=False, progress=False)
    assert os.path.getmtime(os.path.join(runs, "e1", "joint", "metrics.json")) == stamp
    assert not os.path.exists(os.path.join(runs, "e2", "std-s1"))
    printed = capsys.readouterr().out
    assert "seeds: complete, skipped" in printed and "gap_change: complete, skipped" in printed
    curve = json.load(open(os.path.join(out, "curve.json")))
    assert {r["epochs"]: r["seeds"] for r in curve["points"]} == {1: [0, 1], 2: [0]}


def test_records_stand_in_for_run_folders_that_are_gone(toy_curve, tmp_path):
    out, runs, source, _ = toy_curve
    # The committed results folder, on a machine without the run folders: its tables are
    # computed again from the records alone, and nothing trains.
    copy, no_runs = str(tmp_path / "results"), str(tmp_path / "runs")
    shutil.copytree(out, copy)
    for name in ("curve.json", "gap_change.json", "README.md"):
        os.remove(os.path.join(copy, name))
    for epochs in POINTS:
        shutil.rmtree(os.path.join(copy, f"e{epochs}", "seeds"))
        assert len(os.listdir(os.path.join(copy, f"e{epochs}", "runs"))) == 3 * len(
            POINTS[epochs])
    budget_curve.reproduce_curve(copy, no_runs, TOY, source, POINTS, command="curve",
                                 progress=False)
    assert not any(files for _, _, files in os.walk(no_runs)
                   if any(f == "metrics.json" for f in files))
    for name in ("curve.json", "gap_change.json"):
        assert json.load(open(os.path.join(copy, name))) == json.load(
            open(os.path.join(out, name)))


def test_bad_points_and_variants_are_refused(tmp_path):
    source = reproduce_lib.DataSource(data_dir=str(tmp_path))
    for points, message in (({}, "at least one epoch count"),
                            ({0: None}, "at least 1"),
                            ({"x": None}, "must be integers"),
                            ({5: (1,)}, "include the flagfile's seed 0")):
        with pytest.raises(ValueError, match=message):
            budget_curve.check_points(TOY, points)
    with pytest.raises(ValueError, match="must include std and an LSG variant"):
        budget_curve.reproduce_curve(str(tmp_path), str(tmp_path), TOY, source, {1: None},
                                     command="c", variants=("joint",))
    with pytest.raises(ValueError, match="no epoch count has finished runs"):
        budget_curve.reproduce_curve(str(tmp_path), str(tmp_path), TOY, source, {1: None},
                                     command="c", train=False)


@pytest.mark.parametrize("value, message", [("15,15", "epoch counts must be distinct"),
                                            ("0", "at least 1"), ("x", "must be integers")])
def test_the_cli_refuses_bad_epoch_counts_in_one_line(tmp_path, value, message):
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "data").mkdir()
    result = subprocess.run([sys.executable, "-m", "lsg_tf.reproduce", f"--budget_curve={value}",
                             f"--data_dir={tmp_path / 'data'}", f"--out={tmp_path / 'out'}",
                             f"--runs_dir={tmp_path / 'runs'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "runs" / "e15")
