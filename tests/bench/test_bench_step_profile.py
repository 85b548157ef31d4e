"""bench/step_profile.py: the ResNet20 kernel inventory and the per-step totals (no timing)."""

import pytest

from bench import step_profile


def test_the_inventory_is_resnet20():
    # 19 convolutions (stem + 3 stages x 3 blocks x 2) and a BatchNorm after each
    assert sum(c[-1] for c in step_profile.CONVOLUTIONS) == 19
    assert sum(b[-1] for b in step_profile.BATCH_NORMS) == 19
    # hand-derived conv weights of ResNet20 (tests/bench/test_bench_vs_pytorch.py): 267,696
    assert sum(9 * cin * cout * uses
               for _, cin, cout, _, uses in step_profile.CONVOLUTIONS) == 267_696
    # output sizes chain: each stage starts where the last one ended
    assert [(s // stride, cout) for s, _, cout, stride, _ in step_profile.CONVOLUTIONS] == [
        (32, 16), (32, 16), (16, 32), (16, 32), (8, 64), (8, 64)]


def test_totals_weight_each_kernel_by_its_uses():
    rows = [{"kernel": "conv forward", "uses": 6, "tf": 0.002, "torch": 0.001},
            {"kernel": "conv forward", "uses": 1, "tf": 0.010, "torch": 0.004},
            {"kernel": "batch norm backward", "uses": 7, "tf": 0.001, "torch": 0.001}]
    totals = step_profile.totals(rows)
    assert totals["conv forward"] == pytest.approx((0.022, 0.010))
    assert totals["batch norm backward"] == pytest.approx((0.007, 0.007))


def test_step_total_takes_one_batch_norm_and_the_backward_rows():
    kinds = {"conv forward": (1.0, 1.0), "conv backward": (3.0, 4.0),
             "batch norm forward": (0.5, 0.5), "batch norm backward": (2.0, 1.0),
             "fused batch norm forward": (0.2, 0.5), "fused batch norm backward": (0.6, 1.0)}
    assert step_profile.step_total(kinds, fused=False) == pytest.approx((5.0, 5.0))
    assert step_profile.step_total(kinds, fused=True) == pytest.approx((3.6, 5.0))


@pytest.mark.parametrize("argv, message", [
    (["--batch_size", "0"], "--batch_size must be an integer >= 1"),
    (["--repeats", "0"], "--repeats: must be a positive integer, got '0'"),
])
def test_bad_sizes_exit_with_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        step_profile.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
