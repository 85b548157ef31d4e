r"""Export a trained run's STD path for TF Serving.

  python -m lsg_tf.export --run_dir=runs/demo --model_name=lsg_fashion [--version=N] \
      [--export_dir=exported]

Writes ``<export_dir>/<model_name>/<version>/`` (SavedModel with the ``serving_default``
and ``explain`` signatures) and updates ``<export_dir>/models.config``.
"""

import sys

from absl import app, flags

from lsg_tf.cli import entry

_RUN_DIR = flags.DEFINE_string("run_dir", None, "A finished training run folder.")
_MODEL_NAME = flags.DEFINE_string("model_name", None,
                                  "Served model name (default: the run folder's name).")
_VERSION = flags.DEFINE_integer("version", None, "Version number (default: next free).",
                                lower_bound=1)
_EXPORT_DIR = flags.DEFINE_string("export_dir", "exported", "TF Serving base folder.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    from lsg_tf import load_model, run_io

    try:
        run_io.check_writable_folder(_EXPORT_DIR.value, "--export_dir")
        run = run_io.read_run(_RUN_DIR.value)
        from lsg_tf.serving import export_lib  # TensorFlow after the checks: fast errors

        model_name = _MODEL_NAME.value or run.name
        path = export_lib.export_saved_model(load_model(run.model_path), _EXPORT_DIR.value,
                                             model_name, version=_VERSION.value)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    print(f"exported {model_name} -> {path}")


if __name__ == "__main__":
    flags.mark_flag_as_required("run_dir")
    entry.run(main)
