import pytest

from lsg_tf.core.schedule import Schedule


def test_alternate_follows_algorithm_1():
    s = Schedule("alternate", period=3, phase=1)
    assert [s.path_for_epoch(e) for e in range(7)] == [
        "std", "lsg", "std", "std", "lsg", "std", "std"]


def test_warmup_trains_std_first_for_every_scheme():
    # Epochs count from the start of training (Algorithm 1's E), warm-up included.
    assert [Schedule("alternate", 2, 0, warmup_epochs=3).path_for_epoch(e) for e in range(6)] == [
        "std", "std", "std", "std", "lsg", "std"]
    assert [Schedule("joint", warmup_epochs=1).path_for_epoch(e) for e in range(3)] == [
        "std", "joint", "joint"]
    assert {Schedule("std").path_for_epoch(e) for e in range(10)} == {"std"}


def test_step_unit_alternates_steps_after_the_warmup():
    s = Schedule("alternate", period=3, phase=0, warmup_epochs=1, unit="step")
    assert s.path_for_epoch(0) == "std" and s.path_for_epoch(1) == "lsg+std"
    # Warm-up steps stay STD whatever their number; afterwards step % 3 == 0 is LSG.
    assert [s.path_for_step(0, step) for step in range(3)] == ["std"] * 3
    assert [s.path_for_step(1, step) for step in range(4, 10)] == [
        "std", "std", "lsg", "std", "std", "lsg"]
    # The unit does not change the other schemes.
    assert Schedule("joint", unit="step").path_for_step(2, 7) == "joint"
    assert Schedule("std", unit="step").path_for_epoch(2) == "std"
    epoch_clock = Schedule("alternate", period=3, phase=1)
    assert [epoch_clock.path_for_step(1, step) for step in range(3)] == ["lsg"] * 3


@pytest.mark.parametrize("kwargs, message", [
    ({"unit": "batch"}, r"unit must be one of \('epoch', 'step'\)"),
    ({"scheme": "gated"}, "scheme must be one of"),
    ({"period": 0}, "period must be an integer >= 1"),
    ({"period": 3, "phase": 3}, r"phase must be an integer in \[0, period\)"),
    ({"warmup_epochs": -1}, "warmup_epochs must be an integer >= 0"),
])
def test_schedule_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Schedule(**kwargs)


def test_gated_steps_count_the_steps_that_train_the_gate():
    # Algorithm 1 at 10 epochs, period 3, phase 1, one warm-up epoch: epochs 1, 4, 7.
    assert Schedule("alternate", 3, 1, warmup_epochs=1).gated_steps(10, 5) == 15
    assert Schedule("alternate", 3, 1).gated_steps(10, 5, initial_epoch=5) == 5  # epoch 7
    assert Schedule("joint", warmup_epochs=2).gated_steps(6, 7) == 28
    assert Schedule("std").gated_steps(6, 7) == 0
    # Step clock, period 2 / phase 1, 3 steps an epoch, epoch 0 warm-up: global steps 3..8
    # of which 3, 5, 7 are gated.
    assert Schedule("alternate", 2, 1, warmup_epochs=1, unit="step").gated_steps(3, 3) == 3
