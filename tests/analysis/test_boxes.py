"""Localization against bounding boxes: box masks, the VOC encoding scored by the existing
one-filter / CAM code (appendix E), the CSG preset, the pointing game and Grad-CAM."""

import types

import keras
import numpy as np
import pytest

from lsg_tf.analysis import boxes as bx
from lsg_tf.analysis import localization as loc
from lsg_tf.analysis.grad_cam import grad_cam
from lsg_tf.core import features
from lsg_tf.reporting import stats


# ---------------------------------------------------------------------------- box_mask
def test_box_mask_inclusive_corners_x_is_column():
    mask = bx.box_mask((1, 2, 3, 4), height=6, width=5)  # x 1..3, y 2..4
    want = np.zeros((6, 5), bool)
    want[2:5, 1:4] = True
    np.testing.assert_array_equal(mask, want)
    assert mask.sum() == 9 and mask[2, 1] and mask[4, 3] and not mask[4, 4] and not mask[5, 3]


def test_box_mask_one_pixel_and_whole_image():
    one = bx.box_mask((2, 3, 2, 3), 5, 4)
    assert one.sum() == 1 and one[3, 2]  # row y = 3, column x = 2
    assert bx.box_mask((0, 0, 3, 4), 5, 4).all()


@pytest.mark.parametrize("box, message", [
    ((0, 0, 4, 2), r"box \(0, 0, 4, 2\).*outside the 5x4 image"),  # x1 = width
    ((0, 0, 3, 5), r"outside the 5x4 image"),  # y1 = height
    ((-1, 0, 2, 2), r"outside"),
    ((2, 0, 1, 2), r"box \(2, 0, 1, 2\).*inverted.*image 5x4"),
    ((0, 3, 1, 2), r"inverted"),
    ((0, 0, 1), r"4 integers"),
    ((0, 0, 1.5, 2), r"4 integers"),
])
def test_box_mask_errors_name_box_and_image(box, message):
    with pytest.raises(ValueError, match=message):
        bx.box_mask(box, 5, 4)


# ---------------------------------------------------------------------- VOC encoding
def _images(count, height, width):
    return np.random.default_rng(0).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_boxes_as_voc_encoding_and_one_item_per_image():
    boxes = np.array([[1, 2, 4, 5], [0, 0, 7, 3], [6, 6, 6, 6]])
    data = bx.boxes_as_voc(_images(3, 8, 8), [1, 0, 1], boxes, ["cat", "dog"])
    assert data.class_names == ["cat", "dog", "background"] and data.void_indices == (255,)
    assert data.ids == ["0", "1", "2"]
    for mask, label, box in zip(data.masks, [1, 0, 1], boxes):
        assert mask.dtype == np.uint8
        inside = bx.box_mask(box, 8, 8)
        assert (mask[inside] == label).all() and (mask[~inside] == 2).all()
    items = bx.box_items(data)
    assert [(it.image, it.model_class) for it in items] == [(0, 1), (1, 0), (2, 1)]
    for item, box in zip(items, boxes):
        np.testing.assert_array_equal(item.target, bx.box_mask(box, 8, 8))
        assert item.valid.all()
    # The identity class map by name: a model listing the classes in another order.
    swapped = bx.box_items(data, ["dog", "cat", "bird"])
    assert [it.model_class for it in swapped] == [0, 1, 0]
    assert bx.box_class_map(data.class_names) == {"cat": "cat", "dog": "dog"}


def test_boxes_as_voc_errors():
    images = _images(2, 4, 4)
    with pytest.raises(ValueError, match=r"image 1: box \(0, 0, 4, 1\).*outside the 4x4"):
        bx.boxes_as_voc(images, [0, 0], [[0, 0, 1, 1], [0, 0, 4, 1]], ["a"])
    with pytest.raises(ValueError, match=r"labels: 2 is not a class index in \[0, 2\)"):
        bx.boxes_as_voc(images, [0, 2], [[0, 0, 1, 1]] * 2, ["a", "b"])
    with pytest.raises(ValueError, match=r"labels \[2\] and boxes \[2, 4\]"):
        bx.boxes_as_voc(images, [0], [[0, 0, 1, 1]] * 2, ["a"])
    with pytest.raises(ValueError, match="unique and not 'background'"):
        bx.boxes_as_voc(images, [0, 0], [[0, 0, 1, 1]] * 2, ["a", "background"])
    with pytest.raises(ValueError, match="unique"):
        bx.boxes_as_voc(images, [0, 0], [[0, 0, 1, 1]] * 2, ["a", "a"])
    data = bx.boxes_as_voc(images, [0, 1], [[0, 0, 1, 1]] * 2, ["a", "b"])
    with pytest.raises(ValueError, match="model class 'b' not in"):
        bx.box_items(data, ["a", "c"])
    voc = loc.VocData(ids=["x"], images=[images[0]], masks=[np.zeros((4, 4), np.uint8)],
                      class_names=["a", "b"], void_indices=(255,))
    with pytest.raises(ValueError, match="boxes_as_voc data"):
        bx.box_items(voc)


def _fake_model(kernel):
    return types.SimpleNamespace(classifier=types.SimpleNamespace(kernel=np.asarray(kernel)))


def test_existing_one_filter_and_cam_code_scores_boxes():
    # Image 0: a 4x4 box (16 of 64 px), the map is 1 exactly on it -> IoU 1.
    # Image 1: an 8x1 box (8 px), the map is 1 on rows 0-1 (16 px) -> IoU 8 / 16 = 0.5.
    boxes = np.array([[2, 2, 5, 5], [0, 0, 7, 0]])
    data = bx.boxes_as_voc(_images(2, 8, 8), [0, 1], boxes, ["cat", "dog"])
    items = bx.box_items(data)
    maps = np.zeros((2, 8, 8, 1), np.float32)  # full resolution, one filter
    maps[0, 2:6, 2:6, 0] = 1.0
    maps[1, 0:2, :, 0] = 1.0
    kernel = np.ones((1, 2), np.float32)  # CAM of either class = F_0
    np.testing.assert_allclose(loc.cam_ious(maps, kernel, items, 0.25), [1.0, 0.5])
    # One filter: the top 25% of all 128 pixels are the 32 ones.
    np.testing.assert_allclose(loc.dataset_thresholds(maps, [(8, 8)] * 2, 0.25), [1.0])
    (result,) = loc.localize(_fake_model(kernel), data, items, ["cat", "dog"],
                             variants=((0.25, 0.5),), maps=maps)
    np.testing.assert_allclose(result.cam.item_iou, [1.0, 0.5])
    np.testing.assert_allclose(result.one_filter.item_iou, [[1.0], [0.5]])
    assert (result.num_images, result.num_items, result.item_image) == (2, 2, [0, 1])
    assert result.cam.avg_iou == pytest.approx(0.75)
    assert result.cam.ap == pytest.approx(0.5)  # success is IoU > 0.5, strictly
    assert [c.avg_iou for c in result.cam.per_class] == pytest.approx([1.0, 0.5])
    # The filter's AP is 1 for cat, 0 for dog: it localizes cat, with IoU 1.
    assert result.one_filter.filter_class == [0] and result.one_filter.avg_iou == 1.0
    # The same maps scored as per-item maps give the CAM's IoUs.
    cams = bx.item_cams(maps, kernel, items)
    assert cams.shape == (2, 8, 8)
    np.testing.assert_allclose(bx.map_ious(cams, items, 0.25), [1.0, 0.5])


def test_csg_preset_top30_success_above_iou_03():
    assert bx.CSG_VARIANT == (0.3, 0.3) == loc.LATER_VARIANT
    # One 10x10 map per image rising with x: its top 30% is columns 7-9 (30 px).
    boxes = np.array([[7, 0, 9, 9],    # the segment itself: IoU 1
                      [8, 0, 9, 4],    # 10 px inside it: IoU 10/30
                      [9, 0, 9, 8],    # 9 px inside it: IoU 9/30 = 0.3, not > 0.3
                      [0, 0, 6, 9]])   # beside it: IoU 0
    data = bx.boxes_as_voc(_images(4, 10, 10), [0, 0, 1, 1], boxes, ["a", "b"])
    items = bx.box_items(data)
    ramp = np.broadcast_to(np.arange(10, dtype=np.float32), (10, 10))
    maps = np.broadcast_to(ramp[None, ..., None], (4, 10, 10, 1)).copy()
    (result,) = loc.localize(_fake_model(np.ones((1, 2))), data, items, ["a", "b"],
                             variants=(bx.CSG_VARIANT,), maps=maps)
    want = [1.0, 1 / 3, 0.3, 0.0]
    np.testing.assert_allclose(result.cam.item_iou, want)
    assert result.cam.ap == pytest.approx(0.5)  # 2 of 4 succeed
    assert [c.ap for c in result.cam.per_class] == pytest.approx([1.0, 0.0])
    summary = bx.summarise_maps(maps[..., 0], items, ["a", "b"])
    np.testing.assert_allclose(summary.item_iou, want)
    assert (summary.avg_iou, summary.ap) == (result.cam.avg_iou, result.cam.ap)
    with pytest.raises(ValueError, match="3 maps for 4 items"):
        bx.map_ious(maps[:3, ..., 0], items, 0.3)


def test_box_results_pair_for_the_localization_bootstrap():
    from lsg_tf.analysis import localization_report

    # 6 images, boxes of columns 7-9 (the CSG segment of a map rising with x); the "LSG" maps
    # rise with x (IoU 1), the "STD" maps rise with y (IoU 9 / 51): one item per image each.
    data = bx.boxes_as_voc(_images(6, 10, 10), [0, 1] * 3, np.tile([7, 0, 9, 9], (6, 1)),
                           ["a", "b"])
    items = bx.box_items(data)
    ramp = np.broadcast_to(np.arange(10, dtype=np.float32), (10, 10))
    per_model = [np.broadcast_to(r[None, ..., None], (6, 10, 10, 1)).copy()
                 for r in (ramp, ramp.T)]
    results = [loc.localize(_fake_model(np.ones((1, 2))), data, items, ["a", "b"],
                            variants=(bx.CSG_VARIANT,), maps=m)[0] for m in per_model]
    np.testing.assert_allclose(results[0].cam.item_iou, np.ones(6))
    np.testing.assert_allclose(results[1].cam.item_iou, np.full(6, 9 / 51))
    found = localization_report.comparisons([results], ["lsg", "std"], ["joint", "std"],
                                            resamples=200)
    cam = {c["metric"]: c for c in found}
    assert cam["cam_avg_iou"]["difference"] == pytest.approx(1 - 9 / 51)
    assert cam["cam_ap"]["verdict"] == "reproduces" and "over 6 items" in cam["cam_ap"]["method"]


# ---------------------------------------------------------------------- pointing game
def test_pointing_game_hits_misses_and_tolerance():
    item_map = np.zeros((5, 6), np.float32)
    item_map[2, 4] = 1.0  # maximum at y = 2, x = 4
    maps = np.stack([item_map] * 4)
    boxes = [[4, 2, 4, 2],   # the 1-pixel box on the maximum: hit
             [0, 0, 3, 4],   # x 0..3: one column away
             [0, 0, 2, 0],   # nearest box pixel (2, 0): distance sqrt(8)
             [0, 3, 5, 4]]   # the rows below: one row away
    result = bx.pointing_game(maps, boxes, (5, 6))
    np.testing.assert_array_equal(result.hits, [True, False, False, False])
    np.testing.assert_array_equal(result.points, [[2, 4]] * 4)
    assert result.accuracy == 0.25
    np.testing.assert_array_equal(bx.pointing_game(maps, boxes, (5, 6), 1).hits,
                                  [True, True, False, True])
    np.testing.assert_array_equal(bx.pointing_game(maps, boxes, (5, 6), 2.8).hits,
                                  [True, True, False, True])  # 2.8 < sqrt(8) < 2.9
    np.testing.assert_array_equal(bx.pointing_game(maps, boxes, (5, 6), 2.9).hits, [True] * 4)
    np.testing.assert_array_equal(
        bx.pointing_game(maps, boxes, (5, 6), bx.ZHANG_TOLERANCE).hits, [True] * 4)


def test_pointing_game_ties_take_the_first_maximum_and_maps_are_upsampled():
    tied = np.zeros((4, 4), np.float32)
    tied[0, 1] = tied[3, 3] = 2.0
    result = bx.pointing_game(np.stack([tied, tied, np.zeros((4, 4))]),
                              [[3, 3, 3, 3], [1, 0, 1, 0], [0, 0, 0, 0]], (4, 4))
    np.testing.assert_array_equal(result.points, [[0, 1], [0, 1], [0, 0]])
    np.testing.assert_array_equal(result.hits, [False, True, True])  # constant map: (0, 0)
    # A 2x2 map with a hot bottom-right cell, upsampled to 4x4: the maximum is pixel (3, 3).
    low = np.array([[0.0, 0.0], [0.0, 1.0]], np.float32)
    up = bx.pointing_game(low[None], [[2, 2, 3, 3]], [(4, 4)])
    np.testing.assert_array_equal(up.points, [[3, 3]])
    assert up.hits.tolist() == [True]
    assert bx.pointing_game(low[None], [[0, 0, 1, 1]], (4, 4)).hits.tolist() == [False]


def test_pointing_game_hits_pair_for_the_bootstrap_and_errors():
    rng = np.random.default_rng(0)
    maps = rng.random((30, 4, 4))
    boxes = np.tile([0, 0, 1, 1], (30, 1))
    a, b = bx.pointing_game(maps, boxes, (4, 4)), bx.pointing_game(maps[:, ::-1], boxes, (4, 4))
    difference, low, high = stats.paired_bootstrap(a.hits, b.hits, resamples=200)
    assert difference == pytest.approx(a.accuracy - b.accuracy) and low <= difference <= high
    with pytest.raises(ValueError, match=r"box \(0, 0, 4, 1\).*outside the 4x4"):
        bx.pointing_game(maps[:1], [[0, 0, 4, 1]], (4, 4))
    with pytest.raises(ValueError, match=r"30 maps need boxes \[30, 4\]"):
        bx.pointing_game(maps, boxes[:2], (4, 4))
    with pytest.raises(ValueError, match="image_size"):
        bx.pointing_game(maps, boxes, [(4, 4)] * 3)
    with pytest.raises(ValueError, match="tolerance"):
        bx.pointing_game(maps, boxes, (4, 4), -1)
    with pytest.raises(ValueError, match="non-finite"):
        bx.pointing_game(np.full((1, 4, 4), np.nan), boxes[:1], (4, 4))


# ------------------------------------------------------------------------------ Grad-CAM
def _tiny_model(num_classes=3, filters=5):
    from lsg_tf import LSGModel

    inputs = keras.Input((8, 8, 3))
    fmap = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu",
                               kernel_initializer=keras.initializers.HeNormal(seed=1))(inputs)
    model = LSGModel(keras.Model(inputs, fmap), num_classes, input_mean=[0.4],
                     input_std=[0.3])
    kernel = np.random.default_rng(2).normal(size=(filters, num_classes)).astype(np.float32)
    model.classifier.kernel.assign(kernel)
    model.classifier.bias.assign(np.array([0.5, -1.0, 2.0], np.float32))
    return model, kernel


def test_grad_cam_of_gap_linear_head_is_relu_cam_over_hw():
    model, kernel = _tiny_model()
    images = _images(6, 8, 8)
    classes = np.array([0, 1, 2, 2, 1, 0])
    maps = features.last_conv_maps(model, images)  # [6, 4, 4, 5]
    got = grad_cam(model, images, classes, batch_size=4)  # two batches, the last partial
    assert got.shape == (6, 4, 4) and got.dtype == np.float32
    cams = np.stack([loc.class_activation_map(m, kernel, c) for m, c in zip(maps, classes)])
    np.testing.assert_allclose(got, np.maximum(cams, 0) / 16, rtol=1e-5, atol=1e-7)
    assert (cams < 0).any() and (got > 0).any()  # the ReLU clips something, not everything
    # Another class gives another map.
    assert not np.allclose(got, grad_cam(model, images, (classes + 1) % 3))


def test_grad_cam_of_nonlinear_head_weights_by_the_gradient():
    # z = W^T a^2 + b with a = GAP(F): dz_c / dF_ijk = 2 a_k W[k, c] / (h w), not W[k, c] / (h w).
    model, kernel = _tiny_model()
    images = _images(4, 8, 8)
    classes = np.array([2, 0, 1, 2])

    def squared_head(fmap):
        return model.classifier(model.pool(fmap) ** 2)

    got = grad_cam(model, images, classes, head=squared_head)
    maps = features.last_conv_maps(model, images)
    pooled = maps.mean(axis=(1, 2))
    want = np.stack([np.maximum(m @ (2 * p * kernel[:, c]), 0) / 16
                     for m, p, c in zip(maps, pooled, classes)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    cam_like = np.stack([np.maximum(m @ kernel[:, c], 0) / 16 for m, c in zip(maps, classes)])
    assert not np.allclose(got, cam_like, rtol=1e-2)


def test_grad_cam_errors():
    model, _ = _tiny_model()
    images = _images(2, 8, 8)
    with pytest.raises(ValueError, match=r"class_indices: 3 is not a class in \[0, 3\)"):
        grad_cam(model, images, [0, 3])
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        grad_cam(model, images, [0])
    with pytest.raises(ValueError, match="the model takes"):
        grad_cam(model, _images(2, 6, 6), [0, 1])
    with pytest.raises(ValueError, match="batch_size"):
        grad_cam(model, images, [0, 1], batch_size=0)
