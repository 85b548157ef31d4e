"""Tests of bench/vs_pytorch.py: ResNet20 training throughput, Keras/TF vs PyTorch."""

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip(
    "torch", reason="bench/vs_pytorch.py needs torch (pip install -r bench/requirements.txt)")

from conftest import ROOT  # noqa: E402

from bench import vs_pytorch  # noqa: E402

SCRIPT = os.path.join("bench", "vs_pytorch.py")
# Hand-derived ResNet20 (3x3 kernels, no conv bias): stem 3*16*9 = 432; stage 1: 6 * 16*16*9 =
# 13,824; stage 2: 16*32*9 + 5 * 32*32*9 = 50,688; stage 3: 32*64*9 + 5 * 64*64*9 = 202,752.
# BN gamma+beta: 2 * (16 + 6*16 + 6*32 + 6*64) = 1,376. Dense 64*10 + 10 = 650.
EXPECTED_COUNTS = {"conv": 267_696, "bn": 1_376, "dense": 650}
COUNT_LINE = re.compile(r"^(keras|pytorch) trainable parameters: ([\d,]+) \(conv ([\d,]+), "
                        r"bn ([\d,]+), dense ([\d,]+)\)", re.MULTILINE)


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    env.update(extra)
    return env


def test_vs_pytorch_smoke_prints_equal_counts_and_ratio():
    # One thread: PyTorch's spin-waiting OpenMP threads crawl when other tests share the CPU.
    result = subprocess.run([sys.executable, SCRIPT, "--smoke", "--threads", "1"], cwd=ROOT,
                            env=_env(),
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = {m.group(1): [int(g.replace(",", "")) for g in m.groups()[1:]]
              for m in COUNT_LINE.finditer(result.stdout)}
    assert set(counts) == {"keras", "pytorch"}, result.stdout
    assert counts["keras"] == counts["pytorch"]
    assert counts["keras"] == [269_722, *EXPECTED_COUNTS.values()]
    ratio = re.search(r"^throughput ratio keras images/s / pytorch_nchw images/s = "
                      r"(\d+\.\d+) \(goal >= 0\.8: (met|not met)\)$", result.stdout, re.MULTILINE)
    assert ratio is not None, result.stdout
    assert float(ratio.group(1)) > 0
    assert "no augmentation" in result.stdout
    assert "batch 8, 2 steps per run, threads 1," in result.stdout


def test_vs_pytorch_without_torch_exits_2(tmp_path):
    (tmp_path / "torch.py").write_text("raise ImportError('torch hidden for this test')\n")
    result = subprocess.run([sys.executable, SCRIPT, "--smoke"], cwd=ROOT,
                            env=_env(PYTHONPATH=str(tmp_path)), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == vs_pytorch.MISSING_TORCH


def test_param_counts_per_layer_type_equal():
    keras_model = vs_pytorch.build_keras_model()
    torch_model = vs_pytorch.build_torch_resnet20()
    assert vs_pytorch.keras_param_counts(keras_model) == EXPECTED_COUNTS
    assert vs_pytorch.torch_param_counts(torch_model) == EXPECTED_COUNTS
    # The gate [10, 64] is not counted, trainable or not.
    assert tuple(keras_model.gate.shape) == (10, 64)


def test_torch_resnet20_forward_logit_shape_in_both_memory_formats():
    import torch

    torch.manual_seed(0)
    model = vs_pytorch.build_torch_resnet20([0.5] * 3, [0.25] * 3)
    x = torch.rand(2, 3, 32, 32)
    nchw = model.eval()(x)
    model = model.to(memory_format=torch.channels_last)
    channels_last = model(x.contiguous(memory_format=torch.channels_last))
    assert nchw.shape == (2, 10)
    torch.testing.assert_close(channels_last, nchw, rtol=1e-4, atol=1e-4)


def test_torch_optimizer_decays_only_conv_and_linear_weights():
    model = vs_pytorch.build_torch_resnet20()
    decayed, others = vs_pytorch.torch_optimizer(model).param_groups
    assert decayed["weight_decay"] == 1e-4 and others["weight_decay"] == 0.0
    assert sum(p.numel() for p in decayed["params"]) == EXPECTED_COUNTS["conv"] + 640
    assert sum(p.numel() for p in others["params"]) == EXPECTED_COUNTS["bn"] + 10


def test_parse_args_smoke_overrides_sizes():
    args = vs_pytorch.parse_args(["--smoke", "--batch_size", "64", "--threads", "1"])
    assert (args.batch_size, args.steps, args.repeats, args.warmup) == (8, 2, 1, 1)
    assert args.threads == 1


def test_parse_args_warmup_zero_raises(capsys):
    with pytest.raises(SystemExit) as error:
        vs_pytorch.parse_args(["--warmup", "0"])
    assert error.value.code == 2
    assert "--warmup must be an integer >= 1, got 0" in capsys.readouterr().err


def test_fused_batch_norm_lever_builds_the_fused_layers_with_the_same_counts():
    from lsg_tf.core.batch_norm import FusedBatchNormalization

    assert vs_pytorch.parse_args(["--batch_norm", "fused"]).batch_norm == "fused"
    model = vs_pytorch.build_keras_model(batch_norm="fused")
    bns = [l for l in model.backbone.layers if "bn" in l.name]
    assert len(bns) == 19 and all(isinstance(l, FusedBatchNormalization) for l in bns)
    assert vs_pytorch.keras_param_counts(model) == EXPECTED_COUNTS
