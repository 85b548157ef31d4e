"""bench/serving.py end to end in its --smoke size: a real export run through the C API."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

NUMBER = r"([0-9.]+(?:e[-+]?[0-9]+)?)"


def _run(args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def smoke():
    process = _run(["bench/serving.py", "--smoke"])
    assert process.returncode == 0, process.stdout + process.stderr
    sections = {}
    for block in process.stdout.split("== ")[1:]:
        title, _, body = block.partition("\n")
        sections[title.split(":")[0]] = body
    return process.stdout, sections


def _medians_and_ratio(body, unit):
    a = float(re.search(rf"^C API: median {NUMBER} {unit} \(runs: ", body, re.M).group(1))
    b = float(re.search(rf"^Keras predict: median {NUMBER} {unit} \(runs: ", body,
                        re.M).group(1))
    ratio = re.search(rf"^ratio C API / Keras predict = {NUMBER}  \(goal: (\S+ 1\.0)\)$",
                      body, re.M)
    return a, b, float(ratio.group(1)), ratio.group(2)


def test_serving_smoke_reports_latency_ratio_of_medians(smoke):
    _, sections = smoke
    c_api, predict, ratio, goal = _medians_and_ratio(sections["Serving latency"], "ms")
    assert goal == "≤ 1.0"
    assert c_api > 0 and predict > 0
    assert ratio == pytest.approx(c_api / predict, rel=0.01, abs=0.002)
    direct = re.search(rf"^Keras direct call model\(x, training=False\): median {NUMBER} ms",
                       sections["Serving latency"], re.M)
    assert direct and float(direct.group(1)) > 0


def test_serving_smoke_reports_batch_throughput_in_images_per_second(smoke):
    _, sections = smoke
    body = sections["Serving throughput"]
    c_api, predict, ratio, goal = _medians_and_ratio(body, "images/s")
    assert goal == "≥ 1.0"
    assert ratio == pytest.approx(c_api / predict, rel=0.01)
    per_batch = re.search(rf"per batch of 64: C API median {NUMBER} ms, Keras predict median "
                          rf"{NUMBER} ms", body)
    # images/s and ms per batch are two views of the same medians.
    assert 64 / (float(per_batch.group(1)) / 1e3) == pytest.approx(c_api, rel=0.01)
    assert 64 / (float(per_batch.group(2)) / 1e3) == pytest.approx(predict, rel=0.01)


def test_serving_smoke_probabilities_agree(smoke):
    stdout, _ = smoke
    line = re.search(rf"^probabilities agree: max \|C API - Keras predict\| = {NUMBER}, "
                     rf"max \|C API - Keras direct call\| = {NUMBER} \(tolerance 0.0001, "
                     r"65 images\): OK$", stdout, re.M)
    assert line, stdout
    assert float(line.group(1)) <= 1e-4 and float(line.group(2)) <= 1e-4


def test_serving_module_rejects_zero_calls():
    process = _run(["-m", "bench.serving", "--calls", "0"], timeout=120)
    assert process.returncode == 2
    assert "--calls: must be a positive integer, got '0'" in process.stderr
