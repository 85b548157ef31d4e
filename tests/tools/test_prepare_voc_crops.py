"""tools/prepare_voc_crops.py on a tiny VOC devkit fixture."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tools import prepare_voc_crops as crops

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_XML = """<annotation><filename>{stem}.jpg</filename>{objects}</annotation>"""
_OBJECT = ("<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
           "<xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>"
           "</bndbox></object>")


def _write_devkit(root):
    """Two 40x60 photos: a white box per object on black; one difficult, one car."""
    os.makedirs(os.path.join(root, "Annotations"))
    os.makedirs(os.path.join(root, "JPEGImages"))
    layout = {
        "a": [("cat", 0, (11, 6, 30, 25)), ("car", 0, (1, 1, 5, 5)), ("dog", 1, (31, 1, 60, 40))],
        "b": [("dog", 0, (1, 1, 20, 10)), ("sheep", 0, (41, 21, 60, 40))],
    }
    for stem, objects in layout.items():
        image = np.zeros((40, 60, 3), np.uint8)
        for _, _, (x0, y0, x1, y1) in objects:
            image[y0 - 1:y1, x0 - 1:x1] = 255
        Image.fromarray(image).save(os.path.join(root, "JPEGImages", f"{stem}.jpg"), quality=100)
        text = _XML.format(stem=stem, objects="".join(
            _OBJECT.format(name=n, difficult=d, x0=b[0], y0=b[1], x1=b[2], y1=b[3])
            for n, d, b in objects))
        with open(os.path.join(root, "Annotations", f"{stem}.xml"), "w") as f:
            f.write(text)


def test_read_objects_skips_other_classes_and_difficult(tmp_path):
    _write_devkit(str(tmp_path))
    objects = crops.read_objects(str(tmp_path))
    assert objects == [("a", 0, "cat", (11, 6, 30, 25)), ("b", 0, "dog", (1, 1, 20, 10)),
                       ("b", 1, "sheep", (41, 21, 60, 40))]
    assert len(crops.read_objects(str(tmp_path), skip_difficult=False)) == 4


def test_write_crops_split_and_content(tmp_path):
    voc, out = tmp_path / "voc", tmp_path / "out"
    _write_devkit(str(voc))
    counts = crops.write_crops(str(voc), str(out), size=16, num_test=1, seed=0)
    assert sum(counts["train"].values()) == 2 and sum(counts["test"].values()) == 1
    files = sorted(os.path.relpath(os.path.join(d, f), out)
                   for d, _, fs in os.walk(out) for f in fs)
    assert len(files) == 3 and all(f.split(os.sep)[0] in ("train", "test") for f in files)
    for f in files:  # each crop is exactly its (white) box
        with Image.open(out / f) as image:
            assert image.size == (16, 16)
            assert np.array(image).min() > 200
    assert set(os.listdir(out / "train")) == set(crops.PAPER_CLASSES)


def test_write_crops_bad_num_test(tmp_path):
    _write_devkit(str(tmp_path))
    with pytest.raises(ValueError, match="num_test must be in"):
        crops.write_crops(str(tmp_path), str(tmp_path / "out"), num_test=3)
    with pytest.raises(FileNotFoundError, match="Annotations"):
        crops.read_objects(str(tmp_path / "missing"))


def test_prepare_voc_crops_cli(tmp_path):
    _write_devkit(str(tmp_path / "voc"))
    proc = subprocess.run([sys.executable, "-m", "tools.prepare_voc_crops",
                           f"--voc_dir={tmp_path / 'voc'}", f"--out={tmp_path / 'out'}",
                           "--num_test=1", "--size=8"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "train: 2 crops" in proc.stdout and "test: 1 crops" in proc.stdout


def test_voc_flagfile_parses_as_train_flags():
    code = ("import sys; from absl import flags; import lsg_tf.train; "
            "flags.FLAGS(['train', '--flagfile=voc.flags']); F = flags.FLAGS; "
            "print(F.model, F.image_size, F.batch_size, F.optimizer, F.learning_rate, "
            "F.gate_learning_rate)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["resnet152_top2", "128", "32", "adam", "1e-05", "0.001"]
