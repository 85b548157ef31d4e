"""lsg_tf.reproduction.commands: argument lists checked against a CLI's flags, recorded commands,
flagfiles; and the reproduction's stages, whose argument lists it builds."""

import os

import pytest

from lsg_tf.reporting import formatting
from lsg_tf.reproduction import commands, experiments, reproduce_lib


def test_a_misspelled_flag_name_raises_naming_it():
    with pytest.raises(ValueError, match=r"python -m lsg_tf.report has no flag --phi_step;"):
        commands.argv("lsg_tf.report", {"run": ["runs/std"], "phi_step": 5})
    with pytest.raises(ValueError, match=r"has no flag --detect_train"):
        commands.argv("lsg_tf.attack_eval", {"detect_train": [1, 2]})


def test_argv_writes_each_kind_of_flag_as_absl_reads_it():
    args = commands.argv("lsg_tf.attack_eval", {
        "run": ["a/std", "a/lsg"],  # multi_string: repeated
        "attacks": ["pgd", "pixel"],  # list: comma-separated
        "detect": True, "progress": False,  # booleans
        "detect_train_per_class": (20, 50), "pgd_iter": 3,
        "ls_max_candidates": None,  # left at its default
        "out": "o"})
    assert args == ["--run=a/std", "--run=a/lsg", "--attacks=pgd,pixel", "--detect",
                    "--noprogress", "--detect_train_per_class=20,50", "--pgd_iter=3", "--out=o"]


def test_command_shows_placeholders_and_quotes():
    line = commands.command("lsg_tf.localize", ["--run=/m/runs/std", "--voc_dir=/d/msrc",
                                                 "--note=two words"],
                             shown={"/m/runs/std": "runs/std", "/d/msrc": "data/msrc"})
    assert line == ("python -m lsg_tf.localize --run=runs/std --voc_dir=data/msrc "
                    "'--note=two words'")


def test_unknown_module_raises():
    with pytest.raises(FileNotFoundError, match="no source of the command-line module"):
        commands.defined_flags("lsg_tf.no_such_cli")


def test_the_attack_stage_cli_is_in_the_package():
    assert reproduce_lib.ATTACK_CLI == "lsg_tf.attack_eval"
    path = commands.module_file(reproduce_lib.ATTACK_CLI)
    assert path == os.path.join(commands.ROOT, "lsg_tf", "attack_eval.py")
    assert commands.defined_flags("lsg_tf.attack_eval")["detect"] == "DEFINE_boolean"


def test_read_flagfile_types_the_values_and_rejects_unknown_flags(tmp_path):
    setting = commands.read_flagfile(experiments.CIFAR_FLAGFILE, "lsg_tf.train")
    assert setting["model"] == "resnet20" and setting["nesterov"] is True
    assert setting["learning_rate"] == 0.1 and setting["period"] == 3
    assert isinstance(setting["period"], int) and isinstance(setting["lsg_weight"], float)
    flagfile = tmp_path / "bad.flags"
    flagfile.write_text("# a comment\n--epochs=2\n--nonesterov\n--epoch=3\n")
    with pytest.raises(ValueError, match="has no flag --epoch;"):
        commands.read_flagfile(str(flagfile), "lsg_tf.train")
    flagfile.write_text("--epochs=2\n--nonesterov\n")
    assert commands.read_flagfile(str(flagfile), "lsg_tf.train") == {"epochs": 2,
                                                                      "nesterov": False}


def test_read_flagfile_refuses_a_flagfile_that_includes_itself(tmp_path):
    (tmp_path / "a.flags").write_text("--epochs=2\n--flagfile=b.flags\n")
    (tmp_path / "b.flags").write_text("--flagfile=a.flags\n")
    with pytest.raises(ValueError, match=r"flagfile .*a.flags includes itself"):
        commands.read_flagfile(str(tmp_path / "a.flags"), "lsg_tf.train")


@pytest.mark.parametrize("budget", sorted(reproduce_lib.BUDGETS))
def test_every_stage_of_the_reproduction_sets_only_flags_its_cli_defines(budget, tmp_path):
    run_dirs = {v: str(tmp_path / "runs" / v) for v in reproduce_lib.VARIANTS}
    reproduce_lib.check_stage_flags(reproduce_lib.BUDGETS[budget], run_dirs, str(tmp_path),
                                    str(tmp_path / "msrc"))


def test_a_renamed_flag_stops_the_reproduction_before_training(tmp_path, monkeypatch):
    stage_flags = reproduce_lib.report_stage_flags

    def renamed(*args):
        flags = stage_flags(*args)
        flags["phi_iterations"] = flags.pop("phi_steps")
        return flags

    monkeypatch.setattr(reproduce_lib, "report_stage_flags", renamed)
    source = reproduce_lib.DataSource(data_dir=str(tmp_path / "data"))
    out = tmp_path / "results"
    with pytest.raises(ValueError, match="lsg_tf.report has no flag --phi_iterations"):
        reproduce_lib.reproduce(str(out), str(tmp_path / "runs"),
                                reproduce_lib.BUDGETS["cpu"], source)
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_the_stage_records_its_argument_list_with_placeholders(tmp_path):
    run_dirs = {v: str(tmp_path / "runs" / v) for v in reproduce_lib.MAIN_VARIANTS}
    out = str(tmp_path / "results")
    flags = reproduce_lib.report_stage_flags(reproduce_lib.BUDGETS["cpu"], run_dirs,
                                             os.path.join(out, experiments.REPORT_DIR))
    assert reproduce_lib._stage_command(reproduce_lib.REPORT_CLI, flags, run_dirs, out) == (
        "python -m lsg_tf.report --run=runs/std --run=runs/alternate --run=runs/joint "
        "--names=std,alternate,joint --phi_steps=500 --mis_max_examples=5000 --out=report")


def test_missing_values_are_one_dash_everywhere():
    assert formatting.MISSING == "—"
    for value in (None, float("nan")):
        assert formatting.fmt(value) == formatting.percent(value) == formatting.MISSING
    assert formatting.fmt(0.5, 2) == "0.50" and formatting.fmt(3) == "3"
    assert formatting.percent(0.125) == "12.50%"


def test_typed_command_hides_this_machines_paths():
    argv = ["prog", "--flagfile=cifar_cpu.flags", "--data_dir=/data/sets/cifar10/",
            "--cache_dir=/var/cache/x", "--runs_dir=/home/me/runs/cifar-seeds", "--seeds=0,1",
            "--noprogress", "--run=/home/me/runs/std-s0/"]
    assert commands.typed_command("tools.compare_schemes", argv) == (
        "python -m tools.compare_schemes --flagfile=cifar_cpu.flags --data_dir=DATA/cifar10 "
        "--runs_dir=cifar-seeds --seeds=0,1 --run=runs/std-s0")


def test_signed_interval_and_comparison_lookup():
    from lsg_tf.reporting import stats

    c = {"metric": "accuracy", "run": "joint", "difference": -0.0014, "low": -0.0076,
         "high": 0.0049}
    assert formatting.signed_interval(c, 100, 2) == "-0.14 [-0.76, +0.49]"
    other = dict(c, metric="detection_auc", eps=2 / 255)
    assert stats.find_comparison([c, other], "detection_auc", "joint", eps=2 / 255) is other
    assert stats.find_comparison([c, other], "detection_auc", "joint", eps=1 / 255) is None
    assert stats.find_comparison(None, "accuracy", "joint") is None
