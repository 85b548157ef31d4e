"""lsg_tf.cli.entry, the entry point of every absl command line: usage errors as one line and
a pointer to --help."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from lsg_tf.cli import entry

HINT = entry.HELP_HINT


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["tools/attack_eval.py", "--run=r", "--out=o", "extra"], "unexpected arguments: extra"),
    (["-m", "lsg_tf.localize", "--run=r", "--out=o", "--variants=2:3"],
     "--variants entry '2:3': expected top_fraction:iou_threshold with top_fraction in (0, 1] "
     "and iou_threshold in [0, 1)"),
    (["-m", "lsg_tf.reproduce", "--data_dir=no/such/folder"],
     "--data_dir='no/such/folder' is not a folder"),
])
def test_usage_error_is_one_line_and_a_pointer_to_help(args, message):
    proc = _cli(*args)
    assert proc.stderr == f"error: {message}\n{HINT}\n"
    assert proc.returncode == 1  # absl's exit code of a usage error, as before


@pytest.mark.parametrize("args, message", [
    (["-m", "lsg_tf.localize", "--out=o"],
     "flag --run=None: Flag --run must have a value other than None"),
    (["tools/attack_eval.py", "--run=r", "--out=o", "--pgd_iter=x"],
     "flag --pgd_iter=x: invalid literal for int() with base 10: 'x'"),
    (["-m", "lsg_tf.report"], "flag --run=None: Flag --run must have a value other than None; "
     "flag --out=None: Flag --out must have a value other than None"),
])
def test_flag_errors_have_the_same_two_lines(args, message):
    proc = _cli(*args)
    assert proc.stderr == f"error: {message}\n{HINT}\n"
    assert proc.returncode == 1


def test_help_still_prints_the_module_help():
    proc = _cli("-m", "lsg_tf.localize", "--help")
    assert "Localization with one filter" in proc.stdout and "--variants" in proc.stdout
