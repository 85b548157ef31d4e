"""Interpretability analyses of trained LSG / STD models (paper sections 3.2, 4.1-4.3, B-D).

One module per analysis; each is a plain function on pooled features, labels, classifier
weights, gates or filter weights, returning numbers or arrays (dataclasses). Figures
(:mod:`lsg_tf.analysis.figures`) and the Markdown report (:mod:`lsg_tf.analysis.report_lib`)
are separate layers on top. Import the submodule you need; this package import is light:

* :mod:`~lsg_tf.analysis.head`: the linear classifier on pooled features.
* :mod:`~lsg_tf.analysis.phi`: Φ, the filter-ambiguity metric of Eq. 2.
* :mod:`~lsg_tf.analysis.metrics`: accuracy, cross-entropy, confusion, Table 1.
* :mod:`~lsg_tf.analysis.mis`: the mutual-information score MIS.
* :mod:`~lsg_tf.analysis.masking`: masking a class's filters (Fig. 5).
* :mod:`~lsg_tf.analysis.similarity`: feature-gate similarity S_TP / S_FN (Fig. 6, appendix B).
* :mod:`~lsg_tf.analysis.correlation`: filter correlation, redundancy, C_IC (Fig. 7, Table 2).
* :mod:`~lsg_tf.analysis.clusters`: k-means centres matched to gate rows (appendix D).
* :mod:`~lsg_tf.analysis.filters_per_class`: filters each class monopolises (section 4.3).
* :mod:`~lsg_tf.analysis.report_lib`: every analysis on a list of runs, and the report files
  (:mod:`~lsg_tf.analysis.markdown` writes the text, :mod:`~lsg_tf.analysis.figures` the PNGs);
  the CLI is ``python -m lsg_tf.report``.
"""
