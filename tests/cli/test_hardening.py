"""Inputs that used to give wrong numbers with exit code 0 now give equal numbers or errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_backbone

from lsg_tf.core.model import LSGModel


def _model(num_classes=3, **kwargs):
    model = LSGModel(tiny_backbone(), num_classes, input_mean=[0.5], input_std=[0.25], **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    return model


def test_uint8_images_give_the_logits_of_the_equivalent_float_images():
    model = _model()
    pixels = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    from_uint8 = model(tf.constant(pixels)).numpy()
    from_float = model(tf.constant(pixels.astype(np.float32) / 255.0)).numpy()
    assert np.isfinite(from_uint8).all()
    np.testing.assert_allclose(from_uint8, from_float, rtol=1e-5, atol=1e-6)


def test_fit_on_uint8_images_has_finite_loss(toy_data):
    x, y = toy_data
    history = _model().fit((x * 255).astype(np.uint8), y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("make_input", ["arrays", "dataset"])
def test_fit_rejects_float_images_in_0_255(toy_data, make_input):
    x, y = toy_data
    x = x * 255.0
    model = _model()
    with pytest.raises(ValueError, match=r"images: float pixel values reach .* \[0, 1\]"):
        if make_input == "arrays":
            model.fit(x, y, epochs=1, verbose=0)
        else:
            model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)


@pytest.mark.parametrize("labels, message", [
    (3.7, r"labels: must be integer class indices, got 3.7"),
    (5, r"labels: 5 is outside \[0, 3\)"),
    (-1, r"labels: -1 is outside \[0, 3\)"),
])
def test_fit_rejects_bad_labels_naming_the_value(toy_data, labels, message):
    x, y = toy_data
    y = y.astype(np.float64)
    y[7] = labels
    with pytest.raises(ValueError, match=message):
        _model().fit(x, y, epochs=1, verbose=0)


def test_test_cross_entropy_is_weighted_by_batch_size(toy_data):
    x, y = toy_data  # 64 examples: batches of 24, 24 and 16
    model = _model()
    result = model.evaluate(x, y, batch_size=24, return_dict=True, verbose=0)
    logits = model.predict(x, verbose=0)
    expected = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits))
    assert result["std_ce"] == pytest.approx(expected, rel=1e-5)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)


def _gray_splits(name):
    from lsg_tf import data

    x = np.zeros((4, 28, 28, 1), np.uint8)
    return data.ImageSplits(name, x, np.arange(4) % 2, x, np.arange(4) % 2, ("a", "b"))


@pytest.mark.parametrize("name, expected", [("mnist", "crop"), ("emnist/letters", "crop"),
                                            ("fashion_mnist", "crop_flip")])
def test_auto_augmentation_never_flips_digits_or_letters(name, expected):
    from lsg_tf import data

    assert data.default_augmentation(_gray_splits(name)) == expected


def test_crop_augmentation_shifts_but_never_mirrors():
    from lsg_tf import data

    width = 16
    # Each column holds its index: a crop shifts the indices, a flip would reverse them.
    images = np.tile(np.arange(width, dtype=np.uint8)[None, None, :, None] + 10, (32, 16, 1, 1))
    ds = data.make_train_dataset(images, np.zeros(32, np.int32), 32, seed=3, augment="crop",
                                 num_epochs=1)
    batch = np.round(next(iter(ds))[0].numpy() * 255)  # the pipeline yields [0, 1] floats
    flipped = data.make_train_dataset(images, np.zeros(32, np.int32), 32, seed=3,
                                      augment="crop_flip", num_epochs=1)
    flipped = np.round(next(iter(flipped))[0].numpy() * 255)
    assert any(np.diff(image[8][image[8] > 0]).min() < 0 for image in flipped[..., 0])
    for image in batch[..., 0]:
        values = image[8]
        values = values[values > 0]  # zero padding shifted in
        assert (np.diff(values) == 1).all()


def test_truncated_keras_file_is_reported_as_truncated(tmp_path):
    import lsg_tf

    model = _model()
    path = tmp_path / "model.keras"
    model.save(path)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="not a complete .keras"):
        lsg_tf.load_model(str(truncated))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        lsg_tf.load_model(str(tmp_path / "missing.keras"))


def test_text_file_named_npy_is_reported_as_not_an_array(tmp_path):
    from lsg_tf.core import gate

    path = tmp_path / "gate.npy"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match=r"is not a NumPy .npy array file"):
        gate.parse_fixed_gate(str(path), 3, 6)


def test_export_removes_stale_temporaries_of_killed_exports(tmp_path):
    import os
    import time

    from lsg_tf.serving import export_lib

    base = tmp_path / "m"
    stale, fresh = base / ".tmp-1-dead", base / ".tmp-2-running"
    stale.mkdir(parents=True)
    fresh.mkdir()
    old = time.time() - export_lib.STALE_SECONDS - 5
    os.utime(stale, (old, old))
    export_lib.export_saved_model(_model(), str(tmp_path), "m")
    assert not stale.exists() and fresh.exists()
    assert (base / "1").is_dir()


def test_class_folder_with_a_newline_is_rejected(tmp_path):
    from lsg_tf import data

    for split in ("train", "test"):
        (tmp_path / split / "ok").mkdir(parents=True)
        (tmp_path / split / "bad\nname").mkdir()
    with pytest.raises(ValueError, match=r"class folder name 'bad\\nname'"):
        data.load_image_folder(str(tmp_path))
