"""The L∞ radii of Table 4's PGD sweep, written once (no TensorFlow, no ART).

The paper attacks with ε = 0.3 without stating the input scale; on images in [0, 1] that
changes pixels so much that any features separate clean from adversarial images. The sweep
adds the usual budgets of image classifiers, 1/255 ... 8/255, so the detection protocol can
be judged where an attack is neither trivial nor hopeless.
"""

from __future__ import annotations

import math

EPS_SWEEP = (1 / 255, 2 / 255, 4 / 255, 8 / 255, 0.3)
EPS_RANGE = "(0, 1]"
"""The radii and PGD steps that mean something on images in [0, 1]."""


def eps_label(eps: float) -> str:
    """ε as image budgets are written: ``"8/255"`` for a whole number of grey levels below
    one, else the number (``"0.3"``)."""
    levels = eps * 255
    return f"{round(levels)}/255" if abs(levels - round(levels)) < 1e-6 and eps < 1 else \
        f"{eps:g}"


def parse_eps(text: str) -> float:
    """``"8/255"`` -> 8/255, ``"0.3"`` -> 0.3; ValueError names the text otherwise (also for
    a value outside :data:`EPS_RANGE`, NaN or inf)."""
    numerator, slash, denominator = str(text).strip().partition("/")
    try:
        value = float(numerator) / float(denominator) if slash else float(numerator)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"ε must be a number in {EPS_RANGE} or a fraction such as 8/255, "
                         f"got {text!r}") from None
    return check_eps(value, text)


def check_eps(value: float, text=None) -> float:
    """``value`` if it is in :data:`EPS_RANGE` (images are in [0, 1]), else ValueError naming
    ``text`` (default: the value)."""
    if not (math.isfinite(value) and 0 < value <= 1):
        shown = repr(text) if text is not None else f"{value:g}"
        raise ValueError(f"ε must be in {EPS_RANGE} (images are in [0, 1]), got {shown}")
    return float(value)


def scaled_step(eps: float, iterations: int) -> float:
    """PGD step ``2.5 ε / iterations`` (Madry et al., 2018): enough to cross the ε-ball and
    come back within the iteration budget, at any ε."""
    return 2.5 * eps / iterations
