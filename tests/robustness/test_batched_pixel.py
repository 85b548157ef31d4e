import numpy as np
import pytest
from robustness_models import WEAK_COL, WEAK_ROW, PlantedPixelModel, dark_images

from lsg_tf.robustness import art_wrapper, batched_pixel, black_box


def _planted(channels=1):
    return art_wrapper.make_classifier(PlantedPixelModel(), "probabilities",
                                       input_shape=(8, 8, channels), nb_classes=3)


def _members(population, dims=3):  # scipy's DE population size (8x8x1 images: D = 3)
    return max(5, max(1, population // dims) * dims)


def _count_calls(monkeypatch, classifier):
    """Records the number of images of every ``predict`` call of ``classifier``."""
    calls = []
    predict = classifier.predict

    def counted(x, *args, **kwargs):
        calls.append(len(x))
        return predict(x, *args, **kwargs)

    monkeypatch.setattr(classifier, "predict", counted)
    return calls


def test_attack_finds_the_planted_pixel_and_agrees_with_arts_success_test():
    clf = _planted()
    x = dark_images(4)
    attack = batched_pixel.make_batched_pixel_attack(clf, max_iter=10, population=60, seed=0)
    x_adv = attack.generate(x, np.zeros(4, int))
    assert attack.last_success.all()
    np.testing.assert_array_equal(black_box.changed_pixels(x, x_adv), 1)
    assert np.all(x_adv[:, WEAK_ROW, WEAK_COL, 0] != x[:, WEAK_ROW, WEAK_COL, 0])
    np.testing.assert_array_equal(art_wrapper.predict_labels(clf, x_adv), 1)
    # ART's own success test and perturbation, on ART's 0-255 image, of the returned encoding
    assert attack.rescale
    for image, adv, candidate in zip(x * 255.0, x_adv, attack.last_candidates):
        assert attack._attack_success(candidate, image, 0)
        art_image = attack.rescale_input(attack._perturb_image(candidate, image))[0]
        assert art_image[WEAK_ROW, WEAK_COL, 0] == adv[WEAK_ROW, WEAK_COL, 0]
    # repeated encodings are not scored again: at most one population per generation
    assert np.all(attack.last_queries <= _members(60) * (attack.last_generations + 1))


def test_only_the_attacked_pixel_locations_change():
    clf = _planted()
    x = dark_images(3, seed=4)
    attack = batched_pixel.BatchedPixelAttack(clf, pixels=3, max_iter=10, population=90, seed=1)
    x_adv = attack.generate(x, np.zeros(3, int))
    assert attack.last_success.all()
    for image, adv, candidate in zip(x, x_adv, attack.last_candidates):
        encoding = candidate.astype(int).reshape(3, 3)
        allowed = np.zeros((8, 8), bool)
        allowed[encoding[:, 0] % 8, encoding[:, 1] % 8] = True
        changed = np.any(image != adv, axis=-1)
        assert changed.any() and not (changed & ~allowed).any()


@pytest.mark.parametrize("channels_first", [False, True])
@pytest.mark.parametrize("clip", [(0.0, 1.0), (0.0, 255.0)])
def test_perturbation_equals_arts_perturb_image(channels_first, clip):
    shape = (3, 8, 8) if channels_first else (8, 8, 3)
    clf = art_wrapper.CountingClassifier(model=lambda x: x[:, :3, 0, 0], nb_classes=3,
                                         input_shape=shape, clip_values=clip,
                                         channels_first=channels_first)
    attack = batched_pixel.BatchedPixelAttack(clf, pixels=3)
    attack.rescale = clip[1] != 255.0
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, shape).astype(np.float32)
    # positions up to 8 (= the upper bound: taken modulo 8), repeated locations, 255 values
    candidates = np.c_[rng.uniform(0, 8.0001, (40, 2)), rng.uniform(0, 256, (40, 3)),
                       np.full((40, 2), 7.5), rng.uniform(0, 255, (40, 3)),
                       rng.uniform(0, 8, (40, 2)), rng.uniform(0, 255, (40, 3))]
    candidates[:20, 10:12] = candidates[:20, 0:2]  # the third pixel overrides the first
    native = attack.rescale_input(image) if attack.rescale else image
    ours = attack._perturb_batch(np.repeat(native[None], 40, axis=0), candidates)
    art = attack._perturb_image(candidates, image)
    if attack.rescale:
        art = attack.rescale_input(art)
        changed = np.any(ours != native, axis=1 if channels_first else -1)
        art_changed = np.any(attack._perturb_image(candidates, image) != image,
                             axis=1 if channels_first else -1)
        np.testing.assert_array_equal(changed, art_changed)
    np.testing.assert_array_equal(ours, np.where(ours != native, art, ours))
    if not attack.rescale:
        np.testing.assert_array_equal(ours, art)


def test_failed_images_come_back_bit_identical():
    clf = _planted()
    x = dark_images(2, seed=1)
    x[:, WEAK_ROW, WEAK_COL, 0] = 0.1
    # class 2 is never predicted: a targeted attack towards it must fail
    attack = batched_pixel.BatchedPixelAttack(clf, pixels=2, max_iter=2, population=20,
                                              targeted=True)
    x_adv = attack.generate(x, np.full(2, 2))
    np.testing.assert_array_equal(x_adv, x)
    assert x_adv.dtype == np.float32
    assert not attack.last_success.any() and np.isnan(attack.last_candidates).all()


def test_targeted_attack_reaches_reachable_targets_only():
    clf = _planted()
    x = dark_images(3, seed=2)
    attack = batched_pixel.BatchedPixelAttack(clf, max_iter=6, population=30, targeted=True)
    x_adv = attack.generate(x, np.array([1, 2, 1]))
    np.testing.assert_array_equal(attack.last_success, [True, False, True])
    np.testing.assert_array_equal(art_wrapper.predict_labels(clf, x_adv), [1, 0, 1])
    np.testing.assert_array_equal(x_adv[1], x[1])
    assert attack.last_generations[1] == 6 and attack.last_generations[[0, 2]].max() < 6
    assert attack.last_queries[[0, 2]].max() < attack.last_queries[1] <= _members(30) * 7
    with pytest.raises(ValueError, match="Target labels"):
        attack.generate(x)


def test_early_stopping_drops_succeeded_images_from_the_model_calls(monkeypatch):
    monkeypatch.setattr(batched_pixel, "_KEY_LIMIT", 0)  # no cache: every candidate is scored
    clf = _planted()
    calls = _count_calls(monkeypatch, clf)
    x = dark_images(4, seed=3)
    members, max_iter = _members(60), 12
    hopeless = batched_pixel.BatchedPixelAttack(clf, max_iter=max_iter, population=60,
                                                targeted=True, batch_size=4096)
    hopeless.generate(x, np.full(4, 2))
    assert calls == [4 * members] * (max_iter + 1)  # one call per generation, all images
    calls.clear()
    attack = batched_pixel.BatchedPixelAttack(clf, max_iter=max_iter, population=60,
                                              batch_size=4096)
    attack.generate(x, np.zeros(4, int))
    assert attack.last_success.all()
    assert len(calls) == attack.last_generations.max() + 1 < max_iter + 1
    assert sum(calls) == attack.last_queries.sum() < 4 * members * (max_iter + 1)
    assert calls == sorted(calls, reverse=True)  # images drop out, none come back
    calls.clear()
    # batch_size chunks each generation: one image of 60 candidates in calls of <= 25
    mixed = batched_pixel.BatchedPixelAttack(clf, max_iter=3, population=60, targeted=True,
                                             batch_size=25)
    mixed.generate(x[:1], np.full(1, 2))
    assert calls == [25, 25, 10] * 4


def test_repeated_encodings_are_scored_once_without_changing_the_search(monkeypatch):
    x = dark_images(3, seed=6)
    members, max_iter = _members(15), 30

    def run():
        attack = batched_pixel.BatchedPixelAttack(_planted(), max_iter=max_iter, population=15,
                                                  targeted=True, seed=3)
        scored, score = [], attack._score

        def spy(images, owner, labels, candidates):
            scored.append(np.c_[owner, candidates.astype(int) % attack._radix()])
            return score(images, owner, labels, candidates)

        monkeypatch.setattr(attack, "_score", spy)
        attack.generate(x, np.full(3, 2))  # class 2 is never reached: every generation runs
        return attack, np.concatenate(scored)

    cached, rows = run()
    assert len(np.unique(rows, axis=0)) == len(rows) == cached.last_queries.sum()
    monkeypatch.setattr(batched_pixel, "_KEY_LIMIT", 0)
    uncached, uncached_rows = run()
    np.testing.assert_array_equal(uncached.last_queries, members * (max_iter + 1))
    assert cached.last_queries.sum() < uncached.last_queries.sum()
    # the same DE path: the uncached run scores the same encodings, some of them repeatedly
    np.testing.assert_array_equal(np.unique(uncached_rows, axis=0), np.unique(rows, axis=0))
    np.testing.assert_array_equal(cached.last_generations, uncached.last_generations)


def test_seeded_runs_are_reproducible():
    x = dark_images(3, seed=5)
    y = np.zeros(3, int)
    runs = [batched_pixel.BatchedPixelAttack(_planted(), max_iter=4, population=30, seed=7,
                                             verbose=verbose) for verbose in (False, True)]
    a, b = (run.generate(x, y) for run in runs)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[0].last_candidates, runs[1].last_candidates)
    other = batched_pixel.BatchedPixelAttack(_planted(), max_iter=4, population=30, seed=8)
    other.generate(x, y)
    assert not np.array_equal(other.last_candidates, runs[0].last_candidates)
    # setting the seed restarts the stream
    runs[0].set_params(seed=7)
    np.testing.assert_array_equal(runs[0].generate(x, y), a)


@pytest.mark.parametrize("kwargs, message", [
    ({"pixels": 0}, "pixels must be an integer >= 1, got 0"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1, got 0"),
    ({"population": 2.5}, "population must be an integer >= 1, got 2.5"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"batch_size": True}, "batch_size must be an integer >= 1, got True"),
    ({"seed": -1}, "seed must be None or an integer >= 0, got -1"),
    ({"targeted": "yes"}, "targeted must be True or False, got 'yes'"),
    ({"verbose": 1}, "verbose must be True or False, got 1"),
])
def test_bad_parameters_raise_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        batched_pixel.BatchedPixelAttack(_planted(), **kwargs)


def test_set_params_checks_the_new_parameters():
    attack = batched_pixel.BatchedPixelAttack(_planted())
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        attack.set_params(batch_size=0)
    attack.set_params(pixels=2, batch_size=64)
    assert attack.th == 2 and attack.batch_size == 64
    assert {"pixels", "population", "seed", "batch_size", "max_iter"} <= set(
        attack.attack_params)
