"""The benchmark scripts' smoke mode: each runs both sides and prints its ratio line.

No timing is asserted (timings belong to the benchmark runs in docs/benchmarks.md); these
tests keep the scripts from rotting.
"""

import re
import subprocess
import sys

import pytest
from conftest import ROOT

RATIO = re.compile(r"^ratio (.+) / (.+) = (\d+\.\d+)  \(goal: (.+)\)$", re.MULTILINE)


def _run(script, *args):
    result = subprocess.run([sys.executable, f"bench/{script}.py", "--smoke", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("script, sides, goal", [
    ("lsg_overhead", ("LSG epoch", "STD epoch"), "≤ 1.03"),
    ("phi_cost", ("Φ evaluation", "inference pass"), "≤ 1.5"),
    ("input_pipeline", ("real pipeline", "in-memory tensors"), "≤ 1.10"),
    ("frozen_cache", ("uncached epoch", "cached epoch"), "≥ 5"),
])
def test_smoke_prints_machine_command_medians_and_ratio(script, sides, goal):
    out = _run(script)
    assert re.search(r"^machine: .+, \d+ cores; SIMD: (AMX|AVX-512|AVX2|AVX|SSE|unknown); "
                     r"oneDNN ISA cap: .+; oneDNN ops: .+; threads: .+; Python 3\.\d+.*, "
                     r"TensorFlow \d.*, Keras \d", out, re.MULTILINE), out
    assert f"command: python bench/{script}.py --smoke" in out
    medians = [float(m) for m in re.findall(r"median (\d+\.?\d*(?:e-?\d+)?) s", out)]
    assert len(medians) == 2 and all(m > 0 for m in medians), out
    match = RATIO.search(out)
    assert match and match.group(1, 2) == sides and match.group(4) == goal, out
    assert float(match.group(3)) == pytest.approx(medians[0] / medians[1], rel=2e-3)


@pytest.mark.parametrize("model", ["convmixer_small", "vit"])
def test_lsg_overhead_times_a_token_backbone(model):
    out = _run("lsg_overhead", f"--model={model}")
    assert f"LSG overhead: {model}, LSG-phase vs STD-phase epoch" in out
    assert RATIO.search(out) and re.search(r"images/s: LSG \d+, STD \d+", out), out


def test_module_form_runs():
    result = subprocess.run([sys.executable, "-m", "bench.lsg_overhead", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--steps" in result.stdout


def test_input_pipeline_rejects_missing_data_dir(tmp_path):
    result = subprocess.run([sys.executable, "bench/input_pipeline.py",
                             f"--data_dir={tmp_path / 'absent'}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "is not a folder" in result.stderr
