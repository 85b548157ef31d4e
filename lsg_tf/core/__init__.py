"""The LSG core (paper section 3): the model and its two paths, the gate, the schedule of
Algorithm 1, backbones, pooled features and the Keras-version adapter.

Imports nothing of lsg_tf above it (training, analyses, CLIs); ``import lsg_tf.core`` loads no
TensorFlow until a module of it is imported.
"""
