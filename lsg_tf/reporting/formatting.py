"""Numbers as the cells and sentences of the Markdown reports, one rule for all of them.

A missing value (None or NaN) is shown as :data:`MISSING`, an em dash, in every report.
"""

from __future__ import annotations

import math

import numpy as np

MISSING = "—"


def is_missing(value) -> bool:
    """None, or a float (Python or numpy) that is NaN."""
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def fmt(value, digits: int = 4) -> str:
    """A value as text: :data:`MISSING`, yes/no, an integer, a float with ``digits`` decimals,
    or ``str(value)``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def percent(fraction, digits: int = 2) -> str:
    """A fraction in [0, 1] as a percentage (``0.5`` -> ``50.00%``), or :data:`MISSING`."""
    return MISSING if is_missing(fraction) else f"{100 * fraction:.{digits}f}%"


def signed_interval(comparison: dict, scale: float = 1.0, digits: int = 4) -> str:
    """``"+d [low, high]"``: a comparison's difference and its interval, times ``scale``."""
    d, low, high = (scale * comparison[k] for k in ("difference", "low", "high"))
    return f"{d:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"
