r"""Train a CNN with Label-Sensitive Gates (or its STD baseline).

  python -m lsg_tf.train --flagfile=cifar.flags --output_dir=runs/cifar-lsg
  python -m lsg_tf.train --flagfile=fashion.flags --scheme=std --output_dir=runs/fashion-std

Later flags override earlier ones (also those from flagfiles). Rerunning the same
command after an interruption resumes from the last completed epoch.
"""

from __future__ import annotations

import dataclasses
import sys

from absl import app, flags

from lsg_tf.cli import entry
from lsg_tf.cli.train_flags import (  # defines the training flags
    CPU_REPLICAS,
    STRATEGY,
    config_from_flags,
    flagfile_text,
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    from lsg_tf.training import distribute, train_lib  # TensorFlow after parsing: fast --help

    # Logical CPU devices for MirroredStrategy must exist before TF initialises.
    strategy = distribute.make_strategy(STRATEGY.value, CPU_REPLICAS.value)
    try:
        config = config_from_flags()
        if not flags.FLAGS["verbose"].present and not sys.stdout.isatty():
            # A log file or CI: one line per epoch instead of carriage-return progress bars.
            config = dataclasses.replace(config, verbose=2)
        metrics = train_lib.train(config, strategy=strategy, flagfile=flagfile_text(config))
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        sys.exit(f"error: {error}")
    split = metrics["evaluated_on"]
    print(f"{split} accuracy {metrics[split + '/accuracy']:.4f}  {split} CE "
          f"{metrics[split + '/cross_entropy']:.4f}  gate density {metrics['gate_density']:.4f}  "
          f"-> {config.output_dir}")
    if metrics.get("gate_target") and not metrics["gate_target"]["reached"]:
        from lsg_tf.core.gate import target_missed_line

        print(f"WARNING: {target_missed_line(metrics['gate_target'])}", file=sys.stderr)
    if metrics.get("masking"):
        from lsg_tf.analysis.masking import summary_line

        gate = "the trained gate" if metrics["masking"]["gate"] == "trained" else "Φ's gate"
        print(f"Φ {metrics['phi']['phi']:.4f}; with {gate}, {summary_line(metrics['masking'])}")
    if metrics.get("export"):
        print(f"exported for TF Serving -> {metrics['export']}")


if __name__ == "__main__":
    flags.mark_flag_as_required("output_dir")
    entry.run(main)
