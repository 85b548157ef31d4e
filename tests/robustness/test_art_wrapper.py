import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import tiny_backbone

from lsg_tf.core.model import LSGModel
from lsg_tf.robustness import art_wrapper


def _model():
    return LSGModel(tiny_backbone(filters=4), 3, input_mean=[0.5], input_std=[0.25])


def test_make_classifier_predicts_the_model_logits_and_probabilities():
    model = _model()
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    logits = model(x).numpy()
    clf = art_wrapper.make_classifier(model, "logits")
    assert clf.nb_classes == 3 and clf.input_shape == (8, 8, 1)
    assert tuple(clf.clip_values) == (0.0, 1.0)
    np.testing.assert_allclose(clf.predict(x), logits, rtol=1e-5, atol=1e-6)
    probs = art_wrapper.make_classifier(model, "probabilities").predict(x)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)


def test_make_classifier_gradients_flow_through_the_normalisation():
    model = _model()
    x = np.random.default_rng(1).random((2, 8, 8, 1)).astype(np.float32)
    clf = art_wrapper.make_classifier(model, "logits")
    grad = clf.loss_gradient(x, np.eye(3, dtype=np.float32)[[0, 1]])
    assert grad.shape == x.shape and np.abs(grad).sum() > 0


def test_counting_classifier_counts_images_and_predict_labels_does_not():
    clf = art_wrapper.make_classifier(_model(), "probabilities")
    x = np.zeros((7, 8, 8, 1), np.float32)
    clf.predict(x)
    clf.predict(x[:2], batch_size=1)
    assert clf.queries == 9
    labels = art_wrapper.predict_labels(clf, x)
    assert labels.shape == (7,) and clf.queries == 9


def test_make_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="output must be one of"):
        art_wrapper.make_classifier(_model(), "softmax")
    with pytest.raises(ValueError, match=r"input_shape must be \(H, W, C\)"):
        art_wrapper.make_classifier(_model(), input_shape=(8, 8))


def test_robustness_package_import_is_light():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys, lsg_tf.robustness; "
            "print(sorted(m for m in ('art', 'tensorflow', 'matplotlib', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout
    assert out.strip() == "[]"
