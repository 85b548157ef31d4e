"""The reproduction pipeline end to end at a toy budget, its resumption and its page."""

import dataclasses
import json
import os
import re
import shutil
import sys

import numpy as np
import pytest

# The VOC-folder writer of the localization tests (tests/analysis), also when this file runs
# alone (Bazel runs one test file per target).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "analysis"))
from test_localization import write_voc  # noqa: E402
from toy_cifar import CIFAR_CLASSES, TOY, cifar_tree  # noqa: E402

from lsg_tf.reproduction import reproduce_lib, results_page

SEEDS = (0, 1)  # the analyses use seed 0 (the flagfile's); every variant trains with both


def _summary_rows(page):
    """(claim, [cells]) of the summary table."""
    return [(row[0], row[1:]) for row in _table(page, "## Summary")]


def _table(page, heading):
    """The Markdown table rows under ``heading`` (header and separator excluded)."""
    section = page.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


@pytest.fixture(scope="module")
def toy_reproduction(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    cifar_tree(str(root / "cifar10"))
    write_voc(str(root / "msrc"), "background\ncat\ndog\naeroplane\ncar\nbird\nboat\nhorse\n",
              shapes=((20, 24), (16, 16)))
    source = reproduce_lib.DataSource(data_dir=str(root / "cifar10"),
                                      cache_dir=str(root / "cache"), voc_dir=str(root / "msrc"))
    out, runs = str(root / "results"), str(root / "runs")
    page = reproduce_lib.reproduce(out, runs, TOY, source, command="python -m lsg_tf.reproduce "
                                   "--toy", progress=False, seeds=SEEDS)
    return out, runs, source, page


def test_page_has_every_table_filled(toy_reproduction):
    out, runs, _, page_path = toy_reproduction
    page = open(page_path).read()
    names = list(reproduce_lib.MAIN_VARIANTS + reproduce_lib.ABLATIONS)
    assert "python -m lsg_tf.reproduce --toy" in page and "`toy` budget" in page
    number = re.compile(r"^\**-?\d+\.\d+\**$")
    headings = ("## Table 1", "## Table 2", "## Table 3", "## Table 4")
    for heading in headings:
        rows = _table(page, heading)
        assert rows, heading
        for row in rows:
            ours = row[1:1 + len(names)]
            assert len(ours) == len(names)
            if heading == "## Table 4" and row[0] == "training images per class":
                continue  # the header of the judged table
            if heading == "## Table 4" and " / " in row[1]:  # the ε sweep: "AUC / success%"
                assert all(re.match(r"^\d+\.\d / \d+%$", cell) for cell in ours), row
                continue
            assert all(number.match(cell) for cell in ours), (heading, row)
    sweep_rows = [r[0] for r in _table(page, "## Table 4") if " / " in r[1]]
    assert sweep_rows == ["8/255", "0.3"]
    assert "**Judged at ε = " in page
    # every verdict cell carries an interval or says it has none
    for text, cells in _summary_rows(page):
        for cell in cells:
            assert re.search(r"\[[-+]\d", cell) or "no verdict (no interval)" in cell, \
                (text, cell)
    # Table 5: clean accuracy is a number; success rates "x.y (s/a)" or "— (0/0)".
    rows = _table(page, "## Table 5")
    assert [r[0] for r in rows] == ["clean accuracy", "one-pixel success", "local-search success"]
    for row in rows[1:]:
        for cell in row[1:1 + len(names)]:
            assert re.match(r"^(\d+\.\d|—) \(\d+/\d+\)$", cell), cell
    masking = _table(page, "## Masking")
    assert [r[0] for r in masking] == list(CIFAR_CLASSES)
    for figure in ("report/gates.png", "attack_eval/attack_eval_roc.png",
                   "attack_eval/attack_eval_eps.png", "localization/localization.png"):
        assert f"]({figure})" in page and os.path.exists(os.path.join(out, figure))
    stages = json.load(open(os.path.join(out, reproduce_lib.STAGES_FILE)))
    assert set(stages) == ({f"train/{n}" for n in names} | {f"train/{n}-s1" for n in names}
                           | {"report", "attack_eval", "localization", "seeds"})
    assert "| **total** |" in page


def test_runs_share_everything_but_the_variant(toy_reproduction):
    _, runs, _, _ = toy_reproduction
    configs = {n: json.load(open(os.path.join(runs, n, "config.json")))
               for n in reproduce_lib.VARIANTS}
    differing = set()
    for n, config in configs.items():
        for key, value in config.items():
            if value != configs["std"][key]:
                differing.add(key)
    assert differing == {"output_dir", "scheme", "sparsity_coefficient", "fixed_gate"}
    gate = np.load(os.path.join(runs, "fixed_gate", "gate.npy"))
    np.testing.assert_array_equal(gate[:, :60].sum(axis=0), np.ones(60))  # one class each...
    assert (gate[:, 60:] == 1).all()  # ...but the 4 shared filters (6 per class + 4 shared)


def test_rerun_skips_every_complete_stage(toy_reproduction, capsys):
    out, runs, source, page_path = toy_reproduction
    stages_before = open(os.path.join(out, reproduce_lib.STAGES_FILE)).read()
    mtime = os.path.getmtime(os.path.join(out, "report", "report.json"))
    reproduce_lib.reproduce(out, runs, TOY, source, command="again", progress=False,
                            seeds=SEEDS)
    log = capsys.readouterr().out
    assert log.count("skipped") == len(reproduce_lib.VARIANTS) * len(SEEDS) + 4, log
    # The main variants over every seed first, then the ablations.
    trained = re.findall(r"train (\S+): finished", log)
    assert trained == ["std", "alternate", "joint", "std-s1", "alternate-s1", "joint-s1",
                       "alternate_a0", "fixed_gate", "alternate_a0-s1", "fixed_gate-s1"]
    assert open(os.path.join(out, reproduce_lib.STAGES_FILE)).read() == stages_before
    assert os.path.getmtime(os.path.join(out, "report", "report.json")) == mtime
    assert "again" in open(page_path).read()


def test_changed_budget_reruns_analyses_not_training(toy_reproduction, tmp_path):
    _, runs, source, _ = toy_reproduction
    log = reproduce_lib.StageLog(str(tmp_path))
    budget = dataclasses.replace(TOY, phi_steps=6)
    run_dirs = {n: os.path.join(runs, n) for n in reproduce_lib.MAIN_VARIANTS}
    key = reproduce_lib.runs_key(TOY, run_dirs)
    assert reproduce_lib.runs_key(budget, run_dirs) != key
    log.record("report", key, 1.0)
    assert log.done("report", key)
    assert not log.done("report", reproduce_lib.runs_key(budget, run_dirs))
    assert not log.done("report", key, output=str(tmp_path / "missing.json"))


def test_run_key_leaves_out_later_settings_at_their_earlier_value(tmp_path):
    from lsg_tf.training.train_lib import TrainConfig

    config = TrainConfig(output_dir=str(tmp_path / "a"))
    key = reproduce_lib._run_key(config)
    assert "period_unit" not in key and key["scheme"] == "alternate"
    assert "output_dir" not in key
    steps = reproduce_lib._run_key(dataclasses.replace(config, period_unit="step"))
    assert steps == {**key, "period_unit": "step"}


def test_two_stage_logs_on_one_folder_keep_each_others_records(tmp_path):
    first, second = reproduce_lib.StageLog(str(tmp_path)), reproduce_lib.StageLog(str(tmp_path))
    first.record("train/std", "a", 1.0)
    second.record("report", "b", 2.0)
    first.record("attack_eval", "c", 3.0)
    records = reproduce_lib.StageLog(str(tmp_path)).records
    assert {s: r["key"] for s, r in records.items()} == {
        "train/std": "a", "report": "b", "attack_eval": "c"}
    second.record("train/std", "a2", 4.0)  # a stage recorded again: the latest record wins
    assert reproduce_lib.StageLog(str(tmp_path)).records["train/std"]["key"] == "a2"


def test_bad_variants_raise(tmp_path):
    source = reproduce_lib.DataSource(data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown"):
        reproduce_lib.reproduce(str(tmp_path), str(tmp_path), TOY, source, ["std", "nope"])
    with pytest.raises(ValueError, match="must include"):
        reproduce_lib.reproduce(str(tmp_path), str(tmp_path), TOY, source, ["std", "joint"])
    with pytest.raises(ValueError, match="variant must be one of"):
        reproduce_lib.train_config(TOY, "nope", str(tmp_path), source)


def test_interval_text_shows_the_verdict_and_the_interval_in_points():
    comparison = {"metric": "accuracy", "difference": -0.0014, "low": -0.0062,
                  "high": 0.0034, "verdict": "inconclusive"}
    assert results_page.interval_text(comparison) == "inconclusive (-0.14 [-0.62, +0.34])"
    comparison.update(metric="cam_avg_iou", difference=-0.05, low=-0.08, high=-0.02,
                      verdict="does not reproduce")
    assert results_page.interval_text(comparison) == \
        "**does not reproduce** (-0.050 [-0.080, -0.020])"


def test_stages_run_alone_and_the_page_waits_for_the_rest(toy_reproduction, tmp_path):
    _, runs, source, _ = toy_reproduction
    out = str(tmp_path / "page")
    with pytest.raises(ValueError, match="stages: unknown"):
        reproduce_lib.reproduce(out, runs, TOY, source, stages=("plots",))
    assert reproduce_lib.reproduce(out, runs, TOY, source, progress=False,
                                   stages=("report",)) is None
    assert os.path.exists(os.path.join(out, "report", "report.json"))
    assert not os.path.exists(os.path.join(out, results_page.PAGE_FILE))


def test_without_attacks_the_page_says_so_and_claims_none_of_them(toy_reproduction, tmp_path):
    out, runs, source, _ = toy_reproduction
    page_dir = str(tmp_path / "page")
    path = reproduce_lib.reproduce(page_dir, runs, TOY, source, progress=False, seeds=SEEDS,
                                   attacks=False)
    assert path is not None  # the page does not wait for the attack stage
    assert not os.path.exists(os.path.join(page_dir, "attack_eval"))
    page = open(path).read()
    assert "## Table 4" not in page and "## Table 5" not in page
    assert "Not run for this page (`--noattacks`)" in page
    assert "attack_eval/" not in page  # no figure or link to results it does not have
    budget = next(line for line in page.splitlines() if line.startswith("**Budget**"))
    assert "PGD" not in budget and "one-pixel" not in budget and "Φ with" in budget
    claims = [claim for claim, _ in _summary_rows(page)]
    assert not [c for c in claims if "detection" in c or "success rate" in c], claims
    assert "test accuracy: LSG ≥ STD (Table 1)" in claims
    # Attack results of other runs in the folder are never read.
    import shutil

    shutil.copytree(os.path.join(out, "attack_eval"), os.path.join(page_dir, "attack_eval"))
    stages = json.load(open(os.path.join(page_dir, reproduce_lib.STAGES_FILE)))
    variants = list(reproduce_lib.MAIN_VARIANTS + reproduce_lib.ABLATIONS)
    again = open(results_page.write_page(page_dir, TOY, variants, stages, "cmd",
                                         attacks=False)).read()
    assert "## Table 4" not in again
    shutil.rmtree(os.path.join(page_dir, "attack_eval"))
    with pytest.raises(FileNotFoundError, match="attack_eval stages must run first"):
        results_page.write_page(page_dir, TOY, variants, stages, "cmd")


def test_cli_rejects_missing_data_dir(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "lsg_tf.reproduce",
                             f"--data_dir={tmp_path / 'absent'}", f"--out={tmp_path}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--data_dir=" in result.stderr and "is not a folder" in result.stderr


def test_a_previous_page_beside_the_new_one_shows_as_a_before_row(toy_reproduction, tmp_path):
    import shutil

    out, _, _, _ = toy_reproduction
    page_dir = tmp_path / "page"
    shutil.copytree(out, page_dir)
    variants = list(reproduce_lib.MAIN_VARIANTS + reproduce_lib.ABLATIONS)
    stages = json.load(open(page_dir / reproduce_lib.STAGES_FILE))
    text = open(results_page.write_page(str(page_dir), TOY, variants, stages, "cmd")).read()
    assert "Before the recipe change" not in text  # no previous page: no row
    before = page_dir / results_page.BEFORE_DIR / "report"
    shutil.copytree(page_dir / "report", before)
    report = json.load(open(before / "report.json"))
    report["runs"][0]["table1"]["accuracy"] = 0.5  # the STD run of the previous recipe
    (before / "report.json").write_text(json.dumps(report))
    text = open(results_page.write_page(str(page_dir), TOY, variants, stages, "cmd")).read()
    assert "Before the recipe change" in text and "(before-recipe/README.md)" in text
    assert "test accuracy STD 0.5000, LSG-alternate" in text


def test_every_variant_over_the_seeds_has_its_table_and_claim(toy_reproduction):
    out, runs, _, page_path = toy_reproduction
    page = open(page_path).read()
    names = list(reproduce_lib.MAIN_VARIANTS + reproduce_lib.ABLATIONS)
    # Seed 1's runs sit beside seed 0's, trained with seed 1 and otherwise identical.
    for n in names:
        first = json.load(open(os.path.join(runs, n, "config.json")))
        second = json.load(open(os.path.join(runs, f"{n}-s1", "config.json")))
        assert (first["seed"], second["seed"]) == (0, 1)
        assert {k for k in first if first[k] != second[k]} == {"seed", "output_dir"}
    seeds = json.load(open(os.path.join(out, "seeds", "seeds.json")))
    assert seeds["seeds"] == [0, 1] and seeds["variants"] == names
    for n in names:
        accuracy = [json.load(open(os.path.join(runs, d, "metrics.json")))["test/accuracy"]
                    for d in (n, f"{n}-s1")]
        assert seeds["table"][n]["accuracy"] == pytest.approx(accuracy)
    # 10 classes × 5 test images per seed, pooled over both seeds.
    assert seeds["table"]["joint"]["accuracy_minus_std_images"]["pairs"] == 2 * 50
    rows = _table(page, "## Over seeds")
    assert [r[0] for r in rows[:len(names)]] == names
    claim, cells = _summary_rows(page)[0]
    assert claim == "test accuracy over seeds 0, 1: LSG ≥ STD (Table 1)"
    assert all(re.search(r"\[[-+]\d", cell) for cell in cells), cells
    assert "](seeds/README.md)" in page
    assert os.path.exists(os.path.join(out, "seeds", "README.md"))
    # MIS and C_IC (one value per trained model): verdicts from a t-interval over the seeds.
    for number in ("mis", "c_ic"):
        for n in names[1:]:
            own, std = ([json.load(open(os.path.join(runs, d, "metrics.json")))[number]
                         for d in (v, f"{v}-s1")] for v in (n, "std"))
            if number == "mis":
                own, std = [m["mis"] for m in own], [m["mis"] for m in std]
            assert seeds["table"][n][f"{number}_minus_std"]["per_seed"] == pytest.approx(
                np.subtract(own, std))
    claims = dict(_summary_rows(page))
    for claim in ("MIS: LSG > STD (appendix B)", "C_IC: LSG < STD (Table 2)"):
        assert all(re.fullmatch(r"(\*\*does not reproduce\*\*|reproduces|inconclusive) "
                                r"\([-+]\d\.\d{4} \[[-+]\d\.\d{4}, [-+]\d\.\d{4}\]\)", cell)
                   for cell in claims[claim]), claims[claim]


def test_records_stand_in_for_the_other_seeds_run_folders(toy_reproduction, tmp_path):
    out, runs, source, _ = toy_reproduction
    names = list(reproduce_lib.MAIN_VARIANTS + reproduce_lib.ABLATIONS)
    records = os.path.join(out, "seeds", "runs")
    assert sorted(os.listdir(records)) == sorted(
        f"{n}{suffix}.json" for n in names for suffix in ("", "-s1"))
    # The committed page on a machine that has only seed 0's run folders: the seeds table is
    # computed again from seed 1's records, and seed 1 does not train.
    copy, copy_runs = str(tmp_path / "results"), str(tmp_path / "runs")
    shutil.copytree(out, copy)
    shutil.copytree(runs, copy_runs, ignore=lambda _, files: [f for f in files
                                                               if f.endswith("-s1")])
    os.remove(os.path.join(copy, "seeds", "seeds.json"))
    reproduce_lib.reproduce(copy, copy_runs, TOY, source, progress=False, seeds=SEEDS)
    assert not any(os.path.exists(os.path.join(copy_runs, f"{n}-s1")) for n in names)
    assert json.load(open(os.path.join(copy, "seeds", "seeds.json"))) == json.load(
        open(os.path.join(out, "seeds", "seeds.json")))


def test_seeds_must_be_distinct_integers_with_the_flagfiles_seed(tmp_path):
    assert reproduce_lib.check_seeds(TOY, None) == (0,)
    assert reproduce_lib.check_seeds(TOY, ["2", "0", "1"]) == (0, 2, 1)
    for bad, message in ((["0", "x"], "seeds must be integers"),
                         ([0, 0, 1], "distinct and include the flagfile's seed 0"),
                         ([1, 2], "distinct and include the flagfile's seed 0")):
        with pytest.raises(ValueError, match=message):
            reproduce_lib.check_seeds(TOY, bad)
    source = reproduce_lib.DataSource(data_dir=str(tmp_path))
    config = reproduce_lib.train_config(TOY, "joint", str(tmp_path), source, seed=2)
    assert (config.seed, config.output_dir) == (2, str(tmp_path / "joint-s2"))
    assert reproduce_lib.train_config(TOY, "joint", str(tmp_path), source).output_dir == \
        str(tmp_path / "joint")
