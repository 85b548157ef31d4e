"""The training recipe's options: warm-up and one-cycle rates, Nesterov, weight-decay scope,
conv initialisation, the validation hold-out, and the numbers the seed tables are made of."""

import json
import math
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT, needs_fashion

from lsg_tf import data
from lsg_tf.analysis import masking
from lsg_tf.core import backbones, lr_schedules
from lsg_tf.core.model import LSGModel
from lsg_tf.reporting import stats
from lsg_tf.reproduction import run_records, scheme_table
from lsg_tf.training import recipes
from lsg_tf.training.optimizers import l2_weight_decay, make_learning_rate, make_optimizer
from lsg_tf.training.train_lib import TrainConfig


def _rate(schedule, step):
    return float(schedule(step)) if callable(schedule) else float(schedule)


def test_linear_warmup_ramps_from_lr_over_25_then_follows_the_shifted_schedule():
    after = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    schedule = lr_schedules.LinearWarmup(after, warmup_steps=20, initial_learning_rate=0.004)
    assert _rate(schedule, 0) == pytest.approx(0.004)
    assert _rate(schedule, 10) == pytest.approx(0.004 + 0.5 * (0.1 - 0.004))
    assert _rate(schedule, 20) == pytest.approx(0.1)
    # 50 steps after the warm-up: cosine at half its decay, 0.1 * (1 + cos(pi/2)) / 2.
    assert _rate(schedule, 70) == pytest.approx(0.05, rel=1e-5)
    assert _rate(schedule, 120) == pytest.approx(0.0, abs=1e-7)


def test_one_cycle_matches_pytorch_formula():
    # PyTorch OneCycleLR(max_lr=0.1, total_steps=100, pct_start=0.15): the peak is at step
    # 14 (= 0.15 * 100 - 1), the end (0.1 / 25 / 1e4) at step 99, cosine in between.
    schedule = lr_schedules.OneCycle(0.1, total_steps=100, pct_start=0.15)
    start, final = 0.1 / 25, 0.1 / 25 / 1e4
    assert _rate(schedule, 0) == pytest.approx(start)
    assert _rate(schedule, 7) == pytest.approx(
        0.1 + (start - 0.1) / 2 * (1 + math.cos(math.pi * 7 / 14)))
    assert _rate(schedule, 14) == pytest.approx(0.1)
    mid = 14 + (99 - 14) / 2
    assert _rate(schedule, mid) == pytest.approx((0.1 + final) / 2, rel=1e-5)
    assert _rate(schedule, 99) == pytest.approx(final, rel=1e-4)


def test_schedules_survive_serialisation():
    schedule = lr_schedules.LinearWarmup(
        keras.optimizers.schedules.CosineDecay(0.1, decay_steps=50), 10, 0.004)
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    cycle = lr_schedules.OneCycle(0.2, 40, 0.3)
    cycle_clone = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(cycle))
    for step in (0, 5, 10, 33):
        assert _rate(clone, step) == pytest.approx(_rate(schedule, step))
        assert _rate(cycle_clone, step) == pytest.approx(_rate(cycle, step))


def test_make_learning_rate_warmup_then_cosine_over_the_remaining_steps(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path), epochs=10, learning_rate=0.1,
                         lr_schedule="cosine", lr_warmup_fraction=0.2)
    schedule = make_learning_rate(config, steps_per_epoch=10)  # 100 steps, 20 of warm-up
    assert _rate(schedule, 0) == pytest.approx(0.1 / 25)
    assert _rate(schedule, 20) == pytest.approx(0.1)
    assert _rate(schedule, 60) == pytest.approx(0.05, rel=1e-5)
    assert _rate(schedule, 100) == pytest.approx(0.0, abs=1e-7)
    plain = make_learning_rate(TrainConfig(output_dir=str(tmp_path), epochs=10,
                                           lr_warmup_fraction=0.0), 10)
    assert _rate(plain, 0) == pytest.approx(0.1)
    cycle = make_learning_rate(TrainConfig(output_dir=str(tmp_path), lr_schedule="onecycle",
                                           epochs=10), 10)
    assert isinstance(cycle, lr_schedules.OneCycle) and cycle.pct_start == 0.15


def test_nesterov_reaches_the_optimizer(tmp_path):
    assert make_optimizer(TrainConfig(output_dir=str(tmp_path), nesterov=True), 10).nesterov
    assert not make_optimizer(TrainConfig(output_dir=str(tmp_path), nesterov=False), 10).nesterov


@pytest.mark.parametrize("scope, decayed", [("kernels", {"kernel"}),
                                            ("all", {"kernel", "bias", "gamma", "beta"})])
def test_adamw_decays_at_weight_decay_never_the_gate(tmp_path, scope, decayed):
    # With zero gradients an AdamW step only decays: w <- w (1 - lr wd) on the decayed
    # variables, the others (and the gate G, whatever the scope) unchanged.
    config = TrainConfig(output_dir=str(tmp_path), optimizer="adamw", learning_rate=0.1,
                         lr_schedule="constant", lr_warmup_fraction=0, weight_decay=0.5,
                         weight_decay_scope=scope)
    assert l2_weight_decay(config) == 0.0  # no L2 term on top of the decoupled decay
    names = ("kernel", "bias", "gamma", "beta", "gate")
    variables = [keras.Variable(np.full((2,), 2.0, "float32"), name=n) for n in names]
    optimizer = make_optimizer(config, 10)
    optimizer.apply_gradients([(np.zeros(2, "float32"), v) for v in variables])
    for name, variable in zip(names, variables):
        want = 2.0 * (1 - 0.1 * 0.5) if name in decayed else 2.0
        np.testing.assert_allclose(np.asarray(variable), want, rtol=1e-6, err_msg=name)
    sgd = TrainConfig(output_dir=str(tmp_path), weight_decay=0.5)
    assert l2_weight_decay(sgd) == 0.5


@pytest.mark.parametrize("field, value", [("lr_warmup_fraction", 1.0), ("lr_warmup_fraction", -0.1),
                                          ("weight_decay_scope", "bn"), ("initializer", "glorot"),
                                          ("validation_size", 0)])
def test_bad_recipe_settings_are_rejected_naming_the_field(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(output_dir=str(tmp_path), **{field: value})


def _decayed(model):
    return {v.path for v in model.trainable_variables if getattr(v, "regularizer", None)}


@pytest.mark.parametrize("scope", ["kernels", "all"])
def test_weight_decay_scope_sets_which_variables_decay(scope):
    backbone = backbones.build_backbone("resnet20", (16, 16, 3), weight_decay=5e-4, seed=0,
                                        weight_decay_scope=scope)
    model = LSGModel(backbone, 4, classifier_weight_decay=5e-4,
                     classifier_bias_decay=scope == "all")
    decayed = _decayed(model)
    network = {v.path for v in model.network_variables}
    kernels = {p for p in network if p.endswith("kernel")}
    assert model.gate.path not in decayed
    assert decayed == (network if scope == "all" else kernels)
    assert len(model.losses) == len(decayed)
    # Each term is wd/2 * ||v||^2 (gradient wd * v).
    expected = sum(0.5 * 5e-4 * float(np.sum(np.square(v.numpy())))
                   for v in model.trainable_variables if v.path in decayed)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)


def test_weight_decay_scope_all_reaches_application_batchnorm():
    model = backbones.build_backbone("keras:MobileNetV2", (32, 32, 3), weight_decay=5e-4,
                                     seed=0, weight_decay_scope="all")
    bn = [v for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
          for v in layer.trainable_weights]
    assert bn and all(v.regularizer is not None for v in bn)


def test_torch_default_initializer_gives_smaller_kernels():
    def mean_sq_norm(name):
        model = backbones.build_backbone("resnet20", (16, 16, 3), seed=0, initializer=name)
        kernels = [v.numpy() for v in model.trainable_variables if v.path.endswith("kernel")]
        return np.mean([np.sum(k.reshape(-1, k.shape[-1]) ** 2, axis=0).mean() for k in kernels])

    # uniform(+-sqrt(1/fan_in)): E||w||^2 = fan_in * 1/(3 fan_in) = 1/3 per filter;
    # he_normal: variance 2 / fan_in (Keras corrects the truncation), so about 2.
    assert mean_sq_norm("torch_default") == pytest.approx(1 / 3, rel=0.1)
    assert mean_sq_norm("he_normal") == pytest.approx(2.0, rel=0.1)
    with pytest.raises(ValueError, match="initializer"):
        backbones.build_backbone("resnet20", (16, 16, 3), initializer="glorot")


def _splits(n_train=100, n_test=20, classes=4):
    rng = np.random.default_rng(0)
    return data.ImageSplits(
        "toy", rng.integers(0, 255, (n_train, 8, 8, 1), dtype=np.uint8),
        np.arange(n_train) % classes, rng.integers(0, 255, (n_test, 8, 8, 1), dtype=np.uint8),
        np.arange(n_test) % classes, tuple("abcd"[:classes]))


def test_hold_out_validation_is_stratified_disjoint_and_drops_the_test_split():
    splits = _splits()
    held = data.hold_out_validation(splits, 20, seed=0)
    assert len(held.y_train) == 80 and len(held.y_test) == 20
    assert np.bincount(held.y_test).tolist() == [5, 5, 5, 5]
    train_rows = {x.tobytes() for x in held.x_train}
    assert not train_rows & {x.tobytes() for x in held.x_test}
    assert train_rows | {x.tobytes() for x in held.x_test} == {x.tobytes() for x in splits.x_train}
    assert held.name == "toy:validation"
    again = data.hold_out_validation(splits, 20, seed=0)
    np.testing.assert_array_equal(again.x_test, held.x_test)
    for bad in (0, 100):
        with pytest.raises(ValueError, match="validation_size"):
            data.hold_out_validation(splits, bad, seed=0)


def test_mean_std_and_t_interval_against_hand_values():
    assert stats.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert stats.mean_std([5.0]) == (5.0, 0.0)
    low, high = stats.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * s / sqrt(n)
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    assert all(math.isnan(v) for v in stats.t_interval([1.0]))
    assert stats.format_mean_std([0.81, 0.83]) == "82.00 ± 1.41"
    assert stats.difference_verdict([0.01, 0.012, 0.011]) == "higher"
    assert stats.difference_verdict([-0.01, 0.012, 0.0]) == "within noise"
    assert stats.difference_verdict([-0.02]) == "within noise"


def test_sweep_summary_relates_other_classes_to_their_unmasked_recall():
    sweep = masking.MaskingSweep(masked_recall=np.array([0.0, 0.1, 0.2]),
                                 other_recall=np.array([0.45, 0.8, 0.9]),
                                 num_masked=np.array([3, 4, 5]),
                                 baseline_recall=np.array([1.0, 0.8, 1.0]))
    summary = masking.sweep_summary(sweep, ["a", "b", "c"])
    # Class 0 masked: the others had (0.8 + 1.0) / 2 = 0.9 and keep 0.45 -> 50%.
    assert summary["others_kept"] == pytest.approx([0.5, 0.8, 1.0])
    assert summary["max_recall_after"] == pytest.approx(0.2)
    assert summary["min_others_kept"] == pytest.approx(0.5)
    line = masking.summary_line(summary)
    assert "class 'a'" in line and "its recall 1.00 -> 0.00" in line
    assert "the other classes' recall 0.90 -> 0.45" in line and "falls by <= 0.45" in line


def test_summary_line_of_an_untrained_model_shows_no_nan_and_says_it_is_too_weak():
    # the other classes had no recall to keep: the share is undefined, the line says why
    sweep = masking.MaskingSweep(masked_recall=np.array([0.0, 0.0]),
                                 other_recall=np.array([0.0, 0.0]),
                                 num_masked=np.array([1, 1]),
                                 baseline_recall=np.array([1.0, 0.0]))
    line = masking.summary_line(masking.sweep_summary(sweep, ["a", "b"]))
    assert "nan" not in line and "the other classes' recall 0.00 -> 0.00" in line
    assert line.endswith("not meaningful: the model is too weak (mean recall 0.500 < 0.750, "
                         "chance 0.500)")


def _metrics(accuracy, density=0.15, phi=0.01):
    return {"test/accuracy": accuracy, "test/cross_entropy": 0.5, "gate_density": density,
            "wall_time_seconds": 10.0, "phi": {"phi": phi},
            "masking": {"max_recall_after": 0.0, "min_others_kept": 0.97}}


def test_scheme_table_pairs_differences_by_seed():
    results = {("std", 0): _metrics(0.80, 1.0, 0.1), ("std", 1): _metrics(0.82, 1.0, 0.1),
               ("joint", 0): _metrics(0.81), ("joint", 1): _metrics(0.84)}
    table = scheme_table.summary(results, ["std", "joint"], [0, 1])
    diff = table["joint"]["accuracy_minus_std"]
    assert diff["per_seed"] == pytest.approx([0.01, 0.02])
    assert diff["mean"] == pytest.approx(0.015)
    assert diff["verdict"] == "higher"
    text = scheme_table.markdown(table, ["std", "joint"], [0, 1], "cmd")
    assert "| joint | +1.00, +2.00 | 1.50 ± 0.71 |" in text
    assert "| std | 81.00 ± 1.41 |" in text


def test_scheme_table_gives_mis_and_c_ic_a_t_interval_over_seeds():
    def run(accuracy, mis, c_ic):
        return {**_metrics(accuracy), "mis": {"mis": mis}, "c_ic": c_ic}

    results = {("std", 0): run(0.80, 0.10, 0.02), ("std", 1): run(0.80, 0.12, 0.03),
               ("std", 2): run(0.80, 0.11, 0.01),
               ("joint", 0): run(0.80, 0.14, 0.01), ("joint", 1): run(0.80, 0.15, 0.01),
               ("joint", 2): run(0.80, 0.16, 0.00)}
    table = scheme_table.summary(results, ["std", "joint"], [0, 1, 2])
    mis = table["joint"]["mis_minus_std"]
    # Differences 0.04, 0.03, 0.05: mean 0.04, sd 0.01, t(0.975, 2) = 4.3027.
    assert mis["per_seed"] == pytest.approx([0.04, 0.03, 0.05])
    half = 4.302653 * 0.01 / np.sqrt(3)
    assert mis["t95"] == pytest.approx([0.04 - half, 0.04 + half], rel=1e-5)
    assert mis["verdict"] == "reproduces"  # the paper: LSG's MIS higher
    c_ic = table["joint"]["c_ic_minus_std"]
    # Differences -0.01, -0.02, -0.01: the interval [-0.0277, +0.0010] contains 0.
    assert c_ic["t95"][0] < 0 < c_ic["t95"][1] and c_ic["verdict"] == "inconclusive"
    text = scheme_table.markdown(table, ["std", "joint"], [0, 1, 2], "cmd")
    assert "| joint | MIS | +0.0400, +0.0300, +0.0500 | +0.0400 | [+0.0152, +0.0648] | " \
           "reproduces |" in text
    assert "| C_IC |" in text and "| MIS |" in text.split("\n")[4]


def test_scheme_table_without_mis_keeps_its_columns_and_gives_no_seed_verdict():
    one_seed = {("std", 0): {**_metrics(0.8), "mis": {"mis": 0.1}, "c_ic": None},
                ("joint", 0): {**_metrics(0.8), "mis": {"mis": 0.2}, "c_ic": None}}
    table = scheme_table.summary(one_seed, ["std", "joint"], [0])
    assert table["joint"]["mis_minus_std"]["verdict"] == "inconclusive"
    text = scheme_table.markdown(table, ["std", "joint"], [0], "cmd")
    assert "| joint | MIS | +0.1000 | +0.1000 | — | no verdict (fewer than 2 seeds" in text
    assert "| C_IC" not in text  # n/a in every run: no column, no row
    old = {("std", 0): _metrics(0.8), ("joint", 0): _metrics(0.8)}  # runs before MIS
    text = scheme_table.markdown(scheme_table.summary(old, ["std", "joint"], [0]),
                                 ["std", "joint"], [0], "cmd")
    assert "MIS" not in text and "C_IC" not in text  # no column, no paragraph
    # A table written before these numbers existed (a results page's JSON) still renders.
    table = scheme_table.summary(old, ["std", "joint"], [0])
    for name in table:
        for key in ("mis", "c_ic", "mis_minus_std", "c_ic_minus_std"):
            table[name].pop(key, None)
    assert "| joint |" in scheme_table.markdown(table, ["std", "joint"], [0], "cmd")


def test_scheme_table_bootstraps_the_difference_over_test_images():
    results = {("std", 0): _metrics(0.80, 1.0, 0.1), ("joint", 0): _metrics(0.70)}
    # 1,000 images: STD right on 800, joint on the first 700 of those: a −10-point gap
    # that every resample shows (joint is never right where STD is wrong).
    std = np.arange(1000) < 800
    joint = np.arange(1000) < 700
    correct = {("std", 0): std, ("joint", 0): joint}
    table = scheme_table.summary(results, ["std", "joint"], [0], correct)
    boot = table["joint"]["accuracy_minus_std_images"]
    assert boot["difference"] == pytest.approx(-0.10) and boot["pairs"] == 1000
    low, high = boot["bootstrap95"]
    # Paired: only the 100 discordant images vary, sd of the mean ≈ sqrt(0.1·0.9/1000).
    assert high < 0 and (high - low) / 2 == pytest.approx(1.96 * np.sqrt(0.09 / 1000), rel=0.2)
    assert boot["verdict"] == "does not reproduce"
    text = scheme_table.markdown(table, ["std", "joint"], [0], "cmd")
    assert "| joint | -10.00 | [" in text and "| 1,000 | does not reproduce |" in text
    # One seed: no spread over seeds, so no verdict from it.
    assert "| joint | -10.00 | -10.00 | — | no verdict (one seed: no spread) |" in text


def test_library_defaults_are_the_chosen_recipe(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path))
    assert {k: getattr(config, k) for k in recipes.DEFAULT} == recipes.DEFAULT


def test_recipe_presets_are_valid_configs(tmp_path):
    for name, fields in recipes.RECIPES.items():
        TrainConfig(output_dir=str(tmp_path / name), **fields)
    assert set(recipes.ABLATIONS) <= set(recipes.RECIPES)


def test_recipes_differing_only_in_the_lsg_schedule_share_one_std_run():
    assert recipes.std_equivalent("alt_phase0") == "no_torch_init"
    assert recipes.std_equivalent("alt_half_lambda") == "no_torch_init"
    assert recipes.std_equivalent("torch_std_epoch1") == "torch"
    # Optimisation changes keep their own STD run.
    assert recipes.std_equivalent("no_warmup") == "no_warmup"
    with pytest.raises(ValueError, match="recipe must be one of"):
        recipes.std_equivalent("nope")


def test_alternate_timing_presets_move_the_lsg_epochs(tmp_path):
    def lsg_epochs(name):
        schedule = TrainConfig(output_dir=str(tmp_path), scheme="alternate",
                               **recipes.RECIPES[name]).schedule()
        return [e for e in range(15) if schedule.path_for_epoch(e) == "lsg"]

    assert lsg_epochs("alt_algorithm1") == [1, 4, 7, 10, 13]
    assert lsg_epochs("alt_phase0") == [0, 3, 6, 9, 12]
    assert lsg_epochs("alt_std_first") == [3, 6, 9, 12]
    assert lsg_epochs("alt_std_first_half_lambda") == [3, 6, 9, 12]
    assert lsg_epochs("alt_period4") == [3, 7, 11]
    assert lsg_epochs("alt_period5") == [1, 6, 11]


@needs_fashion
def test_compare_schemes_over_two_seeds_writes_paired_table(tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.compare_schemes", "--flagfile=fashion.flags",
         "--train_subset=256", "--test_subset=100", "--epochs=1", "--batch_size=64",
         "--variants=std,joint", "--seeds=0,1", "--export_dir=", "--verbose=0", f"--out={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    per_run = {(v, s): json.loads((out / f"{v}-s{s}" / "metrics.json").read_text())
               for v in ("std", "joint") for s in (0, 1)}
    assert results["std"]["accuracy"] == [per_run[("std", s)]["test/accuracy"] for s in (0, 1)]
    assert results["joint"]["accuracy_minus_std"]["per_seed"] == pytest.approx(
        [per_run[("joint", s)]["test/accuracy"] - per_run[("std", s)]["test/accuracy"]
         for s in (0, 1)])
    # The two seeds really are different runs.
    assert (per_run[("std", 0)]["history"]["train/loss"]
            != per_run[("std", 1)]["history"]["train/loss"])
    assert "| joint |" in (out / "README.md").read_text()
    # Every finished run records MIS (on its 100 test images) and C_IC of its last conv filters.
    for metrics in per_run.values():
        assert metrics["mis"]["num_examples"] == 100 and metrics["mis"]["mis"] >= 0
        assert -1 <= metrics["c_ic"] <= 1
    assert results["joint"]["mis_minus_std"]["per_seed"] == pytest.approx(
        [per_run[("joint", s)]["mis"]["mis"] - per_run[("std", s)]["mis"]["mis"] for s in (0, 1)])
    assert "| joint | C_IC |" in (out / "README.md").read_text()

    # Every run left a record; with the run folders gone the records stand in for them (nothing
    # trains again) and carry the per-image answers a paired bootstrap needs.
    for v in ("std", "joint"):
        for s in (0, 1):
            shutil.rmtree(out / f"{v}-s{s}")
    again = subprocess.run(
        [*proc.args, "--bootstrap"], cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not (out / "std-s0").exists()
    from_records = json.loads((out / "results.json").read_text())
    assert from_records["joint"]["accuracy"] == results["joint"]["accuracy"]
    answers = {k: run_records.read_record(str(out / "runs" / f"{k}.json"))["correct"]
               for k in ("std-s0", "joint-s0", "std-s1", "joint-s1")}
    pooled = (np.concatenate([answers["joint-s0"], answers["joint-s1"]]).mean()
              - np.concatenate([answers["std-s0"], answers["std-s1"]]).mean())
    assert from_records["joint"]["accuracy_minus_std_images"]["difference"] == (
        pytest.approx(pooled))
    # A record stands in only for a run with the same settings.
    other = subprocess.run([*proc.args, "--epochs=2"], cwd=ROOT, capture_output=True, text=True,
                           timeout=400)
    assert other.returncode != 0
    assert "records a run with epochs=1, now epochs=2" in other.stderr


def test_sweep_summary_is_undefined_where_others_had_no_recall():
    sweep = masking.MaskingSweep(masked_recall=np.array([0.0, 1.0]),
                                 other_recall=np.array([0.0, 0.0]), num_masked=np.array([1, 1]),
                                 baseline_recall=np.array([0.0, 1.0]))
    summary = masking.sweep_summary(sweep)
    assert math.isnan(summary["others_kept"][1]) and summary["others_kept"][0] == 0.0


def test_ablation_table_pairs_by_seed_and_shows_phi_and_masking():
    def metrics(acc, density, phi, recall):
        return {"validation/accuracy": acc, "gate_density": density, "phi": {"phi": phi},
                "masking": {"max_recall_after": recall}}

    results = {("alt_std_first", "std", 0): metrics(0.70, 1.0, 0.1, 0.4),
               ("alt_std_first", "std", 1): metrics(0.60, 1.0, 0.3, 0.5),
               ("alt_std_first", "alternate", 0): metrics(0.69, 0.15, 0.004, 0.0),
               ("alt_std_first", "alternate", 1): metrics(0.62, 0.15, 0.006, 0.02),
               ("alt_phase0", "std", 0): metrics(0.70, 1.0, 0.1, 0.4)}  # no LSG run: left out
    text = recipes.ablation_markdown(results, ["alt_std_first", "alt_phase0"],
                                     ["std", "alternate"], [0, 1], "cmd")
    head = ("| recipe | seeds | std val. acc. (%) | alternate val. acc. (%) | alternate − std "
            "(points) | alternate density | std Φ | alternate Φ | alternate masked recall "
            "(max) |")
    assert head in text
    # Differences paired by seed: -1.00 and +2.00 points -> 0.50 ± 2.12.
    assert ("| alt_std_first | 0,1 | 65.00 ± 7.07 | 65.50 ± 4.95 | 0.50 ± 2.12 | "
            "0.150 ± 0.000 | 0.2000 ± 0.1414 | 0.0050 ± 0.0014 | 0.01 ± 0.01 |") in text
    assert "| alt_phase0 |" not in text
