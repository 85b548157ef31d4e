"""Localization metrics (paper appendix E), the VOC reader and the localize CLI."""

import gzip
import json
import math
import os
import struct
import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

from lsg_tf.analysis import localization as loc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ----------------------------------------------------------------------------- metrics
def test_iou_void_pixels_ignored():
    seg = np.array([[1, 1], [0, 0]], bool)
    target = np.array([[1, 0], [1, 0]], bool)
    valid = np.ones((2, 2), bool)
    assert loc.iou(seg, target, valid) == pytest.approx(1 / 3)
    valid[0, 1] = False  # the false-positive pixel is void
    assert loc.iou(seg, target, valid) == pytest.approx(1 / 2)


def test_iou_stacked_filters_match_single():
    rng = np.random.default_rng(0)
    seg = rng.random((5, 6, 3)) > 0.5
    target, valid = rng.random((5, 6)) > 0.5, rng.random((5, 6)) > 0.2
    stacked = loc.iou(seg, target, valid)
    assert stacked.shape == (3,)
    for k in range(3):
        assert stacked[k] == pytest.approx(loc.iou(seg[..., k], target, valid))


def test_top_threshold_selects_top_fraction():
    values = np.arange(1, 11, dtype=np.float32)
    assert loc.top_threshold(values, 0.2) == 9.0
    assert loc.top_threshold(values, 0.3) == 8.0
    assert loc.top_threshold(values, 1.0) == 1.0
    with pytest.raises(ValueError, match="top_fraction"):
        loc.top_threshold(values, 0.0)


def test_dataset_thresholds_are_dataset_wide_per_filter():
    # Two 1x5 "images", no upsampling: filter 0's top 20% of all 10 pixels is {9, 10}; a
    # per-image threshold would be 4 on the first image.
    a = np.stack([np.arange(1, 6), np.arange(50, 0, -10)], -1).reshape(1, 5, 2)
    b = np.stack([np.arange(6, 11), np.full(5, 7)], -1).reshape(1, 5, 2)
    maps = np.stack([a, b]).astype(np.float32)  # [2, 1, 5, 2]
    thresholds = loc.dataset_thresholds(maps, [(1, 5), (1, 5)], 0.2)
    np.testing.assert_array_equal(thresholds, [9.0, 40.0])


def test_dataset_thresholds_exact_after_upsampling():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    sizes = [(5, 7), (4, 9), (6, 6)]
    for top in (0.2, 0.3):
        got = loc.dataset_thresholds(maps, sizes, top, bins=16)
        ups = np.concatenate([loc.upsample(m, s).reshape(-1, 4) for m, s in zip(maps, sizes)])
        k = math.ceil(top * len(ups))
        want = -np.sort(-ups, axis=0)[k - 1]
        np.testing.assert_array_equal(got, want)
        assert np.all((ups >= got).sum(axis=0) == k)  # continuous values: no ties


def test_dataset_thresholds_narrow_when_a_bin_is_crowded():
    # ReLU-like maps: most values are exactly 0 and the rest crowd near it, so the threshold's
    # bin holds far more than ``keep`` values; the search narrows (several passes) and still
    # selects the exact value, including a threshold that is one of the tied zeros.
    rng = np.random.default_rng(2)
    maps = np.maximum(rng.normal(-1.0, 1.0, size=(6, 3, 3, 5)), 0).astype(np.float32)
    maps[..., 1] = np.where(maps[..., 1] > 0, 1e-7 * maps[..., 1], 0)  # crowded near zero
    maps[..., 2] = 0.0  # a dead filter: every value tied
    sizes = [(8, 8)] * 3 + [(5, 9)] * 3
    ups = np.concatenate([loc.upsample(m, s).reshape(-1, 5) for m, s in zip(maps, sizes)])
    for top in (0.2, 0.6, 0.95):
        k = math.ceil(top * len(ups))
        want = -np.sort(-ups, axis=0)[k - 1]
        for bins, keep in ((16, 4), (4096, 1 << 16), (2, 1)):
            got = loc.dataset_thresholds(maps, sizes, top, bins=bins, keep=keep)
            np.testing.assert_array_equal(got, want, err_msg=f"top {top}, bins {bins}")
    assert want[2] == 0.0 and want[0] == 0.0  # top 95%: ties at zero decide


def test_one_filter_ious_upsample_map_to_mask_size():
    # A 2x2 map with one hot corner, bilinearly upsampled to 4x4: its top 4 of 16 values are
    # the top-left 2x2 block (1, .75, .75, .5625), exactly the target.
    maps = np.zeros((1, 2, 2, 2), np.float32)
    maps[0, 0, 0, 0] = 1.0  # filter 0: top-left
    maps[0, 1, 1, 1] = 1.0  # filter 1: bottom-right
    target = np.zeros((4, 4), bool)
    target[:2, :2] = True
    item = loc.Item(image=0, model_class=0, target=target, valid=np.ones((4, 4), bool))
    thresholds = loc.dataset_thresholds(maps, [(4, 4)], 0.25)
    np.testing.assert_allclose(thresholds, [0.5625, 0.5625])
    np.testing.assert_allclose(loc.one_filter_ious(maps, [item], thresholds), [[1.0, 0.0]])
    # CAM of class 0 = 2 F_0 - F_1: its own top 25% is the top-left block; class 1 the opposite.
    kernel = np.array([[2.0, 0.0], [-1.0, 1.0]], np.float32)
    np.testing.assert_allclose(loc.cam_ious(maps, kernel, [item], 0.25), [1.0])
    model = types.SimpleNamespace(classifier=types.SimpleNamespace(
        kernel=kernel, bias=np.array([0.0, 0.1], np.float32)))
    # pooled = (0.25, 0.25): logits (0.25, 0.35) -> class 1.
    assert loc.item_accuracy(model, maps, [item]) == 0.0
    item1 = loc.Item(image=0, model_class=1, target=target, valid=item.valid)
    np.testing.assert_allclose(loc.cam_ious(maps, kernel, [item1], 0.25), [0.0])
    assert loc.item_accuracy(model, maps, [item1]) == 1.0


def test_summarise_one_filter_hand_values():
    ious = np.array([[0.5, 0.1, 0.2],
                     [0.4, 0.0, 0.1],
                     [0.1, 0.2, 0.1],
                     [0.0, 0.3, 0.16]])  # items x filters
    result = loc.summarise_one_filter(ious, [3, 3, 7, 7], [3, 7], ["a", "b"], 0.15)
    assert result.filter_class == [3, 7, 3]  # filter 2: AP 0.5 for both -> the first class
    np.testing.assert_allclose(result.filter_iou, [0.45, 0.25, 0.15])
    np.testing.assert_allclose(result.filter_ap, [1.0, 1.0, 0.5])
    a, b = result.per_class
    assert (a.count, b.count) == (2, 1)
    assert (a.avg_iou, a.ap) == pytest.approx((0.30, 0.75))
    assert (b.avg_iou, b.ap) == pytest.approx((0.25, 1.0))
    assert (result.avg_iou, result.ap) == pytest.approx((0.85 / 3, 2.5 / 3))
    # A stricter success threshold moves filter 1 (AP .5 for class 7 only) and filter 2.
    strict = loc.summarise_one_filter(ious, [3, 3, 7, 7], [3, 7], ["a", "b"], 0.25)
    assert strict.filter_class == [3, 7, 3]
    assert strict.per_class[1].ap == pytest.approx(0.5)


def test_summarise_one_filter_class_without_filters_is_nan():
    ious = np.array([[0.9], [0.0]])
    result = loc.summarise_one_filter(ious, [0, 1], [0, 1], ["a", "b"], 0.15)
    assert result.per_class[0].count == 1 and result.per_class[1].count == 0
    assert math.isnan(result.per_class[1].avg_iou) and math.isnan(result.per_class[1].ap)
    assert result.avg_iou == pytest.approx(0.9)


def test_summarise_cam_hand_values():
    result = loc.summarise_cam(np.array([0.1, 0.2, 0.5]), [0, 0, 1], [0, 1], ["a", "b"], 0.15)
    assert (result.per_class[0].avg_iou, result.per_class[0].ap) == pytest.approx((0.15, 0.5))
    assert (result.per_class[1].avg_iou, result.per_class[1].ap) == pytest.approx((0.5, 1.0))
    assert (result.avg_iou, result.ap) == pytest.approx((0.8 / 3, 2 / 3))
    assert [c.count for c in result.per_class] == [2, 1]


def test_to_channels_gray_from_rgb_is_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(loc.to_channels(rgb, 1)[..., 0], [[76.245, 149.685, 29.07]],
                               rtol=1e-5)
    assert loc.to_channels(rgb[..., :1], 3).shape == (1, 3, 3)
    with pytest.raises(ValueError, match="channels"):
        loc.to_channels(rgb, 2)


# --------------------------------------------------------------------------- VOC reader
def _palette_png(path, mask):
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette([v for i in range(256) for v in (i * 40 % 256, i * 90 % 256, i * 7 % 256)])
    image.save(path)


def write_voc(root, classes_text, shapes=((12, 16), (10, 10), (9, 14)), seed=0):
    """A VOC folder: RGB photos; masks: class 1 on the left, class 2 bottom right, void row."""
    rng = np.random.default_rng(seed)
    for sub in ("JPEGImages", "SegmentationClass"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write(classes_text)
    masks = []
    for n, (h, w) in enumerate(shapes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            os.path.join(root, "JPEGImages", f"im{n}.jpg"))
        mask = np.zeros((h, w), np.uint8)
        mask[:, : w // 2] = 1
        if n != 1:
            mask[h // 2:, w // 2:] = 2
        mask[0] = 255
        _palette_png(os.path.join(root, "SegmentationClass", f"im{n}.png"), mask)
        masks.append(mask)
    return masks


def test_read_voc_folder_palette_masks(tmp_path):
    masks = write_voc(str(tmp_path), "background\nshirt\nboot\n")
    data = loc.read_voc_folder(str(tmp_path))
    assert data.ids == ["im0", "im1", "im2"]
    assert data.class_names == ["background", "shirt", "boot"]
    assert data.void_indices == (255,)
    for got, want in zip(data.masks, masks):
        np.testing.assert_array_equal(got, want)
    assert data.images[0].shape == (12, 16, 3)
    items = loc.evaluation_items(data, ["Boot", "Shirt", "Bag"],
                                 {"shirt": "Shirt", "boot": "Boot"})
    assert [(i.image, i.model_class) for i in items] == [(0, 1), (0, 0), (1, 1), (2, 1), (2, 0)]
    assert not items[0].valid[0].any() and items[0].valid[1:].all()
    np.testing.assert_array_equal(items[1].target, masks[0] == 2)
    assert len(loc.evaluation_items(data, ["Boot", "Shirt"], {"boot": "Boot"},
                                    max_images=1)) == 1


def test_read_voc_folder_index_name_classes_with_void(tmp_path):
    write_voc(str(tmp_path), "0 void\n1 shirt\n2 boot\n")
    data = loc.read_voc_folder(str(tmp_path), max_images=2)
    assert data.class_names == ["void", "shirt", "boot"] and len(data.ids) == 2
    assert data.void_indices == (0, 255)


def test_read_voc_folder_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        loc.read_voc_folder(str(tmp_path))
    write_voc(str(tmp_path), "a\nb\nc\n")
    with pytest.raises(ValueError, match="mask class 'car'"):
        loc.evaluation_items(loc.read_voc_folder(str(tmp_path)), ["x", "y"], {"car": "x"})
    with pytest.raises(ValueError, match="model class 'z'"):
        loc.evaluation_items(loc.read_voc_folder(str(tmp_path)), ["x", "y"], {"b": "z"})
    Image.new("RGB", (16, 12)).save(os.path.join(tmp_path, "SegmentationClass", "im0.png"))
    with pytest.raises(ValueError, match="im0.png: mode 'RGB'"):
        loc.read_voc_folder(str(tmp_path))
    os.remove(os.path.join(tmp_path, "classes.txt"))
    with pytest.raises(FileNotFoundError, match="classes.txt"):
        loc.read_voc_folder(str(tmp_path))
    with pytest.raises(ValueError, match="mask_name:model_name"):
        loc.parse_class_map(["car-automobile"])


# ---------------------------------------------------------------------------------- CLI
def _write_idx(path, array):
    array = np.asarray(array, np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_localize_cli_end_to_end(tmp_path):
    from lsg_tf.training.train_lib import TrainConfig, train

    data_dir = tmp_path / "fashion"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    patterns = rng.integers(0, 256, (10, 8, 8))
    for prefix, n in (("train", 100), ("t10k", 50)):
        labels = np.arange(n) % 10
        _write_idx(str(data_dir / f"{prefix}-images-idx3-ubyte.gz"),
                   np.clip(patterns[labels] + rng.normal(0, 40, (n, 8, 8)), 0, 255))
        _write_idx(str(data_dir / f"{prefix}-labels-idx1-ubyte.gz"), labels)
    run_dir = tmp_path / "run"
    train(TrainConfig(output_dir=str(run_dir), dataset="fashion_mnist", data_dir=str(data_dir),
                      model="resnet20", epochs=1, batch_size=50, scheme="std", verbose=0))
    voc = tmp_path / "voc"
    write_voc(str(voc), "0 void\n1 shirt\n2 boot\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lsg_tf.localize", f"--run={run_dir}", f"--run={run_dir}",
           "--names=std,lsg", f"--voc_dir={voc}", f"--out={out}",
           "--class_map=shirt:Shirt,boot:Ankle boot", "--note=Tiny fixture."]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (out / "localization.md").read_text()
    assert "--run=runs/run --run=runs/run --names=std,lsg" in text
    assert "--voc_dir=DATA/voc" in text and "--out=out" in text
    assert str(tmp_path) not in text and "Tiny fixture." not in text.split("```")[1]
    assert "## Notes\n\nTiny fixture." in text
    assert "## Top 20% activations, success IoU > 0.15" in text and "AP15" in text
    assert "## Top 30% activations, success IoU > 0.3" in text and "AP30" in text
    report = json.loads((out / "localization.json").read_text())
    assert report["data"]["num_items"] == 5 and report["data"]["num_images"] == 3
    for variant in report["variants"]:
        std, lsg = variant["runs"]["std"], variant["runs"]["lsg"]
        assert std == lsg  # the same run twice
        one = std["one_filter"]
        assert sum(c["count"] for c in one["per_class"]) == len(one["filter_class"]) == 64
        assert 0 <= one["avg_iou"] <= 1 and 0 <= std["cam"]["ap"] <= 1
        assert [c["name"] for c in std["cam"]["per_class"]] == ["Shirt", "Ankle boot"]
    assert 0 <= report["runs"][0]["item_accuracy"] <= 1
    with Image.open(out / "localization.png") as png:
        assert png.size[0] > 400
