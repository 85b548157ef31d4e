"""tf.distribute strategies for training: single device, MirroredStrategy, multi-worker.

Batch sizes are global: with R replicas each replica sees ``batch_size / R`` images
per step, and the gradients are summed across replicas, so a run on R devices
follows the same trajectory as on one device. Keras scales the cross-entropy by
``1/R``; :class:`~lsg_tf.core.model.LSGModel` does the same for its sparsity term.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from lsg_tf.core.choices import STRATEGIES


def make_strategy(name: str, num_cpu_replicas: int = 2) -> tf.distribute.Strategy:
    """Builds a strategy.

    Args:
        name: ``default`` (one device), ``mirrored`` (MirroredStrategy over all GPUs;
            without GPUs over ``num_cpu_replicas`` logical CPU devices, which must be
            configured before TensorFlow initialises: call this first), or
            ``multi_worker`` (MultiWorkerMirroredStrategy, cluster from ``TF_CONFIG``).
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy=multi_worker needs the TF_CONFIG environment variable "
                             '(e.g. {"cluster": {"worker": ["host:port", ...]}, '
                             '"task": {"type": "worker", "index": 0}})')
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_cpu_replicas)
    except RuntimeError as err:
        if len(tf.config.list_logical_devices("CPU")) != num_cpu_replicas:
            raise RuntimeError(
                "strategy=mirrored on CPU must be set up before TensorFlow initialises "
                f"its devices ({err})") from None
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(num_cpu_replicas)])


def worker_role(strategy: tf.distribute.Strategy) -> tuple[bool, int]:
    """``(is_chief, task_index)`` of this process (``(True, 0)`` outside multi-worker).

    The chief is the ``chief`` task, or worker 0 when the cluster has no chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster):
        return True, task_id
    return False, task_id


def worker_run_dir(run_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this process writes: ``run_dir`` for the chief, ``run_dir/workers/<i>`` otherwise.

    Every worker saves its own checkpoints (and resumes from them); only the chief's
    folder is the run.
    """
    is_chief, index = worker_role(strategy)
    return run_dir if is_chief else os.path.join(run_dir, "workers", str(index))
