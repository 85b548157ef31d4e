r"""Adversarial evaluation of trained runs: the paper's Table 4 (detection) and Table 5.

  python -m tools.attack_eval --run=runs/std --run=runs/lsg \
      --attacks=pgd,pixel,local_search --detect --out=DIR

The entry point in a checkout (also ``python tools/attack_eval.py``) of
:mod:`lsg_tf.attack_eval`, which holds the flags and the work (``python -m lsg_tf.attack_eval``
where the package is installed).
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from lsg_tf import attack_eval  # noqa: E402

flags.adopt_module_key_flags(attack_eval)  # --help lists them as this module's flags

if __name__ == "__main__":
    attack_eval.run()
