"""Adversarial robustness of LSG and STD CNNs (paper section 4.5, Table 4; appendix F, Table 5).

The only package of lsg_tf that imports the Adversarial Robustness Toolbox (ART). Importing
``lsg_tf.robustness`` itself is light; import the modules you need:

* :mod:`~lsg_tf.robustness.art_wrapper`: an LSGModel as an ART ``TensorFlowV2Classifier``
  that counts the images it is queried with.
* :mod:`~lsg_tf.robustness.pgd`: targeted L∞ PGD (Madry et al., 2017) with targets from one
  random permutation of the classes without fixed points.
* :mod:`~lsg_tf.robustness.pixel`: ART's one-pixel attack (Su et al., 2019) with a
  configurable differential-evolution budget.
* :mod:`~lsg_tf.robustness.batched_pixel`: the same attack with differential evolution run for
  many images at once (one model call per generation for all images, early-stopped per image).
* :mod:`~lsg_tf.robustness.local_search`: the local-search attack of Narodytska &
  Kasiviswanathan (2016) as an ART ``EvasionAttack``.
* :mod:`~lsg_tf.robustness.black_box`: runs a black-box attack image by image on correctly
  classified images and accounts successes, queries and time (Table 5).
* :mod:`~lsg_tf.robustness.detector`: a random-forest adversarial detector with ART's detector
  interface, and ROC/AUC helpers.
* :mod:`~lsg_tf.robustness.protocol`: the detection protocol of Table 4 (training sizes per
  class, held-out test set, repeated with different seeds).
* :mod:`~lsg_tf.robustness.evaluate`: evaluates several runs on the same images and targets.
* :mod:`~lsg_tf.robustness.attack_report`: Markdown, JSON and figures from an evaluation.
"""

import warnings

# ART announces at import time that optional PyTorch-only tools are unavailable.
warnings.filterwarnings("ignore", message="PyTorch not found", category=UserWarning)
