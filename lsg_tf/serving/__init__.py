"""Serving an lsg_tf export: the signature contract and a TF Serving client.

Importing ``lsg_tf.serving`` is light; import the module you need:

* :mod:`~lsg_tf.serving.signature`: the serving signature contract (signature, input and
  output names, dtypes, shapes, the class-names file), shared by :mod:`lsg_tf.serving.export_lib`,
  which builds the signatures, and the client. No TensorFlow import.
* :mod:`~lsg_tf.serving.client`: a REST/gRPC client of TF Serving: image files to one uint8
  batch, ``:predict`` requests, answers to arrays (checked by
  :mod:`~lsg_tf.serving.answer_checks`), top-k and ``explain`` (CAM overlay) reports. REST
  needs no TensorFlow; its command line is ``python -m tools.serve_client``.
"""
