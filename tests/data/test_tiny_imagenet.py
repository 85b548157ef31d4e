"""Tiny ImageNet loader: a miniature folder in the release's layout, its boxes and its errors."""

import os
import re

import numpy as np
import pytest
from PIL import Image

from lsg_tf import data
from lsg_tf.data import tiny_imagenet  # _decode_files is looked up there

# wnids.txt lists the classes unsorted; labels follow the sorted wnids: n01 0, n02 1, n03 2.
WNIDS_FILE_ORDER = ("n03", "n01", "n02")
WORDS = "n00\tentity\nn01\tgolden retriever\nn02\tEgyptian cat, cat\nn03\tgoose, honker\n"
# (file, value, box) per class, in the line order of its boxes file; n02_0 is a gray JPEG.
TRAIN = {
    "n01": [("n01_1.JPEG", 40, (1, 2, 5, 6)), ("n01_0.JPEG", 20, (0, 0, 7, 7))],
    "n02": [("n02_0.JPEG", 60, (2, 2, 3, 3)), ("n02_1.JPEG", 80, (0, 1, 7, 6))],
    "n03": [("n03_0.JPEG", 100, (3, 0, 4, 7))],
}
# (file, wnid, value, box), in the line order of val_annotations.txt.
VAL = [
    ("val_2.JPEG", "n02", 160, (4, 5, 6, 7)),
    ("val_0.JPEG", "n03", 120, (0, 0, 7, 7)),
    ("val_3.JPEG", "n01", 180, (0, 3, 7, 4)),
    ("val_1.JPEG", "n01", 140, (1, 1, 2, 2)),
]
GRAY = {"n02_0.JPEG"}


def _rgb(value):
    return (value, value // 2, 255 - value)


def _write_jpeg(path, value, gray=False, size=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if gray:
        Image.new("L", (size, size), value).save(path, "JPEG", quality=95)
    else:
        Image.new("RGB", (size, size), _rgb(value)).save(path, "JPEG", quality=95)


def _lines(rows):
    return "".join("\t".join(str(v) for v in row) + "\n" for row in rows)


def _make_tree(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS_FILE_ORDER) + "\n")
    (root / "words.txt").write_text(WORDS)
    for wnid, rows in TRAIN.items():
        for name, value, _ in rows:
            _write_jpeg(str(root / "train" / wnid / "images" / name), value, gray=name in GRAY)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text(
            _lines((name, *box) for name, _, box in rows))
    for name, _, value, _ in VAL:
        _write_jpeg(str(root / "val" / "images" / name), value)
    (root / "val" / "val_annotations.txt").write_text(
        _lines((name, wnid, *box) for name, wnid, _, box in VAL))
    return root


@pytest.fixture
def tree(tmp_path):
    return _make_tree(tmp_path / "tiny")


def _colour_of(images):
    """The (approximately constant) RGB colour of each image, int [N, 3]."""
    return np.rint(images.reshape(len(images), -1, 3).mean(axis=1)).astype(int)


def test_shapes_labels_class_order_and_names(tree):
    splits = data.load_tiny_imagenet(str(tree))
    assert splits.name == "tiny_imagenet"
    assert splits.x_train.shape == (5, 8, 8, 3) and splits.x_train.dtype == np.uint8
    assert splits.x_test.shape == (4, 8, 8, 3)
    assert splits.class_names == ("golden retriever", "Egyptian cat", "goose")
    assert data.read_wnids(str(tree)) == ("n01", "n02", "n03")
    # Train: class by class, each in its boxes file's line order; test: val_annotations order.
    np.testing.assert_array_equal(splits.y_train, [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(splits.y_test, [1, 2, 0, 0])
    train_rgb = [(60, 60, 60) if n in GRAY else _rgb(v)
                 for w in ("n01", "n02", "n03") for n, v, _ in TRAIN[w]]
    np.testing.assert_allclose(_colour_of(splits.x_train), train_rgb, atol=3)
    np.testing.assert_allclose(_colour_of(splits.x_test), [_rgb(v) for _, _, v, _ in VAL],
                               atol=3)


def test_gray_jpeg_is_repeated_to_rgb(tree):
    gray = data.load_tiny_imagenet(str(tree)).x_train[2]  # n02_0.JPEG
    assert gray.shape == (8, 8, 3)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])


def test_test_boxes_aligned_with_test_images(tree):
    splits = data.load_tiny_imagenet(str(tree))
    boxes = data.load_tiny_imagenet_boxes(str(tree))
    assert isinstance(boxes, data.TinyImageNetBoxes)
    assert boxes.files == tuple(os.path.join("val", "images", n) for n, _, _, _ in VAL)
    assert boxes.wnids == ("n01", "n02", "n03")
    assert boxes.boxes.dtype == np.int32 and boxes.boxes.shape == (4, 4)
    np.testing.assert_array_equal(boxes.boxes, [[4, 5, 6, 7], [0, 0, 7, 7], [0, 3, 7, 4],
                                                [1, 1, 2, 2]])
    np.testing.assert_array_equal(boxes.labels, splits.y_test)
    # Each box's file is the image at the same position of x_test.
    for i, path in enumerate(boxes.files):
        with Image.open(tree / path) as image:
            np.testing.assert_allclose(splits.x_test[i].astype(int), np.asarray(image).astype(int),
                                       atol=2)


def test_train_boxes_follow_train_order(tree):
    boxes = data.load_tiny_imagenet_boxes(str(tree), split="train")
    assert boxes.files[:2] == (os.path.join("train", "n01", "images", "n01_1.JPEG"),
                               os.path.join("train", "n01", "images", "n01_0.JPEG"))
    np.testing.assert_array_equal(boxes.boxes, [[1, 2, 5, 6], [0, 0, 7, 7], [2, 2, 3, 3],
                                                [0, 1, 7, 6], [3, 0, 4, 7]])
    np.testing.assert_array_equal(boxes.labels, [0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match=r"split='val' is not one of \('train', 'test'\)"):
        data.load_tiny_imagenet_boxes(str(tree), split="val")


def test_class_subset_relabels_and_keeps_boxes_aligned(tree):
    splits = data.load_tiny_imagenet(str(tree), classes=["n03", "n01"])
    assert splits.class_names == ("golden retriever", "goose")
    np.testing.assert_array_equal(splits.y_train, [0, 0, 1])
    np.testing.assert_array_equal(splits.y_test, [1, 0, 0])  # val_0, val_3, val_1
    np.testing.assert_allclose(_colour_of(splits.x_test), [_rgb(120), _rgb(180), _rgb(140)],
                               atol=3)
    boxes = data.load_tiny_imagenet_boxes(str(tree), classes=["n03", "n01"])
    assert boxes.wnids == ("n01", "n03") == data.read_wnids(str(tree), ["n03", "n01"])
    np.testing.assert_array_equal(boxes.boxes, [[0, 0, 7, 7], [0, 3, 7, 4], [1, 1, 2, 2]])
    np.testing.assert_array_equal(boxes.labels, splits.y_test)


@pytest.mark.parametrize("classes, pattern", [
    (["n01", "n07"], r"classes n07 not in .*wnids\.txt; allowed: its 3 wnids \(n01, n02, n03\)"),
    ([], r"classes is empty"),
    (["n01", "n01"], r"classes lists n01 more than once"),
])
def test_bad_class_subset_raises(tree, classes, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load_tiny_imagenet(str(tree), classes=classes)


def test_class_subset_as_a_string_raises(tree):
    with pytest.raises(TypeError, match=r"classes must be a list of wnids, got the string 'n01'"):
        data.load_tiny_imagenet(str(tree), classes="n01")


def test_repeated_first_names_get_their_wnid(tree):
    (tree / "words.txt").write_text("n01\tcrane\nn02\tcrane, machine\nn03\tgoose\n")
    assert tiny_imagenet.read_class_names(str(tree), ("n01", "n02", "n03")) == (
        "crane (n01)", "crane (n02)", "goose")


def test_cache_round_trip_and_invalidation(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = data.load_tiny_imagenet(str(tree), cache_dir=str(cache))
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].startswith("tiny_imagenet-") and files[0].endswith(".npz")

    real_decode = tiny_imagenet._decode_files

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    monkeypatch.setattr(tiny_imagenet, "_decode_files", no_decode)
    cached = data.load_tiny_imagenet(str(tree), cache_dir=str(cache))
    np.testing.assert_array_equal(cached.x_train, first.x_train)
    np.testing.assert_array_equal(cached.x_test, first.x_test)
    np.testing.assert_array_equal(cached.y_test, first.y_test)
    assert cached.class_names == first.class_names
    # A subset is another key (decoding is still forbidden: it must fail).
    with pytest.raises(AssertionError, match="decoded although"):
        data.load_tiny_imagenet(str(tree), cache_dir=str(cache), classes=["n01", "n02"])

    # A changed text file (new names) is a new key: decoded again, new names.
    monkeypatch.setattr(tiny_imagenet, "_decode_files", real_decode)
    words = tree / "words.txt"
    words.write_text(WORDS.replace("goose, honker", "honker"))
    st = os.stat(words)
    os.utime(words, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fresh = data.load_tiny_imagenet(str(tree), cache_dir=str(cache))
    assert fresh.class_names[2] == "honker"
    assert sorted(f.endswith(".npz") for f in os.listdir(cache)) == [True, True]


def test_undecodable_image_names_file_and_writes_no_cache(tree, tmp_path):
    bad = tree / "val" / "images" / "val_0.JPEG"
    bad.write_bytes(b"not a jpeg")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=rf"cannot decode image file {re.escape(str(bad))}"):
        data.load_tiny_imagenet(str(tree), cache_dir=str(cache))
    assert not cache.exists() or not os.listdir(cache)


def test_load_dataset_tiny_imagenet(tree):
    splits = data.load_dataset("tiny_imagenet", data_dir=str(tree))
    assert splits.class_names == ("golden retriever", "Egyptian cat", "goose")
    assert splits.x_train.shape == (5, 8, 8, 3)
    with pytest.raises(ValueError, match=r"dataset 'tiny_imagenet' needs data_dir="):
        data.load_dataset("tiny_imagenet")
    with pytest.raises(ValueError, match=r"unknown dataset 'tiny'; allowed: .*'tiny_imagenet'"):
        data.load_dataset("tiny", data_dir=str(tree))
    with pytest.raises(ValueError, match=r"image_size=\(4, 4\) is only supported for"):
        data.load_dataset("tiny_imagenet", data_dir=str(tree), image_size=(4, 4))


def test_default_augmentation_64x64_rgb_is_crop_flip():
    x = np.zeros((1, 64, 64, 3), np.uint8)
    splits = data.ImageSplits("tiny_imagenet", x, np.array([0]), x, np.array([0]), ("a",))
    assert data.default_augmentation(splits) == "crop_flip"
    gray = np.zeros((1, 64, 64, 1), np.uint8)
    splits = data.ImageSplits("toy", gray, np.array([0]), gray, np.array([0]), ("a",))
    assert data.default_augmentation(splits) == "flip"


# --------------------------------------------------------------------------------------------
# Bad input: one-line errors naming the file (and the line of an annotation).
# --------------------------------------------------------------------------------------------

def _replace_line(path, number, text):
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _val(tree):
    return tree / "val" / "val_annotations.txt"


def _boxes(tree, wnid):
    return tree / "train" / wnid / f"{wnid}_boxes.txt"


# (mutation of the tree, exception, file named, pattern after the file name)
ERRORS = {
    "missing boxes file": (
        lambda t: os.remove(_boxes(t, "n02")), FileNotFoundError,
        lambda t: _boxes(t, "n02"), r" does not exist"),
    "box outside the image": (
        lambda t: _replace_line(_val(t), 2, "val_0.JPEG\tn03\t0\t0\t8\t7"), ValueError,
        _val, r", line 2: box \(0, 0, 8, 7\) outside the 8x8 image .*val_0\.JPEG"),
    "box below the image": (
        lambda t: _replace_line(_boxes(t, "n03"), 1, "n03_0.JPEG\t3\t0\t4\t8"), ValueError,
        lambda t: _boxes(t, "n03"), r", line 1: box \(3, 0, 4, 8\) outside the 8x8 image"),
    "negative corner": (
        lambda t: _replace_line(_val(t), 3, "val_3.JPEG\tn01\t-1\t3\t7\t4"), ValueError,
        _val, r", line 3: box \(-1, 3, 7, 4\) starts outside the image"),
    "x1 < x0": (
        lambda t: _replace_line(_boxes(t, "n01"), 2, "n01_0.JPEG\t5\t0\t4\t7"), ValueError,
        lambda t: _boxes(t, "n01"), r", line 2: box \(5, 0, 4, 7\) has x1 < x0 or y1 < y0"),
    "y1 < y0": (
        lambda t: _replace_line(_val(t), 4, "val_1.JPEG\tn01\t1\t3\t2\t2"), ValueError,
        _val, r", line 4: box \(1, 3, 2, 2\) has x1 < x0 or y1 < y0"),
    "val wnid not in wnids.txt": (
        lambda t: _replace_line(_val(t), 2, "val_0.JPEG\tn00\t0\t0\t7\t7"), ValueError,
        _val, r", line 2: wnid 'n00' is not in .*wnids\.txt"),
    "train image without a box line": (
        lambda t: _write_jpeg(str(t / "train" / "n02" / "images" / "n02_9.JPEG"), 5),
        ValueError, lambda t: t / "train" / "n02" / "images" / "n02_9.JPEG",
        r" has no line in .*n02_boxes\.txt \(1 such images\)"),
    "val image without a line": (
        lambda t: _write_jpeg(str(t / "val" / "images" / "val_9.JPEG"), 5), ValueError,
        lambda t: t / "val" / "images" / "val_9.JPEG", r" has no line in .*val_annotations\.txt"),
    "train box line for a missing image": (
        lambda t: os.remove(t / "train" / "n01" / "images" / "n01_0.JPEG"), ValueError,
        lambda t: _boxes(t, "n01"), r", line 2: image .*n01_0\.JPEG does not exist"),
    "val line for a missing image": (
        lambda t: os.remove(t / "val" / "images" / "val_3.JPEG"), ValueError,
        _val, r", line 3: image .*val_3\.JPEG does not exist"),
    "wrong field count": (
        lambda t: _replace_line(_boxes(t, "n02"), 2, "n02_1.JPEG\t0\t1\t7"), ValueError,
        lambda t: _boxes(t, "n02"),
        r", line 2: expected 5 tab-separated fields \(file, x0, y0, x1, y1\), got 4"),
    "spaces instead of tabs": (
        lambda t: _replace_line(_val(t), 1, "val_2.JPEG n02 4 5 6 7"), ValueError,
        _val, r", line 1: expected 6 tab-separated fields \(file, wnid, x0, y0, x1, y1\), got 1"),
    "non-integer coordinate": (
        lambda t: _replace_line(_val(t), 1, "val_2.JPEG\tn02\t4\t5.5\t6\t7"), ValueError,
        _val, r", line 1: box 4/5\.5/6/7 is not four integers"),
    "repeated image line": (
        lambda t: _replace_line(_val(t), 4, "val_2.JPEG\tn02\t4\t5\t6\t7"), ValueError,
        _val, r", line 4: image val_2\.JPEG repeats line 1"),
    "binary annotation file": (
        lambda t: _boxes(t, "n01").write_bytes(b"n01_1.JPEG\t1\t2\t5\t6\n\xff\xfe\n"),
        ValueError, lambda t: _boxes(t, "n01"), r", line 2: not UTF-8 text"),
    "missing wnids.txt": (
        lambda t: os.remove(t / "wnids.txt"), FileNotFoundError,
        lambda t: t / "wnids.txt", r" does not exist"),
    "repeated wnid": (
        lambda t: (t / "wnids.txt").write_text("n03\nn01\n\nn03\n"), ValueError,
        lambda t: t / "wnids.txt", r", line 4: wnid n03 repeats line 1"),
    "missing words.txt": (
        lambda t: os.remove(t / "words.txt"), FileNotFoundError,
        lambda t: t / "words.txt", r" does not exist"),
    "words.txt without a class": (
        lambda t: (t / "words.txt").write_text("n01\tdog\nn03\tgoose\n"), ValueError,
        lambda t: t / "words.txt", r" names no class n02"),
    "words.txt line without a tab": (
        lambda t: (t / "words.txt").write_text(WORDS + "n04 heron\n"), ValueError,
        lambda t: t / "words.txt", r", line 5: expected wnid<TAB>names"),
    "missing train folder": (
        lambda t: os.rename(t / "train", t / "training"), FileNotFoundError,
        lambda t: t / "train", r" does not exist"),
    "missing val folder": (
        lambda t: os.rename(t / "val", t / "validation"), FileNotFoundError,
        lambda t: t / "val", r" does not exist"),
    "missing val annotations": (
        lambda t: os.remove(_val(t)), FileNotFoundError, _val, r" does not exist"),
    "missing class folder": (
        lambda t: os.rename(t / "train" / "n02", t / "train" / "x02"), FileNotFoundError,
        lambda t: t / "train" / "n02", r" does not exist \(wnid n02 of wnids\.txt\)"),
    "empty train class": (
        lambda t: [os.remove(p) for p in (t / "train" / "n03" / "images").iterdir()],
        ValueError, lambda t: t / "train" / "n03" / "images", r" holds no image files"),
    "class without val images": (
        lambda t: (os.remove(t / "val" / "images" / "val_0.JPEG"),
                   _val(t).write_text(_lines((n, w, *b) for n, w, _, b in VAL if w != "n03"))),
        ValueError, _val, r" has no image of class n03"),
    "image of another size": (
        lambda t: _write_jpeg(str(t / "val" / "images" / "val_1.JPEG"), 140, size=10),
        ValueError, lambda t: t / "val" / "images" / "val_1.JPEG", r" is 10x10 but .* is 8x8"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_is_a_one_line_error_naming_file_and_line(tree, case):
    mutate, error, named, pattern = ERRORS[case]
    mutate(tree)
    with pytest.raises(error) as info:
        data.load_tiny_imagenet(str(tree))
    message = str(info.value)
    assert "\n" not in message
    assert re.search(re.escape(str(named(tree))) + pattern, message), message


def test_boxes_outside_the_image_caught_without_decoding(tree, monkeypatch):
    monkeypatch.setattr(tiny_imagenet, "_decode_files", None)  # not called
    _replace_line(_val(tree), 2, "val_0.JPEG\tn03\t0\t0\t7\t9")
    pattern = re.escape(str(_val(tree))) + r", line 2: box \(0, 0, 7, 9\) outside the 8x8 image"
    with pytest.raises(ValueError, match=pattern):
        data.load_tiny_imagenet_boxes(str(tree))
