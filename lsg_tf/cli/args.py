"""Argument types for the argparse command lines of tools/ and bench/.

Standard library only: ``tools/capi_runner.py`` imports it and must never load TensorFlow.
"""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """argparse ``type=``: an integer >= 1.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not an integer >= 1 (argparse prints
            ``--flag: must be a positive integer, got '0'`` and exits 2).
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value
