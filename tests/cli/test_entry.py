"""lsg_tf.cli.entry, the entry point of every absl command line: usage errors as one line and
a pointer to --help."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from lsg_tf.cli import entry

HINT = entry.HELP_HINT


def _cli(*args, cwd=ROOT):
    # From another folder, the checkout stays importable through PYTHONPATH.
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=path)
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["tools/attack_eval.py", "--run=r", "--out=o", "extra"], "unexpected arguments: extra"),
    (["-m", "lsg_tf.attack_eval", "--run=r", "--out=o", "extra"], "unexpected arguments: extra"),
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


def _flagfiles(folder, **texts):
    for name, text in texts.items():
        (folder / f"{name}.flags").write_text(text)
    return {name: str(folder / f"{name}.flags") for name in texts}


def test_flagfiles_are_expanded_in_place_and_cycles_refused(tmp_path):
    f = _flagfiles(tmp_path, a="", b="", c="", d="--epochs=3\n")
    (tmp_path / "a.flags").write_text(f"--flagfile={f['a']}\n")
    (tmp_path / "b.flags").write_text(f"# b\n--flagfile={f['c']}\n")
    (tmp_path / "c.flags").write_text(f"--flagfile={f['b']}\n")
    with pytest.raises(ValueError, match=f"^flagfile {f['a']} includes itself$"):
        entry.expand_flagfiles([f"--flagfile={f['a']}"])
    with pytest.raises(ValueError, match=rf"includes itself \({f['b']} -> .*c.flags -> "):
        entry.expand_flagfiles(["--seed=1", "--flagfile", f["b"]])
    # A file read twice but never inside itself is fine; nothing after `--` is expanded.
    (tmp_path / "e.flags").write_text(f"--flagfile={f['d']}\n--flagfile={f['d']}\n")
    assert entry.expand_flagfiles(["--seed=1", f"--flagfile={tmp_path / 'e.flags'}",
                                   "--", f"--flagfile={f['a']}"]) == [
        "--seed=1", "--epochs=3", "--epochs=3", "--", f"--flagfile={f['a']}"]


def test_a_nested_flagfile_is_found_beside_the_including_one_from_another_folder(tmp_path,
                                                                                  monkeypatch):
    (tmp_path / "sets").mkdir()
    _flagfiles(tmp_path / "sets", base="--epochs=2\n--seed=1\n",
               top="--flagfile=base.flags\n--epochs=3\n")
    monkeypatch.chdir(tmp_path)  # absl alone would look for ./base.flags
    assert entry.expand_flagfiles(["--flagfile=sets/top.flags", "--seed=4"]) == [
        "--epochs=2", "--seed=1", "--epochs=3", "--seed=4"]


def test_a_packaged_flagfile_is_read_from_any_folder(tmp_path):
    # cifar_cpu.flags (with its cifar.flags) from the packaged ones: image_folder needs data.
    proc = _cli("-m", "lsg_tf.train", "--flagfile=cifar_cpu.flags",
                f"--output_dir={tmp_path / 'run'}", "--export_dir=", cwd=tmp_path)
    assert proc.stderr.endswith(
        "error: dataset 'image_folder' needs data_dir=<root with train/ and test/>\n")
    assert proc.returncode == 1 and not (tmp_path / "run").exists()


def test_a_flagfile_found_nowhere_is_a_one_line_error_naming_the_packaged_ones(tmp_path):
    proc = _cli("-m", "lsg_tf.export", "--flagfile=cifar10.flags", cwd=tmp_path)
    assert proc.stderr == ("error: flagfile cifar10.flags is not a file in the current "
                           "folder, nor a packaged flagfile (cifar.flags, cifar_convmixer.flags, "
                           "cifar_cpu.flags, cifar_vit.flags, fashion.flags, tiny_imagenet.flags, "
                           f"tiny_imagenet_finetune.flags, voc.flags)\n{HINT}\n")
    assert proc.returncode == 1


@pytest.mark.parametrize("module, flag", [("lsg_tf.train", "--output_dir"),
                                          ("lsg_tf.export", "--run_dir")])
def test_a_flagfile_that_includes_itself_is_a_one_line_error(tmp_path, module, flag):
    a = tmp_path / "a.flags"
    a.write_text(f"--flagfile={a}\n")
    # --dataset=image_folder without --data_dir: never a training run, even if this regressed.
    extra = ["--dataset=image_folder", "--export_dir="] if module == "lsg_tf.train" else []
    proc = _cli("-m", module, f"--flagfile={a}", f"{flag}={tmp_path / 'run'}", *extra)
    assert proc.stderr == f"error: flagfile {a} includes itself\n{HINT}\n"
    assert proc.returncode == 1
    assert not (tmp_path / "run").exists()
