"""Trains the same tiny LSG model on 1 device and under MirroredStrategy (2 logical CPUs).

Prints the largest weight and gate differences as JSON. Run in its own process: the
logical CPU devices must be configured before TensorFlow initialises.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(_HERE, "..", "..", ".."), os.path.join(_HERE, "..", "..")]

import tensorflow as tf  # noqa: E402

from lsg_tf.training.distribute import make_strategy  # noqa: E402

mirrored = make_strategy("mirrored", num_cpu_replicas=2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from conftest import tiny_backbone  # noqa: E402

from lsg_tf.core.model import LSGModel  # noqa: E402
from lsg_tf.core.schedule import Schedule  # noqa: E402

rng = np.random.default_rng(0)
x = rng.random((64, 8, 8, 1), dtype=np.float32)
y = rng.integers(0, 3, 64).astype(np.int32)


def run(strategy, gate_optimizer):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = LSGModel(tiny_backbone(seed=0), 3, schedule=Schedule("alternate", 2, 0),
                         sparsity_coefficient=0.05, density_target=0.4)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      gate_optimizer=keras.optimizers.Adam(0.05) if gate_optimizer else None)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = model.fit(data, epochs=3, verbose=0).history
    return model, history


result = {"replicas": mirrored.num_replicas_in_sync}
for gate_optimizer in (False, True):
    single, h1 = run(tf.distribute.get_strategy(), gate_optimizer)
    multi, h2 = run(mirrored, gate_optimizer)
    key = "separate" if gate_optimizer else "same"
    result[key] = {
        "max_weight_diff": max(float(np.abs(a - b).max())
                               for a, b in zip(single.get_weights(), multi.get_weights())),
        "max_gate_diff": float(np.abs(single.gate.numpy() - multi.gate.numpy()).max()),
        "gate_moved": float(np.abs(single.gate.numpy() - 1.0).max()),
        "max_loss_diff": float(np.abs(np.array(h1["loss"]) - np.array(h2["loss"])).max()),
    }
print(json.dumps(result))
