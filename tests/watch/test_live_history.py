"""Incremental analysis: alerts fire once, at the step their rule is about, on curves whose truth is
known by construction; the full analysis runs a logarithmic number of times."""

from __future__ import annotations

import math

import pytest

from probes.history import HistoryOptions
from probes.live import LiveHistory


def test_nan_is_reported_at_its_step_at_once() -> None:
    live = LiveHistory("t")
    for step in range(1, 200):
        value = 2.0 / step if step != 137 else math.nan
        live.add("learning_rate", 0.1, step, role="learning_rate")
        live.add("loss", value, step)
        alerts = live.check()
        if step == 137:
            assert [a.kind for a in alerts] == ["diverged"]
            assert alerts[0].step == 137 and "learning rate 0.1" in alerts[0].message
            break
        assert all(a.kind != "diverged" for a in alerts)


def test_overfitting_onset_names_the_best_step() -> None:
    """Validation loss is a parabola with its minimum at step 400 (by construction) while the training
    loss keeps falling: the alert names step 400 as the one early stopping keeps."""
    live = LiveHistory("t", HistoryOptions(classes=10))
    fired = []
    for step in range(1, 1001):
        live.add("loss", 2.3 * math.exp(-step / 200) + 0.01, step)
        if step % 50 == 0:
            live.add("val_loss", 0.5 + ((step - 400) / 400) ** 2, step, split="val")
        fired += live.check()
    over = [a for a in fired if a.kind == "overfitting"]
    assert len(over) == 1
    assert over[0].data["best_step"] == 400
    assert over[0].data["keep_step"] == 400
    assert over[0].step is not None and over[0].step >= 400


def test_plateau_at_the_trivial_loss_fires_once_and_a_falling_curve_does_not() -> None:
    flat, falling = LiveHistory("a", HistoryOptions(classes=10)), LiveHistory("b", HistoryOptions(classes=10))
    got_flat, got_falling = [], []
    for step in range(1, 801):
        flat.add("loss", math.log(10) + 0.01 * math.sin(step), step)
        falling.add("loss", math.log(10) * math.exp(-step / 150), step)
        got_flat += flat.check()
        got_falling += falling.check()
    assert [a.kind for a in got_flat].count("plateau") == 1
    assert not [a for a in got_falling if a.kind == "plateau"]


@pytest.mark.parametrize("seed", range(5))
def test_spikes_are_capped_never_a_flood(seed: int) -> None:
    import random

    rng = random.Random(seed)
    live = LiveHistory("t", max_spikes=3)
    alerts = []
    for step in range(1, 3001):
        spike = 20.0 if step % 97 == 0 else 0.0  # 30 spikes, far above the noise
        live.add("loss", 1.0 + 0.01 * rng.random() + spike, step)
        alerts += live.check()
    spikes = [a for a in alerts if a.kind == "spike"]
    assert 1 <= len(spikes) <= 3
    assert live.spikes_seen >= 20  # counted for the report
    assert all(a.step is not None and a.step % 97 == 0 for a in spikes)


def test_the_analysis_runs_a_logarithmic_number_of_times() -> None:
    live = LiveHistory("t")
    for step in range(1, 20001):
        live.add("loss", 1 / math.sqrt(step), step)
        live.check()
    # growth by a quarter each time from 25 points: about log(20000/25)/log(1.25) + 1 = 31
    assert live.analyses <= 35
