"""Training driver: :class:`~lsg_tf.training.train_lib.TrainConfig` and ``train(...)``, the
recipes chosen on validation data, and the distribution strategies (MirroredStrategy on GPUs
or logical CPUs, multi-worker)."""
