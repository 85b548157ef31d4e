r"""Trains STD, LSG-alternate, LSG-joint and LSG-alternate without sparsity (a = 0)
with identical data, seed and budget, and writes a side-by-side Markdown table.

  python -m tools.compare_schemes --flagfile=fashion.flags --train_subset=10000 \
      --test_subset=0 --epochs=9 --out=docs/results/fashion-schemes

Every flag of ``lsg_tf.train`` is accepted and shared by all runs; each run resumes
if interrupted. ``--test_subset=0`` uses the full test set.
"""

import dataclasses
import os
import sys

from absl import app, flags

from lsg_tf import train as train_cli  # noqa: F401  (defines the training flags)
from lsg_tf.reproduction import VARIANTS

_OUT = flags.DEFINE_string("out", None, "Folder for the runs and the table.")
_VARIANTS = flags.DEFINE_list("variants", ["std", "alternate", "joint", "alternate_a0"],
                              f"Which runs, any of {sorted(VARIANTS)}.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.console import quiet_logs

    quiet_logs()
    from lsg_tf import run_io, training

    base = train_cli.config_from_flags()
    if base.test_subset == 0:
        base = dataclasses.replace(base, test_subset=None)
    rows = []
    for name in _VARIANTS.value:
        if name not in VARIANTS:
            raise app.UsageError(f"--variants: unknown {name!r}, allowed {sorted(VARIANTS)}")
        config = dataclasses.replace(base, output_dir=os.path.join(_OUT.value, name),
                                     **VARIANTS[name])
        metrics = training.train(config)
        rows.append((name, metrics))
    lines = [
        f"Command: `python -m tools.compare_schemes {' '.join(sys.argv[1:])}`",
        "",
        "| run | scheme | a | test accuracy | test CE | gate density | train wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        cfg = run_io.read_json(os.path.join(_OUT.value, name, run_io.CONFIG_FILE))
        a = "—" if cfg["scheme"] == "std" else cfg["sparsity_coefficient"]
        lines.append(f"| {name} | {cfg['scheme']} | {a} | "
                     f"{m['test/accuracy']:.4f} | {m['test/cross_entropy']:.4f} | "
                     f"{m['gate_density']:.4f} | {m['wall_time_seconds']:.0f} |")
    lines.append("")
    lines.append("The STD run never trains its gate (density stays 1.0 by construction). "
                 "Wall times are of one machine, measured while other work ran.")
    run_io.write_text(os.path.join(_OUT.value, "README.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    flags.mark_flag_as_required("out")
    flags.FLAGS.set_default("output_dir", "unused")
    app.run(main)
