"""Tests for lsg_tf.data: loaders, validation, subsets and deterministic tf.data pipelines."""

import gzip
import os
import struct
import time

import numpy as np
import pytest
import tensorflow as tf

from lsg_tf import data
from lsg_tf.data import image_folder  # _decode_files is looked up there

# --------------------------------------------------------------------------------------------
# Fixture builders.
# --------------------------------------------------------------------------------------------


def _idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """IDX encoding written by hand: 00 00 <type> <ndim>, big-endian uint32 dims, data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _write_idx(path, array, compress, type_code=0x08):
    payload = _idx_bytes(array, type_code)
    if compress:
        payload = gzip.compress(payload)
    with open(path, "wb") as f:
        f.write(payload)


def _write_fashion_files(folder, train_labels=None):
    """Train files gzip-compressed, test files raw; returns the arrays written."""
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)
    y_train = np.array([0, 1, 2, 9, 9, 3], dtype=np.uint8) if train_labels is None else train_labels
    x_test = rng.integers(0, 256, size=(2, 4, 3), dtype=np.uint8)
    y_test = np.array([5, 7], dtype=np.uint8)
    _write_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), x_train, compress=True)
    _write_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), y_train, compress=True)
    _write_idx(os.path.join(folder, "t10k-images-idx3-ubyte"), x_test, compress=False)
    _write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte"), y_test, compress=False)
    return x_train, y_train, x_test, y_test


def _write_png(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(image))


def _write_jpeg(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_jpeg(image, quality=95))


def _make_png_tree(root, channels=3, size=(5, 4), per_class=(2, 3), test_per_class=(1, 1)):
    """Writes root/{train,test}/{b_dog,a_cat}/*.png; returns {split: [(class, image), ...]}."""
    rng = np.random.default_rng(1)
    written = {"train": [], "test": []}
    # Class folders are created in non-sorted order on purpose.
    for cls, n_train, n_test in zip(("b_dog", "a_cat"), per_class, test_per_class):
        for split, count in (("train", n_train), ("test", n_test)):
            for i in range(count):
                image = rng.integers(0, 256, size=(*size, channels), dtype=np.uint8)
                _write_png(os.path.join(root, split, cls, f"{i:03d}.png"), image)
                written[split].append((cls, image))
    return written


def _collect(ds):
    images, labels = [], []
    for x, y in ds:
        images.append(x.numpy())
        labels.append(y.numpy())
    return images, labels


def _small_arrays(n=12, size=(6, 6), channels=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, *size, channels), dtype=np.uint8)
    y = np.arange(n, dtype=np.int32)  # Label = original index, so batches identify examples.
    return x, y


# --------------------------------------------------------------------------------------------
# IDX / Fashion-MNIST.
# --------------------------------------------------------------------------------------------


def test_load_fashion_mnist_hand_made_idx_round_trip(tmp_path):
    x_train, y_train, x_test, y_test = _write_fashion_files(tmp_path)
    splits = data.load_fashion_mnist(str(tmp_path))
    assert splits.name == "fashion_mnist"
    assert splits.x_train.shape == (6, 4, 3, 1) and splits.x_train.dtype == np.uint8
    np.testing.assert_array_equal(splits.x_train[..., 0], x_train)
    np.testing.assert_array_equal(splits.x_test[..., 0], x_test)
    assert splits.y_train.dtype == np.int32
    np.testing.assert_array_equal(splits.y_train, [0, 1, 2, 9, 9, 3])
    np.testing.assert_array_equal(splits.y_test, [5, 7])
    assert splits.num_classes == 10
    assert splits.class_names[0] == "T-shirt/top" and splits.class_names[9] == "Ankle boot"


def test_read_idx_int32_big_endian(tmp_path):
    values = np.array([[1, -2, 70000], [3, 4, -5]], dtype=">i4")
    path = tmp_path / "ints.idx"
    _write_idx(path, values, compress=False, type_code=0x0C)
    out = data.read_idx(str(path))
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, [[1, -2, 70000], [3, 4, -5]])


def test_read_idx_bad_magic_names_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x01\x02\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*not an IDX file"):
        data.read_idx(str(path))


def test_read_idx_size_mismatch_names_file(tmp_path):
    path = tmp_path / "short.idx.gz"
    payload = _idx_bytes(np.zeros((2, 3, 3), np.uint8))[:-1]  # One data byte missing.
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(ValueError, match=r"short\.idx\.gz.*\(2, 3, 3\).*18 data bytes.*17"):
        data.read_idx(str(path))


def test_load_fashion_mnist_missing_file_names_file_and_package(tmp_path):
    _write_fashion_files(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*dataset-fashion-mnist"):
        data.load_fashion_mnist(str(tmp_path))


def test_load_fashion_mnist_label_out_of_range(tmp_path):
    _write_fashion_files(tmp_path, train_labels=np.array([0, 1, 2, 10, 9, 3], np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*label 10.*\[0, 10\)"):
        data.load_fashion_mnist(str(tmp_path))


# --------------------------------------------------------------------------------------------
# Validation and ImageSplits.
# --------------------------------------------------------------------------------------------


def test_validate_arrays_label_out_of_range_reports_value_and_classes():
    x = np.zeros((3, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError, match=r"train split: label 7 is outside \[0, 5\) for 5"):
        data.validate_arrays(x, np.array([0, 7, 1]), 5, "train split")
    with pytest.raises(ValueError, match=r"label -1 is outside"):
        data.validate_arrays(x, np.array([0, -1, 1]), 5, "train split")


def test_validate_arrays_gray_rank3_gets_channel_axis():
    x, y = data.validate_arrays(np.zeros((2, 3, 4), np.uint8), np.array([1, 0], np.int64), 2, "a")
    assert x.shape == (2, 3, 4, 1) and y.dtype == np.int32


@pytest.mark.parametrize(
    "x, y, pattern",
    [
        (np.zeros((2, 3), np.uint8), np.zeros(2, int), r"shape \[N, H, W, C\].*\(2, 3\)"),
        (np.zeros((2, 3, 3, 4), np.uint8), np.zeros(2, int), r"1 or 3 channels, got 4"),
        (np.zeros((2, 3, 3, 3), np.float32), np.zeros(2, int), r"uint8.*float32"),
        (np.zeros((2, 3, 3, 3), np.uint8), np.zeros(3, int), r"2 images but 3 labels"),
        (np.zeros((0, 3, 3, 3), np.uint8), np.zeros(0, int), r"empty split"),
        (np.zeros((2, 3, 3, 3), np.uint8), np.zeros(2, np.float32), r"integers"),
    ],
    ids=["rank2", "four_channels", "float_images", "length_mismatch", "empty", "float_labels"],
)
def test_validate_arrays_bad_input_raises(x, y, pattern):
    with pytest.raises(ValueError, match="^arrays: .*" + pattern):
        data.validate_arrays(x, y, 3, "arrays")


def test_image_splits_label_out_of_range_raises():
    x = np.zeros((2, 2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match=r"test split of toy: label 2 is outside \[0, 2\)"):
        data.ImageSplits("toy", x, np.array([0, 1]), x, np.array([2, 0]), ("a", "b"))


def test_image_splits_shape_mismatch_between_splits_raises():
    with pytest.raises(ValueError, match=r"train images are \(2, 2, 3\) but test images"):
        data.ImageSplits(
            "toy",
            np.zeros((2, 2, 2, 3), np.uint8),
            np.array([0, 1]),
            np.zeros((2, 3, 3, 3), np.uint8),
            np.array([0, 1]),
            ("a", "b"),
        )


def test_image_splits_channel_stats_hand_derived():
    # Channel 0 takes values 0 and 255 -> mean 0.5, std 0.5; channel 1 is constant 51 -> 0.2, 0;
    # channel 2 takes 0, 0, 0, 255 -> mean 0.25, std sqrt(0.25 * 0.75).
    x = np.zeros((4, 1, 1, 3), np.uint8)
    x[:, 0, 0, 0] = [0, 255, 0, 255]
    x[:, 0, 0, 1] = 51
    x[3, 0, 0, 2] = 255
    y = np.array([0, 1, 0, 1])
    splits = data.ImageSplits("toy", x, y, x, y, ("a", "b"))
    mean, std = splits.channel_stats()
    np.testing.assert_allclose(mean, [0.5, 0.2, 0.25], rtol=0, atol=1e-12)
    np.testing.assert_allclose(std, [0.5, 0.0, np.sqrt(0.1875)], rtol=0, atol=1e-12)
    assert splits.image_shape == (1, 1, 3) and splits.num_classes == 2


def test_default_augmentation_by_image_shape():
    def splits(shape):
        x = np.zeros((1, *shape), np.uint8)
        return data.ImageSplits("toy", x, np.array([0]), x, np.array([0]), ("a",))

    assert data.default_augmentation(splits((32, 32, 3))) == "crop_flip"
    assert data.default_augmentation(splits((28, 28, 1))) == "crop_flip"
    assert data.default_augmentation(splits((32, 32, 1))) == "flip"
    assert data.default_augmentation(splits((128, 128, 3))) == "flip"


# --------------------------------------------------------------------------------------------
# Subsets.
# --------------------------------------------------------------------------------------------


def test_stratified_subset_counts_per_class_and_order():
    y = np.arange(30) % 3  # 10 examples per class, interleaved.
    x = np.arange(30) * 10
    x_sub, y_sub = data.stratified_subset(x, y, 8, seed=0)
    # 8 = 3 * 2 + 2: the remainder goes to the two smallest labels.
    np.testing.assert_array_equal(np.bincount(y_sub, minlength=3), [3, 3, 2])
    assert np.all(np.diff(x_sub) > 0)  # Sorted by original index.
    np.testing.assert_array_equal(y_sub, y[x_sub // 10])  # Pairs stay aligned.


def test_stratified_subset_small_class_gives_all_and_others_share():
    y = np.array([0] * 1 + [1] * 10 + [2] * 10)
    _, y_sub = data.stratified_subset(np.arange(21), y, 7, seed=3)
    np.testing.assert_array_equal(np.bincount(y_sub, minlength=3), [1, 3, 3])


def test_stratified_subset_seeding():
    y = np.arange(100) % 4
    x = np.arange(100)
    a, _ = data.stratified_subset(x, y, 20, seed=5)
    b, _ = data.stratified_subset(x, y, 20, seed=5)
    c, _ = data.stratified_subset(x, y, 20, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    full, _ = data.stratified_subset(x, y, 100, seed=5)
    np.testing.assert_array_equal(full, x)


def test_stratified_subset_bad_n_raises():
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match=r"n=11 is larger than the 10 available"):
        data.stratified_subset(np.arange(10), y, 11, seed=0)
    with pytest.raises(ValueError, match=r"n=0 must be >= 1"):
        data.stratified_subset(np.arange(10), y, 0, seed=0)


def test_apply_subsets_sizes_and_none_keeps_split():
    x = np.zeros((20, 2, 2, 1), np.uint8)
    y = np.arange(20) % 2
    splits = data.ImageSplits("toy", x, y, x[:6], y[:6], ("a", "b"))
    out = data.apply_subsets(splits, train_subset=5, test_subset=None, seed=0)
    np.testing.assert_array_equal(np.bincount(out.y_train), [3, 2])
    assert out.x_test is splits.x_test and out.class_names == ("a", "b")
    assert len(splits.y_train) == 20  # Input unchanged.


# --------------------------------------------------------------------------------------------
# Image folders.
# --------------------------------------------------------------------------------------------


def test_load_image_folder_png_round_trip(tmp_path):
    written = _make_png_tree(tmp_path, channels=3)
    splits = data.load_image_folder(str(tmp_path))
    assert splits.class_names == ("a_cat", "b_dog")  # Sorted, not creation order.
    assert splits.name == os.path.basename(str(tmp_path))
    assert splits.x_train.shape == (5, 5, 4, 3) and splits.x_test.shape == (2, 5, 4, 3)
    # Within the result, class a_cat (label 0) comes first, files in name order.
    for split in ("train", "test"):
        x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
        expected = sorted(written[split], key=lambda item: item[0])  # Stable: keeps file order.
        np.testing.assert_array_equal(y, [0 if c == "a_cat" else 1 for c, _ in expected])
        for got, (_, image) in zip(x, expected):
            np.testing.assert_array_equal(got, image)


def test_load_image_folder_mixed_gray_and_rgb_uses_three_channels(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(5, 4, 1)
    rgb = np.full((5, 4, 3), 7, np.uint8)
    _write_png(tmp_path / "train" / "a" / "0.png", gray)
    _write_png(tmp_path / "train" / "b" / "0.png", rgb)
    _write_png(tmp_path / "test" / "a" / "0.png", gray)
    _write_png(tmp_path / "test" / "b" / "0.png", gray)
    splits = data.load_image_folder(str(tmp_path))
    assert splits.image_shape == (5, 4, 3)
    np.testing.assert_array_equal(splits.x_train[0], np.repeat(gray, 3, axis=-1))
    np.testing.assert_array_equal(splits.x_train[1], rgb)


def test_load_image_folder_gray_only_keeps_one_channel(tmp_path):
    _make_png_tree(tmp_path, channels=1)
    assert data.load_image_folder(str(tmp_path)).image_shape == (5, 4, 1)


def test_load_image_folder_jpeg_and_resize(tmp_path):
    flat = np.full((10, 12, 3), 200, np.uint8)
    _write_jpeg(tmp_path / "train" / "a" / "0.JPG", flat)  # Upper-case extension is accepted.
    _write_jpeg(tmp_path / "train" / "a" / "1.jpeg", flat[:6, :8])
    _write_png(tmp_path / "test" / "a" / "0.png", flat[:4, :4])
    (tmp_path / "train" / "a" / "notes.txt").write_text("ignored")
    splits = data.load_image_folder(str(tmp_path), image_size=(8, 8))
    assert splits.x_train.shape == (2, 8, 8, 3) and splits.x_test.shape == (1, 8, 8, 3)
    # A flat color stays flat through JPEG (within rounding) and antialiased resizing.
    assert np.abs(splits.x_train.astype(int) - 200).max() <= 2
    np.testing.assert_array_equal(splits.x_test, 200)


def test_load_image_folder_different_sizes_without_image_size_raises(tmp_path):
    _write_png(tmp_path / "train" / "a" / "0.png", np.zeros((4, 4, 3), np.uint8))
    _write_png(tmp_path / "train" / "a" / "1.png", np.zeros((5, 4, 3), np.uint8))
    _write_png(tmp_path / "test" / "a" / "0.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"1\.png is 5x4 but .*0\.png is 4x4.*image_size"):
        data.load_image_folder(str(tmp_path))


def test_load_image_folder_corrupt_file_names_file(tmp_path):
    _make_png_tree(tmp_path)
    bad = tmp_path / "train" / "b_dog" / "001.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match=r"cannot decode image file .*b_dog.001\.png"):
        data.load_image_folder(str(tmp_path))


def test_load_image_folder_alpha_channel_names_file(tmp_path):
    _make_png_tree(tmp_path)
    _write_png(tmp_path / "test" / "a_cat" / "rgba.png", np.zeros((5, 4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"rgba\.png has 4 channels; allowed: 1 .* or 3"):
        data.load_image_folder(str(tmp_path))


def test_load_image_folder_missing_test_folder_raises(tmp_path):
    _write_png(tmp_path / "train" / "a" / "0.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"split .*test does not exist"):
        data.load_image_folder(str(tmp_path))


def test_load_image_folder_empty_class_folder_names_folder(tmp_path):
    _make_png_tree(tmp_path)
    os.makedirs(tmp_path / "train" / "c_empty")
    os.makedirs(tmp_path / "test" / "c_empty")
    (tmp_path / "train" / "c_empty" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"class folder .*train.c_empty holds no image files"):
        data.load_image_folder(str(tmp_path))


def test_load_image_folder_test_classes_differ_raises(tmp_path):
    _make_png_tree(tmp_path)
    _write_png(tmp_path / "test" / "z_extra" / "0.png", np.zeros((5, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"only in train: \[\], only in test: \['z_extra'\]"):
        data.load_image_folder(str(tmp_path))


def test_load_image_folder_cache_reused_and_invalidated(tmp_path, monkeypatch):
    root, cache = tmp_path / "tree", tmp_path / "cache"
    _make_png_tree(root)
    first = data.load_image_folder(str(root), cache_dir=str(cache))
    cache_files = [f for f in os.listdir(cache) if f.endswith(".npz")]
    assert len(cache_files) == 1 and not [f for f in os.listdir(cache) if f.startswith(".tmp")]

    real_decode = data._decode_files

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    monkeypatch.setattr(image_folder, "_decode_files", no_decode)
    cached = data.load_image_folder(str(root), cache_dir=str(cache))
    np.testing.assert_array_equal(cached.x_train, first.x_train)
    np.testing.assert_array_equal(cached.y_test, first.y_test)
    assert cached.class_names == first.class_names

    # Rewriting a file (new mtime) changes the key, so the tree is decoded again.
    monkeypatch.setattr(image_folder, "_decode_files", real_decode)
    changed = tmp_path / "tree" / "train" / "a_cat" / "000.png"
    _write_png(changed, np.full((5, 4, 3), 9, np.uint8))
    st = os.stat(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fresh = data.load_image_folder(str(root), cache_dir=str(cache))
    np.testing.assert_array_equal(fresh.x_train[0], 9)
    assert len([f for f in os.listdir(cache) if f.endswith(".npz")]) == 2


# --------------------------------------------------------------------------------------------
# TFDS and dispatch.
# --------------------------------------------------------------------------------------------


def test_load_tfds_missing_data_fails_fast_with_offline_hint(tmp_path):
    start = time.monotonic()
    with pytest.raises(ValueError) as info:
        data.load_tfds("cifar10", data_dir=str(tmp_path))
    assert time.monotonic() - start < 10.0
    message = str(info.value)
    assert "\n" not in message
    assert "'cifar10'" in message and str(tmp_path) in message
    assert "--dataset=fashion_mnist" in message
    assert "--dataset=image_folder --data_dir=" in message
    assert "network access" in message


def test_load_dataset_unknown_name_lists_allowed_forms():
    pattern = r"unknown dataset 'imagenet'.*'fashion_mnist'.*'tfds:<name>'.*'cifar10'"
    with pytest.raises(ValueError, match=pattern):
        data.load_dataset("imagenet")


def test_load_dataset_image_folder_needs_data_dir():
    with pytest.raises(ValueError, match=r"'image_folder' needs data_dir"):
        data.load_dataset("image_folder")


def test_load_dataset_dispatch(tmp_path):
    _write_fashion_files(tmp_path)
    assert data.load_dataset("fashion_mnist", data_dir=str(tmp_path)).x_train.shape == (6, 4, 3, 1)
    tree = tmp_path / "tree"
    _make_png_tree(tree)
    assert data.load_dataset("image_folder", data_dir=str(tree)).class_names == ("a_cat", "b_dog")
    with pytest.raises(ValueError, match=r"TFDS data set 'mnist' is not available"):
        data.load_dataset("tfds:mnist", data_dir=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=r"image_size=\(8, 8\) is only supported for"):
        data.load_dataset("fashion_mnist", data_dir=str(tmp_path), image_size=(8, 8))


# --------------------------------------------------------------------------------------------
# Pipelines.
# --------------------------------------------------------------------------------------------


def test_steps_per_epoch_values_and_error():
    assert data.steps_per_epoch(10, 3) == 3
    assert data.steps_per_epoch(12, 12) == 1
    with pytest.raises(ValueError, match=r"batch_size 11 is larger than the 10 training examples"):
        data.steps_per_epoch(10, 11)
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0"):
        data.steps_per_epoch(10, 0)


def test_make_train_dataset_bad_arguments_raise():
    x, y = _small_arrays()
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0"):
        data.make_train_dataset(x, y, batch_size=0, seed=0)
    with pytest.raises(ValueError, match=r"augment='rotate' is not one of \('none', 'flip', 'crop"):
        data.make_train_dataset(x, y, batch_size=4, seed=0, augment="rotate")
    with pytest.raises(ValueError, match=r"training arrays: 12 images but 11 labels"):
        data.make_train_dataset(x, y[:-1], batch_size=4, seed=0)


def test_make_train_dataset_static_shapes_and_dtypes():
    x, y = _small_arrays()
    ds = data.make_train_dataset(x, y, batch_size=4, seed=0)
    images_spec, labels_spec = ds.element_spec
    assert images_spec.shape == (4, 6, 6, 3) and images_spec.dtype == tf.float32
    assert labels_spec.shape == (4,) and labels_spec.dtype == tf.int32


def test_make_train_dataset_same_seed_and_epoch_identical():
    x, y = _small_arrays()
    a = _collect(data.make_train_dataset(x, y, 4, seed=7, start_epoch=1, num_epochs=2))
    b = _collect(data.make_train_dataset(x, y, 4, seed=7, start_epoch=1, num_epochs=2))
    assert len(a[0]) == 6
    for xa, xb in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(xa, xb)


def test_make_train_dataset_different_epoch_or_seed_changes_order():
    x, y = _small_arrays()
    _, labels = _collect(data.make_train_dataset(x, y, 4, seed=7, num_epochs=2))
    epoch0, epoch1 = np.concatenate(labels[:3]), np.concatenate(labels[3:])
    assert not np.array_equal(epoch0, epoch1)
    _, other = _collect(data.make_train_dataset(x, y, 4, seed=8, num_epochs=1))
    assert not np.array_equal(epoch0, np.concatenate(other))


def test_make_train_dataset_resume_equals_uninterrupted_run():
    x, y = _small_arrays()
    full = _collect(data.make_train_dataset(x, y, 4, seed=3, augment="crop_flip", num_epochs=3))
    resumed = _collect(
        data.make_train_dataset(x, y, 4, seed=3, augment="crop_flip", start_epoch=2, num_epochs=1)
    )
    endless = data.make_train_dataset(x, y, 4, seed=3, augment="crop_flip", start_epoch=2)
    endless = _collect(endless.take(3))
    for run in (resumed, endless):
        for i in range(3):
            np.testing.assert_array_equal(run[0][i], full[0][6 + i])
            np.testing.assert_array_equal(run[1][i], full[1][6 + i])


def test_make_train_dataset_each_example_once_per_epoch():
    x, y = _small_arrays(n=12)
    _, labels = _collect(data.make_train_dataset(x, y, 4, seed=0, num_epochs=3))
    for e in range(3):
        epoch = np.concatenate(labels[3 * e : 3 * e + 3])
        np.testing.assert_array_equal(np.sort(epoch), np.arange(12))
    # With a remainder (10 = 3 * 3 + 1), one example per epoch is dropped, none is repeated.
    x, y = _small_arrays(n=10)
    _, labels = _collect(data.make_train_dataset(x, y, 3, seed=0, num_epochs=2))
    assert len(labels) == 6
    for e in range(2):
        epoch = np.concatenate(labels[3 * e : 3 * e + 3])
        assert len(epoch) == 9 and len(set(epoch.tolist())) == 9


def test_make_train_dataset_none_gives_x_over_255():
    x, y = _small_arrays(channels=1)
    ds = data.make_train_dataset(x, y, 4, seed=0, augment="none", num_epochs=1)
    images, labels = _collect(ds)
    for batch_x, batch_y in zip(images, labels):
        np.testing.assert_array_equal(batch_x, x[batch_y].astype(np.float32) / np.float32(255))


def test_make_train_dataset_flip_is_identity_or_mirror():
    x, y = _small_arrays()
    ds = data.make_train_dataset(x, y, 4, seed=0, augment="flip", num_epochs=2)
    images, labels = _collect(ds)
    flipped = 0
    for batch_x, batch_y in zip(images, labels):
        for image, label in zip(batch_x, batch_y):
            original = x[label].astype(np.float32) / np.float32(255)
            if np.array_equal(image, original[:, ::-1]):
                flipped += 1
            else:
                np.testing.assert_array_equal(image, original)
    assert 0 < flipped < 24


@pytest.mark.parametrize("crop_padding,np_mode", [("zeros", "constant"), ("reflect", "reflect")])
def test_make_train_dataset_crop_flip_is_padded_crop(crop_padding, np_mode):
    x, y = _small_arrays(n=8, size=(5, 6))
    ds = data.make_train_dataset(x, y, 4, seed=1, augment="crop_flip", num_epochs=4,
                                 crop_padding=crop_padding)
    images, labels = _collect(ds)
    pad = data.CROP_PADDING
    seen = set()
    for batch_x, batch_y in zip(images, labels):
        assert batch_x.shape == (4, 5, 6, 3) and batch_x.dtype == np.float32
        assert batch_x.min() >= 0.0 and batch_x.max() <= 1.0
        for image, label in zip(batch_x, batch_y):
            padded = np.pad(x[label], [(pad, pad), (pad, pad), (0, 0)], mode=np_mode)
            pixels = np.round(image * 255).astype(np.uint8)
            matches = set()
            for top in range(2 * pad + 1):
                for left in range(2 * pad + 1):
                    crop = padded[top : top + 5, left : left + 6]
                    for flip, candidate in ((False, crop), (True, crop[:, ::-1])):
                        if np.array_equal(pixels, candidate):
                            matches.add((top, left, flip))
            assert matches, f"example {label} is not a flipped/unflipped crop of its padded image"
            seen.update(matches)
    assert len(seen) > 10  # Offsets and flips vary between examples.


def test_reflect_and_zero_padding_differ_only_in_the_border():
    x, y = _small_arrays(n=8, size=(6, 6))
    zeros, _ = _collect(data.make_train_dataset(x, y, 8, seed=2, augment="crop", num_epochs=1))
    reflect, _ = _collect(data.make_train_dataset(x, y, 8, seed=2, augment="crop", num_epochs=1,
                                                  crop_padding="reflect"))
    same_offsets = zeros[0] == reflect[0]
    # The same crop offsets: the pixels that come from the image agree, the border differs.
    assert same_offsets.mean() > 0.2 and not same_offsets.all()
    assert (reflect[0][~same_offsets] != 0).any()
    np.testing.assert_array_equal(zeros[0][~same_offsets], 0.0)


def test_crop_padding_bad_values():
    x, y = _small_arrays(n=8, size=(4, 6))
    with pytest.raises(ValueError,
                       match=r"crop_padding='edge' is not one of \('zeros', 'reflect'\)"):
        data.make_train_dataset(x, y, 4, seed=0, crop_padding="edge")
    with pytest.raises(ValueError,
                       match=r"crop_padding='reflect' needs images larger than 4 pixels"):
        data.make_train_dataset(x, y, 4, seed=0, augment="crop", crop_padding="reflect")
    data.make_train_dataset(x, y, 4, seed=0, augment="flip", crop_padding="reflect")  # no crop


def test_make_eval_dataset_order_and_partial_batch():
    x, y = _small_arrays(n=10)
    images, labels = _collect(data.make_eval_dataset(x, y, batch_size=4))
    assert [len(b) for b in labels] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(labels), y)
    np.testing.assert_array_equal(np.concatenate(images), x.astype(np.float32) / np.float32(255))
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0"):
        data.make_eval_dataset(x, y, batch_size=0)


def test_pipelines_turn_tf_data_autotuning_off_and_stay_deterministic():
    # Autotuning makes every iterator teardown wait for its thread (docs/benchmarks.md).
    x = np.zeros((10, 4, 4, 1), np.uint8)
    y = np.arange(10) % 2
    for ds in (data.make_train_dataset(x, y, 4, seed=0, augment="none", num_epochs=1),
               data.make_eval_dataset(x, y, 4)):
        options = ds.options()
        assert options.autotune.enabled is False
        assert options.deterministic is True


def test_feature_dataset_batches_follow_the_training_pipeline_order():
    """Cached features are batched in the order make_train_dataset draws images (same seed,
    same epoch), so a cached run sees the batches an image run would."""
    n, batch = 12, 4
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(2, axis=1).repeat(2, axis=2)
    labels = np.arange(n) % 3
    features = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * 10.0
    image_ds = data.make_train_dataset(images, labels, batch, seed=7, augment="none",
                                       start_epoch=2, num_epochs=1)
    feature_ds = data.make_feature_dataset(features, labels, batch, seed=7, start_epoch=2)
    for (x, y), (f, g) in zip(image_ds, feature_ds.take(n // batch)):
        np.testing.assert_array_equal(np.round(x.numpy()[:, 0, 0, 0] * 255) * 10,
                                      f.numpy()[:, 0, 0, 0])
        np.testing.assert_array_equal(y.numpy(), g.numpy())
    with pytest.raises(ValueError, match="features must be float"):
        data.make_feature_dataset(images, labels, batch, seed=0)
