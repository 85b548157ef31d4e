import json
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "mirrored_vs_single.py")


def test_mirrored_strategy_matches_single_device_and_switches_paths():
    # Separate process: logical CPU devices must be set before TensorFlow starts.
    out = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for key in ("same", "separate"):  # gate updated by the network optimizer / its own
        diffs = result[key]
        # The gate moved (the LSG path ran under the strategy) ...
        assert diffs["gate_moved"] > 0.1
        # ... and 2 replicas train exactly like 1 device (sparsity term scaled per replica).
        assert diffs["max_weight_diff"] < 1e-5
        assert diffs["max_gate_diff"] < 1e-5
        assert diffs["max_loss_diff"] < 1e-5
