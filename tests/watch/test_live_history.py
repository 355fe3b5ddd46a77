"""Incremental analysis: alerts fire once, at the step their rule is about, on curves whose truth is
known by construction; the full analysis runs a logarithmic number of times."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from probes.history import History, HistoryOptions, analyse
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


def _growing_run(seed: int) -> list[tuple[str, float, float, str, str]]:
    """(name, step, value, role, split) in the order a run logs them: a noisy falling training loss,
    an evaluation every few steps that may turn up (overfitting), sometimes a NaN/inf or a loss of 0.0
    logged with a NaN gradient norm (the Hugging Face NaN signature, turned into NaN retroactively)."""
    rng = np.random.default_rng(seed)
    every, turn = int(rng.integers(5, 30)), int(rng.integers(100, 600))
    bad = int(rng.integers(50, 700)) if rng.random() < 0.4 else None
    kind = rng.choice(["nan", "inf", "hidden", "hidden_eval"])
    points: list[tuple[str, float, float, str, str]] = []
    for step in range(1, 700):
        value = 2.3 * math.exp(-step / rng.uniform(50, 300)) + 0.05 + 0.05 * rng.standard_normal()
        grad = 1.0
        if bad is not None and step >= bad:
            value, grad = {
                "nan": (math.nan, 1.0),
                "inf": (math.inf, 1.0),
                "hidden": (0.0, math.nan),
                "hidden_eval": (0.0, 1.0),  # the NaN shows in the evaluation loss only, later
            }[kind]
        points.append(("learning_rate", step, 0.1, "learning_rate", "train"))
        points.append(("grad_norm", step, grad, "grad_norm", "train"))
        points.append(("loss", step, value, "loss", "train"))
        if step % every == 0:
            val = 0.6 + ((step - turn) / 400) ** 2 + 0.02 * rng.standard_normal()
            if kind == "hidden_eval" and bad is not None and step >= bad + 40:
                val = math.nan
            points.append(("val_loss", step, val, "loss", "val"))
    return points


@pytest.mark.parametrize("seed", range(16))
def test_the_kept_training_levels_change_no_analysis(seed: int) -> None:
    """The held-out check's training levels kept between analyses (probes.history._heldout.TrainLevels)
    give the same analysis, field for field, as computing every window again: the batch analysis
    (no cache) is the reference, at every point where a growing run is analysed."""
    live = LiveHistory("t", HistoryOptions(classes=10), min_gap=7, growth=0.1)
    reference = LiveHistory("t", HistoryOptions(classes=10))
    compared = 0
    for name, step, value, role, split in _growing_run(seed):
        live.add(name, value, step, role=role, split=split)
        reference.add(name, value, step, role=role, split=split)
        if name == "loss" and live.due():
            live.check()
            assert live.last_analysis is not None
            expected = analyse(reference.history(), reference.options)
            assert live.last_analysis.model_dump_json() == expected.model_dump_json()
            compared += 1
    assert compared >= 15


@pytest.mark.parametrize("irregular", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_the_diagnosis_from_memory_is_the_one_traindoc_history_reads_from_the_file(
    seed: int, irregular: bool, tmp_path
) -> None:
    """finish_run diagnoses from the records it writes to history.jsonl; `history_outcome` on that file
    (what `traindoc history` runs) must give the same analysis and answers, NaN/inf included; with
    and without a curve logged twice at one step (write_history has a path for each) or starting
    with a NaN. The final live analysis, reused by the diagnosis when it read the same curves (no
    NaN/inf, which the file leaves out; no step logged twice), is the file's analysis."""
    from assistant.watch._report import write_history
    from probes.history import history_outcome, outcome_of
    from probes.history._load import load_curves

    options = HistoryOptions(classes=10)

    class Holder:
        live = LiveHistory("t", options)

    for name, step, value, role, split in _growing_run(seed + 100):
        Holder.live.add(name, value, step, role=role, split=split)
        if irregular and step in (1, 2, 40) and name == "loss":  # a first value NaN, seen later
            Holder.live.add("test_loss", math.nan if step == 1 else 1.0 + step, step, split="test")
        if irregular and step == 50 and name == "loss":  # logged twice at one step: the record keeps the last
            Holder.live.add("val_loss", 9.0, step, split="val")
            Holder.live.add("val_loss", 0.7, step, split="val")
    path = tmp_path / "history.jsonl"
    curves = write_history(Holder, path)  # type: ignore[arg-type]
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: dict[float, dict] = {}
    for name, steps, values in curves:  # the file is json.dumps of one record per step, byte for byte
        for step, value in zip(steps, values, strict=True):
            rows.setdefault(step, {"step": step})[name] = value if math.isfinite(value) else None
    assert lines == [json.dumps(rows[step]) for step in sorted(rows)]
    memory = outcome_of(load_curves(curves, str(path)), options)
    disk = history_outcome(str(path), classes=10)
    assert memory.answers == disk.answers
    assert memory.data["analysis"] == disk.data["analysis"]
    assert memory.data["series"] == disk.data["series"]
    Holder.live.check(force=True)  # the run's final analysis (Run.finish)
    loaded = load_curves(curves, str(path))
    reused = Holder.live.analysis_of(loaded, options)
    assert Holder.live.analysis_of(loaded, HistoryOptions(classes=5)) is None  # other options: again
    finite = all(math.isfinite(v) for _, _, values in curves for v in values)
    assert (reused is not None) == (finite and not irregular)  # the file drops NaN, keeps the last of two
    if reused is not None:
        assert reused.model_dump(mode="json") == disk.data["analysis"]
        again = outcome_of(loaded, options, analysis=reused)
        assert again.answers == disk.answers and again.data["analysis"] == disk.data["analysis"]


@pytest.mark.parametrize("seed", range(20))
def test_the_held_out_windows_median_is_numpys(seed: int) -> None:
    """The held-out check's window median (sorted in Python) against np.median through
    `window_median`, the function it replaces there: the same float, bit for bit, on windows of even
    and odd size, with NaN/inf inside, and empty (the last point before)."""
    from probes.history._curves import window_median
    from probes.history._heldout import _window_median

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    ts = np.sort(rng.choice(np.arange(1, 5 * n), size=n, replace=False)).astype(np.float64)
    tv = rng.standard_normal(n) * 10 ** rng.uniform(-3, 3, n)
    tv[rng.random(n) < 0.05] = np.nan
    tv[rng.random(n) < 0.02] = np.inf
    for _ in range(200):
        lo, hi = np.sort(rng.uniform(0, 5 * n + 5, 2))
        assert _window_median(ts, tv, float(lo), float(hi)) == window_median(ts, tv, float(lo), float(hi))


def test_a_time_budget_puts_analyses_off_but_not_their_alerts() -> None:
    """The overfitting construction above (validation minimum at step 400 by construction) fed with a
    budget that affords nothing: no analysis runs during the run (each due one is counted as put
    off), the O(1) NaN check still fires at its step, and the final forced analysis gives the alert
    the unbudgeted feed gave, naming step 400; a budget that affords everything changes nothing."""

    def feed(afford) -> tuple[LiveHistory, list]:
        live = LiveHistory("t", HistoryOptions(classes=10))
        fired = []
        for step in range(1, 1001):
            live.add("loss", 2.3 * math.exp(-step / 200) + 0.01 if step != 900 else math.nan, step)
            if step % 50 == 0:
                live.add("val_loss", 0.5 + ((step - 400) / 400) ** 2, step, split="val")
            fired += live.check(afford=afford)
        return live, fired + live.check(force=True)

    never, fired_never = feed(lambda seconds: False)
    always, fired_always = feed(lambda seconds: True)
    plain, fired_plain = feed(None)
    assert never.analyses == 1 and never.deferred > 0  # only the forced one
    assert always.analyses == plain.analyses > 1 and always.deferred == 0
    assert [(a.kind, a.step, a.message) for a in fired_always] == [
        (a.kind, a.step, a.message) for a in fired_plain
    ]
    nan = [a for a in fired_never if a.kind == "diverged"]
    assert nan and nan[0].step == 900  # caught on arrival, no analysis needed
    over = [a for a in fired_never if a.kind == "overfitting"]
    assert len(over) == 1 and over[0].data["best_step"] == 400 and over[0].data["keep_step"] == 400
    assert never.next_analysis_cost() > 0  # the forced analysis's cost is known for the next one


@pytest.mark.parametrize("seed", range(8))
def test_the_history_built_without_validation_is_the_validated_one(seed: int) -> None:
    """LiveHistory.history() builds its Series with model_construct (the points are floats already):
    the same curves, field for field, and the same analysis as the History pydantic validates from
    the same points (its validators run: None -> NaN, float() of every value), at several points of
    growing runs with NaN and inf losses, epochs given or not."""
    rng = np.random.default_rng(seed)
    live = LiveHistory("t", HistoryOptions(classes=10))
    with_epochs = bool(seed % 2)
    points = _growing_run(seed)
    checks = sorted(rng.choice(len(points), size=4, replace=False).tolist()) + [len(points) - 1]
    for i, (name, step, value, role, split) in enumerate(points):
        live.add(name, value, step, role=role, split=split, epoch=step // 50 if with_epochs else None)  # type: ignore[arg-type]
        if i not in checks:
            continue
        built = live.history()
        validated = History.model_validate(built.model_dump())
        for a, b in zip(built.series, validated.series, strict=True):
            assert a.model_dump(exclude={"values"}) == b.model_dump(exclude={"values"})
            assert np.array_equal(np.array(a.values), np.array(b.values), equal_nan=True)
            assert all(type(v) is float for v in a.values + a.steps + (a.epochs or []))
        options = HistoryOptions(classes=10)
        assert analyse(built, options).model_dump_json() == analyse(validated, options).model_dump_json()


@pytest.mark.parametrize("seed", range(8))
def test_the_learning_rate_curve_is_found_as_before(seed: int) -> None:
    """lr_series stops counting positive learning rates at the third: the same answer as counting
    them all (`sum(v > 0 for v in values) >= 3`, the old rule, written out here) on curves of zeros,
    negatives, NaN and positives in random order."""
    from probes.history._lr import _positive

    rng = np.random.default_rng(seed)
    for _ in range(300):
        n = int(rng.integers(0, 12))
        values = rng.choice([0.0, -0.1, math.nan, math.inf, 1e-3, 0.5], size=n).tolist()
        assert _positive(values, 3) == (sum(v > 0 for v in values) >= 3)
