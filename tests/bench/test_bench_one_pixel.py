"""bench/one_pixel.py in its --smoke size: both attacks, ART's, success rates and the ratio."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

NUMBER = r"(\d+\.?\d*(?:e[-+]?\d+)?)"
SIDES = ("BudgetedPixelAttack", "BatchedPixelAttack")


def test_one_pixel_smoke_prints_success_rates_and_the_ratio():
    result = subprocess.run([sys.executable, "bench/one_pixel.py", "--smoke"], cwd=ROOT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"^machine: .+, \d+ cores; .*Python 3\.\d+.*, TensorFlow \d", out,
                     re.MULTILINE), out
    assert "command: python bench/one_pixel.py --smoke" in out
    medians = [float(re.search(rf"^{side}: median {NUMBER} s/image \(runs: ", out,
                               re.MULTILINE).group(1)) for side in SIDES]
    ratio = re.search(rf"^ratio {SIDES[0]} / {SIDES[1]} = {NUMBER}  \(goal: time ratio >= 3, "
                      r"i\.e\. batched images/s >= 3x, at an equal success rate\)$", out,
                      re.MULTILINE)
    assert ratio, out
    assert float(ratio.group(1)) == pytest.approx(medians[0] / medians[1], rel=2e-3)
    for side in (*SIDES, "ART PixelAttack"):
        line = re.search(rf"^{side}.*: success (\d+)/(\d+) = .* \(Wilson 95% \[.*\]\), "
                         rf"{NUMBER} images/s, \d+ queries/image$", out, re.MULTILINE)
        assert line and int(line.group(1)) <= int(line.group(2)), (side, out)
    assert re.search(r"^images/s ratio batched / budgeted over all images: \d+\.\d+ \(goal >= 3 "
                     r"at an equal success rate: (met|not met)\)$", out, re.MULTILINE), out
