import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.core.model import LSGModel
from lsg_tf.robustness import art_wrapper, pgd


@pytest.mark.parametrize("num_classes", [2, 3, 10])
def test_derangement_is_a_permutation_without_fixed_points(num_classes):
    for seed in range(20):
        perm = pgd.derangement(num_classes, seed)
        assert sorted(perm.tolist()) == list(range(num_classes))
        assert not np.any(perm == np.arange(num_classes))
    np.testing.assert_array_equal(pgd.derangement(10, 3), pgd.derangement(10, 3))
    assert len({tuple(pgd.derangement(10, s)) for s in range(10)}) > 1


def test_pgd_targets_never_equal_the_true_class():
    labels = np.random.default_rng(0).integers(0, 10, 200)
    targets = pgd.pgd_targets(labels, pgd.derangement(10, 0))
    assert targets.shape == (200,) and not np.any(targets == labels)
    # one permutation: every image of a class gets the same target
    for c in range(10):
        assert len(set(targets[labels == c])) <= 1


def test_targets_reject_bad_input():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        pgd.derangement(1, 0)
    with pytest.raises(ValueError, match="maps a class to itself"):
        pgd.pgd_targets(np.array([0, 1]), np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        pgd.pgd_targets(np.array([3]), np.array([1, 2, 0]))


def _setup():
    model = LSGModel(tiny_backbone(filters=4), 3, input_mean=[0.5], input_std=[0.25])
    rng = np.random.default_rng(0)
    x = rng.random((10, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 10)
    return art_wrapper.make_classifier(model, "logits"), model, x, labels


def test_targeted_pgd_stays_in_the_eps_ball_and_the_clip_range():
    clf, model, x, labels = _setup()
    targets = pgd.pgd_targets(labels, pgd.derangement(3, 0))
    eps = 0.1
    result = pgd.targeted_pgd(clf, x, targets, eps=eps, eps_step=0.02, max_iter=8, batch_size=4)
    assert result.x_adv.shape == x.shape
    assert np.abs(result.x_adv - x).max() <= eps + 1e-6
    assert result.x_adv.min() >= 0.0 and result.x_adv.max() <= 1.0
    np.testing.assert_allclose(result.linf, np.abs(result.x_adv - x).reshape(10, -1).max(1))
    # predictions are the model's own labels of x_adv; hits are measured against targets
    np.testing.assert_array_equal(result.predictions, np.argmax(model(result.x_adv), axis=1))
    np.testing.assert_array_equal(result.target_hit, result.predictions == targets)
    assert result.target_hit.mean() > 0.5  # 8 steps of 0.02 move a random tiny model easily
    summary = result.summary(labels)
    assert summary["images"] == 10 and summary["max_linf"] <= eps + 1e-6
    assert summary["target_hit_rate"] == pytest.approx(result.target_hit.mean())


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": 0.0}, "eps must be > 0"),
    ({"eps_step": -0.1}, "eps_step must be > 0"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
])
def test_targeted_pgd_rejects_bad_parameters(kwargs, message):
    clf, _, x, labels = _setup()
    with pytest.raises(ValueError, match=message):
        pgd.targeted_pgd(clf, x, (labels + 1) % 3, **kwargs)


def test_targeted_pgd_rejects_bad_inputs():
    clf, _, x, labels = _setup()
    with pytest.raises(ValueError, match=r"targets must have shape \[10\]"):
        pgd.targeted_pgd(clf, x, labels[:5])
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\)"):
        pgd.targeted_pgd(clf, x, labels + 3)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        pgd.targeted_pgd(clf, x * 255, labels)
