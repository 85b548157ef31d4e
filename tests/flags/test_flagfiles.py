"""lsg_tf.flags: the packaged flagfiles, the root's links to them, and the reader's lookup of a
nested --flagfile= name (beside the including file, the current folder, the packaged ones)."""

import os

import pytest
from conftest import ROOT

from lsg_tf import flags as flagfiles


def test_every_root_flagfile_is_a_link_to_the_packaged_one():
    root = sorted(f for f in os.listdir(ROOT) if f.endswith(".flags"))
    assert root == flagfiles.names() and "cifar_cpu.flags" in root
    for name in root:
        assert os.path.islink(os.path.join(ROOT, name)), name
        assert os.path.samefile(os.path.join(ROOT, name), flagfiles.path(name)), name
    assert flagfiles.path("cifar") == flagfiles.path("cifar.flags")
    assert os.path.dirname(flagfiles.path("cifar")) == flagfiles.FOLDER


def test_an_unknown_packaged_name_lists_the_packaged_flagfiles():
    with pytest.raises(ValueError, match=r"no packaged flagfile 'cifar10'; packaged: "
                                         r"cifar.flags, cifar_convmixer.flags, "):
        flagfiles.path("cifar10")


def test_a_packaged_flagfile_reads_the_same_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cpu = flagfiles.lines(flagfiles.path("cifar_cpu"))
    # cifar.flags' lines first, in place of the directive, then cifar_cpu.flags' own.
    assert cpu[:len(flagfiles.lines("cifar.flags"))] == flagfiles.lines("cifar.flags")
    assert cpu.index("--dataset=cifar10") < cpu.index("--dataset=image_folder")
    assert not any(line.startswith(("#", "--flagfile")) for line in cpu)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_a_nested_name_is_found_beside_the_including_file_then_in_the_current_folder(
        tmp_path, monkeypatch):
    base = _write(tmp_path / "sets" / "base.flags", "# base\n--epochs=2\n\n--seed=1\n")
    top = _write(tmp_path / "sets" / "top.flags", "--flagfile=base.flags\n--epochs=3\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert flagfiles.lines(top) == ["--epochs=2", "--seed=1", "--epochs=3"]
    _write(elsewhere / "base.flags", "--seed=7\n")  # the includer's neighbour still wins
    assert flagfiles.lines(top) == ["--epochs=2", "--seed=1", "--epochs=3"]
    os.remove(base)  # then the current folder
    assert flagfiles.lines(top) == ["--seed=7", "--epochs=3"]
    # A packaged flagfile's include is the packaged one, whatever the current folder holds.
    _write(elsewhere / "cifar.flags", "--epochs=1\n")
    assert "--epochs=1" not in flagfiles.lines(flagfiles.path("cifar_cpu"))


def test_a_nested_packaged_name_is_the_fallback_and_a_missing_one_a_one_line_error(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine = _write(tmp_path / "mine.flags", "--flagfile=cifar.flags\n--epochs=1\n")
    assert flagfiles.lines(mine) == flagfiles.lines(flagfiles.path("cifar")) + ["--epochs=1"]
    bad = _write(tmp_path / "bad.flags", "--flagfile=nowhere.flags\n")
    with pytest.raises(ValueError) as error:
        flagfiles.lines(bad)
    message = str(error.value)
    assert message.startswith(f"flagfile nowhere.flags is not a file in the current folder, "
                              f"nor beside {bad}, which includes it, nor a packaged flagfile "
                              f"(cifar.flags, ")
    assert "\n" not in message and message.endswith("voc.flags)")


def test_a_flagfile_that_includes_itself_through_another_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.flags", "--epochs=2\n--flagfile=b.flags\n")
    _write(tmp_path / "b.flags", "--flagfile=a.flags\n")
    with pytest.raises(ValueError, match=r"^flagfile a.flags includes itself "
                                         r"\(a.flags -> b.flags -> a.flags\)$"):
        flagfiles.lines("a.flags")
    assert flagfiles.lines("") == []  # absl ignores an empty name
