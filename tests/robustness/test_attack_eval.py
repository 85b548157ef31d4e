"""lsg_tf.attack_eval end to end on two tiny real runs (STD and alternating LSG), and
tools/attack_eval, its entry point in a checkout."""

import json
import os
import subprocess
import sys

import pytest
from test_evaluate import write_image_folder

from lsg_tf.training.train_lib import TrainConfig, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack_eval")
    data_dir = write_image_folder(root / "data", per_class=(16, 10))
    runs = []
    for name, scheme, epochs in (("std", "std", 1), ("lsg", "alternate", 2)):
        out = str(root / name)
        train(TrainConfig(output_dir=out, dataset="image_folder", data_dir=data_dir,
                          epochs=epochs, batch_size=16, period=2, phase=1, scheme=scheme,
                          verbose=0))
        runs.append(out)
    return runs


def _cli(args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=400, **kwargs)


def test_attack_eval_cli_writes_tables_and_figures(trained_runs, tmp_path):
    out = tmp_path / "eval"
    proc = _cli(["-m", "lsg_tf.attack_eval", f"--run={trained_runs[0]}",
                 f"--run={trained_runs[1]}", "--attacks=pgd,pixel,local_search", "--detect",
                 f"--out={out}", "--detect_train_per_class=2,4", "--detect_test_per_class=2",
                 "--detect_repeats=2", "--detect_trees=10", "--detect_baselines=lid",
                 "--pgd_iter=5", "--pgd_eps=8/255,0.3",
                 "--pixel_images=3", "--pixel_iter=2", "--pixel_population=20",
                 "--ls_images=3", "--ls_rounds=2", "--examples=2", "--noprogress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("attack_eval.md", "attack_eval.json", "attack_eval_examples.png",
                 "attack_eval_roc.png", "attack_eval_eps.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "attack_eval.json").read_text())
    std, lsg = results["runs"]
    assert (std["scheme"], lsg["scheme"]) == ("std", "alternate")
    for r in (std, lsg):
        assert 0 <= r["clean_accuracy"] <= 1
        assert [e["eps"] for e in r["sweep"]] == [8 / 255, 0.3]
        for e in r["sweep"]:
            assert set(e["detection"]["mean_auc"]) == {"2", "4"}
            assert set(e["detection"]["detectors"]) == {"random_forest", "lid"}
            assert e["pgd"]["max_linf"] <= e["eps"] + 1e-6 and e["pgd"]["images"] == 18
        for attack in ("pixel", "local_search"):
            assert r[attack]["candidates"] == 3
            assert r[attack]["successes"] <= r[attack]["attempts"] <= 3
    assert std["pixel"]["per_image"]["index"] == lsg["pixel"]["per_image"]["index"]
    text = (out / "attack_eval.md").read_text()
    assert "| 8/255 | STD |" in text and "| 0.3 | LSG-alternate (lsg) |" in text
    assert "Paper-like ε" in text
    assert "--run=runs/std --run=runs/lsg" in text
    assert str(tmp_path) not in text and "--out=eval" in text
    # --noprogress: one line per finished part instead of bars.
    assert "std: PGD and detection at ε=8/255 (" in proc.stdout
    assert "lsg: local_search " in proc.stdout and " successes (" in proc.stdout


def test_attack_eval_runs_as_a_script_and_requires_runs():
    proc = _cli(["tools/attack_eval.py", "--help"])  # absl exits 1 after printing the help
    assert "Adversarial evaluation of trained runs" in proc.stdout, proc.stderr[-2000:]
    assert "--detect_train_per_class" in proc.stdout
    proc = _cli(["-m", "lsg_tf.attack_eval", "--out=x"])
    assert proc.returncode != 0 and "--run" in proc.stderr


@pytest.mark.parametrize("flag, message", [
    ("--pgd_eps=8/255,eight",
     "ε must be a number in (0, 1] or a fraction such as 8/255, got 'eight'"),
    ("--pgd_eps=5", "ε must be in (0, 1] (images are in [0, 1]), got '5'"),
    ("--pgd_eps=8/255,inf", "ε must be in (0, 1] (images are in [0, 1]), got 'inf'"),
    ("--pgd_eps=nan", "ε must be in (0, 1] (images are in [0, 1]), got 'nan'"),
    ("--pgd_eps=0,0.3", "ε must be in (0, 1] (images are in [0, 1]), got '0'"),
    ("--pgd_eps=", "give at least one ε in (0, 1]"),
    ("--pgd_eps_step=inf", "the step must be in (0, 1] (images are in [0, 1]), got inf"),
    ("--pgd_eps_step=nan", "the step must be in (0, 1] (images are in [0, 1]), got nan"),
    ("--pgd_eps_step=2", "the step must be in (0, 1] (images are in [0, 1]), got 2"),
    ("--pgd_eps_step=-0.1", "the step must be in (0, 1] (images are in [0, 1]), got -0.1"),
])
def test_attack_eval_refuses_eps_outside_the_image_range_at_flag_parsing(tmp_path, flag,
                                                                         message):
    # The run folder does not exist: the flags are refused before anything is read.
    proc = _cli(["tools/attack_eval.py", f"--run={tmp_path / 'none'}", f"--out={tmp_path}",
                 flag])
    assert proc.returncode == 1
    name = flag.partition("=")[0]
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: flag {name}="), proc.stderr
    assert lines[0].endswith(message), proc.stderr


def test_attack_eval_rejects_an_unknown_attack(trained_runs, tmp_path):
    proc = _cli(["tools/attack_eval.py", f"--run={trained_runs[0]}", f"--out={tmp_path}",
                 "--attacks=pgd,cw"])
    assert proc.returncode != 0
    assert "unknown attack(s) ['cw']" in proc.stderr


def test_attack_eval_rejects_an_unknown_detection_baseline(tmp_path):
    proc = _cli(["tools/attack_eval.py", f"--run={tmp_path / 'none'}", f"--out={tmp_path}",
                 "--detect", "--detect_baselines=lid,svm"])
    assert proc.returncode != 0
    assert "baselines must be distinct names of ['mahalanobis', 'lid', 'kd_bu'], got " \
           "['lid', 'svm']" in proc.stderr
