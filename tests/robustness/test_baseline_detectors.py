"""lsg_tf.robustness.baseline_detectors on synthetic features with known answers."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lsg_tf.robustness import baseline_detectors as baselines

CLASSES, DIM = 3, 6
MEANS = 4.0 * np.eye(CLASSES, DIM)  # class c: N(4 e_c, I)
# The linear classifier of these Gaussians: logit_c = μ_c·x - |μ_c|²/2.
KERNEL, BIAS = MEANS.T, -0.5 * np.sum(MEANS ** 2, axis=1)
OFF = np.eye(DIM)[-1]  # a direction orthogonal to every class mean


def _clean(rng, n):
    labels = rng.integers(0, CLASSES, n)
    return MEANS[labels] + rng.normal(size=(n, DIM)), labels


def _detectors():
    return {"mahalanobis": baselines.MahalanobisDetector(),
            "lid": baselines.LIDDetector(k=10),
            "kd_bu": baselines.KernelDensityUncertaintyDetector(KERNEL, BIAS, passes=10)}


def _test_auc(detector, shift, n=300, seed=0):
    """Fits on n clean samples and their versions moved ``shift`` off the class means (0:
    other clean samples of the same distribution), returns the AUC on n new pairs."""
    rng = np.random.default_rng(seed)

    def pairs():
        clean, labels = _clean(rng, n)
        adversarial = clean + shift * OFF if shift else _clean(rng, n)[0]
        return clean, adversarial, labels

    clean, adversarial, labels = pairs()
    detector.fit(clean, adversarial, labels)
    test_clean, test_adversarial, _ = pairs()
    scores = detector.scores(np.concatenate([test_clean, test_adversarial]))
    assert scores.shape == (2 * n,)
    return roc_auc_score(np.r_[np.zeros(n), np.ones(n)], scores)


@pytest.mark.parametrize("name", baselines.BASELINES)
def test_each_baseline_detects_a_shift_off_the_class_means(name):
    assert _test_auc(_detectors()[name], shift=6.0) > 0.9


@pytest.mark.parametrize("name", baselines.BASELINES)
def test_each_baseline_is_at_chance_on_identically_distributed_samples(name):
    n = 300
    # The AUC of scores independent of the label: mean 1/2, sd sqrt((2n + 1) / (12 n²)).
    tolerance = 4 * np.sqrt((2 * n + 1) / (12 * n * n))  # 0.067
    assert abs(_test_auc(_detectors()[name], shift=0.0, n=n) - 0.5) < tolerance


def test_mahalanobis_distance_equals_a_hand_computation():
    clean = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0],  # class 0, mean (1, 1)
                      [10.0, 10.0], [12.0, 12.0], [11.0, 8.0]])  # class 1, mean (11, 10)
    labels = np.array([0, 0, 0, 1, 1, 1])
    detector = baselines.MahalanobisDetector(covariance="empirical", supervised=False)
    detector.fit(clean, labels=labels)
    means = np.array([[1.0, 1.0], [11.0, 10.0]])
    centred = clean - means[labels]
    precision = np.linalg.inv(centred.T @ centred / len(clean))  # the tied covariance
    x = np.array([[1.0, 2.0], [6.0, 6.0], [11.0, 10.0]])
    by_class = [np.einsum("ni,ij,nj->n", x - m, precision, x - m) for m in means]
    expected = np.minimum(*by_class)
    np.testing.assert_allclose(detector.scores(x), expected, rtol=1e-10)
    assert detector.scores(x)[2] == pytest.approx(0.0, abs=1e-12)  # a class mean


@pytest.mark.parametrize("dimension", [1, 3])
def test_lid_of_a_line_and_of_a_gaussian_cloud_is_their_dimension(dimension):
    rng = np.random.default_rng(0)
    if dimension == 1:  # a segment of a line in 3-D
        along = rng.uniform(0, 1, (4400, 1))
        points = along * np.array([[1.0, 2.0, -1.0]]) + np.array([[0.5, 0.0, 3.0]])
    else:  # an isotropic 3-D Gaussian
        points = rng.normal(size=(4400, 3))
    k = 20
    detector = baselines.LIDDetector(k=k, reference_size=None)
    detector.fit(points[:4000], points[:4000] + 1.0, labels=None)
    lid = detector.statistics(points[4000:])[:, 0]
    # Ma et al.'s estimator averages m k / (k - 2) on m-dimensional data (Levina & Bickel).
    assert np.mean(lid) * (k - 2) / k == pytest.approx(dimension, rel=0.06)


def test_lid_estimator_on_known_distances():
    # r = (1, 2, 4): -(1/3 (log 1/4 + log 1/2 + 0))^-1 = 3 / log 8
    np.testing.assert_allclose(baselines.local_intrinsic_dimensionality([[1.0, 2.0, 4.0]]),
                               [3 / np.log(8)])


def test_bayesian_uncertainty_is_zero_without_dropout_and_positive_with_it():
    x, _ = _clean(np.random.default_rng(1), 50)
    x = x / 4  # near the decision boundaries, where dropout moves the softmax
    still = baselines.KernelDensityUncertaintyDetector(KERNEL, BIAS, dropout=0.0)
    assert np.all(still.uncertainty(x) == 0)
    noisy = baselines.KernelDensityUncertaintyDetector(KERNEL, BIAS, dropout=0.5)
    assert np.all(noisy.uncertainty(x) > 0)
    np.testing.assert_array_equal(noisy.uncertainty(x), noisy.uncertainty(x))  # seeded
    np.testing.assert_array_equal(noisy.predictions(MEANS), np.arange(CLASSES))


def test_kernel_density_is_read_under_the_predicted_class():
    rng = np.random.default_rng(2)
    clean, labels = _clean(rng, 120)
    detector = baselines.KernelDensityUncertaintyDetector(KERNEL, BIAS, dropout=0.0)
    detector.fit(clean, clean + 3 * OFF, labels)
    density, uncertainty = detector.statistics(np.stack([MEANS[0], MEANS[0] + 3 * OFF])).T
    assert density[0] > density[1] and np.all(uncertainty == 0)


@pytest.mark.parametrize("make, message", [
    (lambda: baselines.LIDDetector(k=0), r"^k must be an integer >= 2, got 0$"),
    (lambda: baselines.LIDDetector(k=2.5), r"^k must be an integer >= 2, got 2.5$"),
    (lambda: baselines.LIDDetector(folds=1), r"^folds must be an integer >= 2, got 1$"),
    (lambda: baselines.MahalanobisDetector(covariance="mcd"),
     r"^covariance must be one of \['ledoit_wolf', 'empirical'\], got 'mcd'$"),
    (lambda: baselines.KernelDensityUncertaintyDetector(KERNEL, BIAS, dropout=1.0),
     r"^dropout must be in \[0, 1\), got 1.0$"),
    (lambda: baselines.KernelDensityUncertaintyDetector(KERNEL, BIAS, bandwidth="wide"),
     r"^bandwidth must be one of \['scott', 'silverman'\] or a number > 0, got 'wide'$"),
    (lambda: baselines.KernelDensityUncertaintyDetector(KERNEL, BIAS[:2]),
     r"^kernel \[K, C\] and bias \[C\] must match"),
    (lambda: baselines.make_baseline("svm"),
     r"^detector must be one of \['mahalanobis', 'lid', 'kd_bu'\], got 'svm'$"),
    (lambda: baselines.make_baseline("kd_bu"), r"^kd_bu needs the classifier's kernel"),
])
def test_bad_arguments_name_the_argument_and_the_allowed_values(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_fit_and_scores_reject_mismatched_shapes():
    clean, labels = _clean(np.random.default_rng(3), 20)
    detector = baselines.MahalanobisDetector()
    with pytest.raises(ValueError, match=r"^adversarial has shape \(20, 5\); it must match "
                                         r"clean \(20, 6\)"):
        detector.fit(clean, clean[:, :5], labels)
    with pytest.raises(ValueError, match=r"^labels must hold 20 integer classes"):
        detector.fit(clean, clean, labels[:5])
    with pytest.raises(ValueError, match=r"^labels is required by MahalanobisDetector"):
        detector.fit(clean, clean)
    with pytest.raises(ValueError, match=r"^adversarial is required"):
        detector.fit(clean, None, labels)
    with pytest.raises(ValueError, match="not fitted"):
        detector.scores(clean)
    detector.fit(clean, clean + OFF, labels)
    with pytest.raises(ValueError, match=r"^x has 5 feature columns; the detector was fitted "
                                         r"on 6$"):
        detector.scores(clean[:, :5])
    with pytest.raises(ValueError, match=r"^layer_widths sum to 4; the features have 6 "):
        baselines.LIDDetector(layer_widths=(2, 2)).fit(clean, clean + OFF)
    with pytest.raises(ValueError, match=r"class 2 has 1$"):
        detector.fit(clean, clean, np.r_[np.zeros(10), np.ones(9), 2].astype(int))
