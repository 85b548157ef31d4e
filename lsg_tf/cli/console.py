"""Console hygiene for the command-line tools (no TensorFlow import here)."""

import os


def quiet_logs() -> None:
    """Hides TensorFlow's start-up and INFO chatter unless the user asked for it.

    Call at the start of a CLI ``main``, before TensorFlow is imported:
    ``TF_CPP_MIN_LOG_LEVEL=3`` unless set, and absl WARNING unless ``--verbosity`` is given.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from absl import flags, logging

    if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


def print_line(line: str) -> None:
    """Prints one line of progress at once (a log file sees it before the run ends)."""
    print(line, flush=True)
