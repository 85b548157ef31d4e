"""Training the top of a partly frozen backbone on cached features: the same numbers as the
full model, the frozen part untouched, the cache reused, and a run folder like any other."""

import os

import numpy as np
import pytest

from lsg_tf import data
from lsg_tf.core.backbones import build_backbone, frozen_split


def _tiny_tree(root, classes=3, per_class=4, size=32):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 2)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 255, (size, size, 3)).astype(np.uint8)
                image[..., c] = 255
                Image.fromarray(image).save(folder / f"{i}.png")


def test_top_on_frozen_output_equals_the_backbone():
    backbone = build_backbone("efficientnet_lite0_top2", (32, 32, 3), seed=0)
    frozen, top = frozen_split("efficientnet_lite0_top2", backbone)
    x = np.random.default_rng(0).random((2, 32, 32, 3), np.float32)
    np.testing.assert_allclose(top(frozen(x, training=False), training=False),
                               backbone(x, training=False), rtol=1e-5, atol=1e-5)
    assert not frozen.trainable_weights
    assert {w.path for w in top.trainable_weights} == {w.path for w in backbone.trainable_weights}
    assert frozen_split("resnet20", build_backbone("resnet20", (32, 32, 3))) is None


def test_cached_training_writes_a_full_model_run(tmp_path):
    from lsg_tf import load_model, run_io
    from lsg_tf.training.train_lib import TrainConfig, train

    _tiny_tree(tmp_path / "data")
    cache = tmp_path / "cache"
    config = TrainConfig(output_dir=str(tmp_path / "run"), dataset="image_folder",
                         data_dir=str(tmp_path / "data"), model="efficientnet_lite0_top2",
                         epochs=2, batch_size=4, scheme="joint", optimizer="adam",
                         learning_rate=1e-3, gate_learning_rate=1e-2, cache_frozen=True,
                         cache_dir=str(cache), verbose=0, export_dir="", seed=0)
    before = build_backbone("efficientnet_lite0_top2", (32, 32, 3), seed=0)
    metrics = train(config)
    cached = sorted(f for f in os.listdir(cache) if f.startswith("frozen-"))
    assert len(cached) == 2  # train and test features, written once
    model = load_model(run_io.read_run(config.output_dir).model_path)
    frozen_layer = model.backbone.get_layer("efficientnet_lite0").get_layer("stem_conv")
    np.testing.assert_array_equal(
        frozen_layer.get_weights()[0],
        before.get_layer("efficientnet_lite0").get_layer("stem_conv").get_weights()[0])
    top_layer = model.backbone.get_layer("efficientnet_lite0").get_layer("top_conv")
    assert not np.allclose(
        top_layer.get_weights()[0],
        before.get_layer("efficientnet_lite0").get_layer("top_conv").get_weights()[0])
    # The saved model takes images; its accuracy is the run's.
    splits = data.load_dataset("image_folder", str(tmp_path / "data"))
    logits = np.asarray(model(splits.x_test))
    accuracy = float(np.mean(logits.argmax(1) == splits.y_test))
    assert accuracy == pytest.approx(metrics["test/accuracy"])
    assert metrics["gate_density"] < 1.0
    # Rerunning with the cache present reads it (no new file), and the run is finished.
    train(config)
    assert sorted(f for f in os.listdir(cache) if f.startswith("frozen-")) == cached


def test_cache_frozen_needs_a_frozen_backbone(tmp_path):
    from lsg_tf.training.train_lib import TrainConfig, train

    _tiny_tree(tmp_path / "data")
    with pytest.raises(ValueError, match="cache_frozen needs a backbone with a frozen part"):
        train(TrainConfig(output_dir=str(tmp_path / "run"), dataset="image_folder",
                          data_dir=str(tmp_path / "data"), model="resnet20", epochs=1,
                          batch_size=4, cache_frozen=True, verbose=0, export_dir=""))
    assert not os.path.exists(tmp_path / "run" / "config.json")
