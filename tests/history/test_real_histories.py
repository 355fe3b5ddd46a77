"""The 34 real histories from public repositories (tests/data/real_histories): every one is read or
refused in one line, and for the runs whose story is clear the report says what a careful engineer
would say after reading the numbers (the expectations below come from reading the files, see
docs/history.md)."""

from __future__ import annotations

import pytest

from probes.base import ProbeError
from probes.history import history_outcome, load_history
from tests.history.conftest import all_real, real

REFUSED = {"Kirito-012__Deep-Learning__events.out.tfevents.1742381338.Kirito.15540.2": "no scalars"}


def test_the_collection_is_there() -> None:
    assert len(all_real()) == 34


@pytest.mark.parametrize("path", all_real(), ids=lambda p: p.name[:60])
def test_every_real_history_is_read_or_refused_in_one_line(path) -> None:
    try:
        outcome = history_outcome(str(path))
    except ProbeError as exc:
        assert path.name in REFUSED, f"refused: {exc.message}"
        assert "\n" not in exc.message and REFUSED[path.name] in exc.message
        return
    assert path.name not in REFUSED
    assert outcome.probe == "history"
    assert outcome.summary and outcome.rules
    assert set(outcome.answers) <= {
        "train_loss_large",
        "val_loss_large",
        "test_loss_large",
        "loss_diverged",
        "test_set_available",
    }
    assert outcome.data["curves"], "nothing to plot"


def test_stuck_at_uniform_predictions_is_a_large_training_loss() -> None:
    # 4-way multiple choice: eval loss 1.3863 = ln 4 for 20 epochs, accuracy ~0.27 (chance 0.25)
    o = history_outcome(str(real("yuanhuanghuang")))
    a = o.data["analysis"]
    assert a["baseline"]["classes"] == 4
    assert o.answers["train_loss_large"] == "yes"
    assert o.answers["val_loss_large"] == "yes"
    assert o.answers["loss_diverged"] == "no"
    assert a["train_trend"]["status"] == "flat"


@pytest.mark.parametrize("fragment", ["dada22231", "leixa"])
def test_hidden_nan_runs_are_diverged(fragment: str) -> None:
    # every logged loss is 0.0 with grad_norm NaN and eval_loss NaN: the HF NaN signature
    o = history_outcome(str(real(fragment)))
    assert o.answers["loss_diverged"] == "yes"
    assert o.data["analysis"]["divergence"]["kind"] == "hidden_nan"
    assert o.answers["train_loss_large"] == "yes"
    assert "val_loss_large" not in o.answers  # eval_loss is NaN: nothing to compare


def test_loss_of_zero_with_finite_gradients_is_not_a_hidden_nan_but_is_suspicious() -> None:
    # the hate-speech run's loss reaches 0.0000 within 3% of training with grad_norm ~5e-4: no NaN,
    # but a loss that perfect that early smells of leakage or a constant label
    o = history_outcome(str(real("aryan1112003__hate_speech_detection__trainer_state")))
    assert o.answers["loss_diverged"] == "no"
    assert any("leaked labels" in w for w in o.warnings)


def test_classic_overfitting_with_early_stopping_epoch() -> None:
    # NER fine-tune: eval loss lowest at epoch 2 (0.509) then up to 1.23 while train loss -> 0.035;
    # accuracy stuck at ~0.85-0.86
    o = history_outcome(str(real("ResultsEtape3")))
    check = o.data["analysis"]["held_out"][0]
    assert o.answers["train_loss_large"] == "no"
    assert o.answers["val_loss_large"] == "yes"
    assert check["best_epoch"] == pytest.approx(2.0)
    assert check["overfitting_onset_epoch"] == pytest.approx(2.0)
    assert check["early_stopping"]["stop_epoch"] == pytest.approx(5.0)  # patience 3 after epoch 2
    assert check["generalization_loss"] > 100


@pytest.mark.parametrize("fragment", ["ResultsEtape1", "DiegoArteagaMendoza"])
def test_val_loss_up_accuracy_up_is_reported_as_overconfidence(fragment: str) -> None:
    # eval loss rises after its best epoch while eval accuracy keeps rising (0.869 -> 0.885;
    # 0.967 -> 0.972): the model grows over-confident, it does not get worse at the task
    o = history_outcome(str(real(fragment)))
    check = o.data["analysis"]["held_out"][0]
    assert check["metric_check"]["verdict"] == "overconfidence"
    assert o.answers["val_loss_large"] != "yes"
    assert "over-confidence" in o.summary


def test_overfitting_with_falling_accuracy_is_plain_overfitting() -> None:
    # six eval sets; on g0 the loss goes 1.11 -> 2.75 and accuracy 0.678 -> 0.594
    o = history_outcome(str(real("aigoncharov")))
    checks = {c["name"]: c for c in o.data["analysis"]["held_out"]}
    assert len(checks) == 6 and checks["eval_g0_loss"]["eval_set"] == "g0"
    assert checks["eval_g0_loss"]["metric_check"]["verdict"] == "metric_worse"
    assert o.answers["val_loss_large"] == "yes"


def test_widening_gap_without_a_rising_val_loss_still_counts_as_large() -> None:
    # Keras CNN: train loss 1.78 -> 0.30, val loss flat around 0.72-0.78 for 60 epochs
    o = history_outcome(str(real("BurakErguvn")))
    check = o.data["analysis"]["held_out"][0]
    assert o.answers == {
        "train_loss_large": "no",
        "loss_diverged": "no",
        "val_loss_large": "yes",
        "test_set_available": "no",  # no test curve (issue 10)
    }
    assert check["gap_trend"] == "widening"
    assert check["gap_ratio"] > 2


@pytest.mark.parametrize("fragment", ["version_4_metrics", "version_18_metrics", "HCDescamps"])
def test_healthy_lightning_runs_with_a_test_set(fragment: str) -> None:
    # train, validation and test losses all small and close: nothing to fix
    if fragment == "version_4_metrics":
        path = real("DevilMayHide__LSTM-BADE03_Assignment__version_4")
    else:
        path = real(fragment)
    o = history_outcome(str(path))
    assert o.answers["train_loss_large"] == "no"
    assert o.answers["val_loss_large"] == "no"
    assert o.answers["test_loss_large"] == "no"
    assert o.answers["loss_diverged"] == "no"


def test_barely_trained_three_class_model_has_a_large_training_loss() -> None:
    # 30 steps, loss 1.096 -> 1.033 with ln 3 = 1.0986
    o = history_outcome(str(real("MohamedYoussef06")))
    assert o.data["analysis"]["baseline"]["classes"] == 3
    assert o.answers["train_loss_large"] == "yes"


def test_validation_loss_rising_from_the_first_epoch() -> None:
    # demand forecasting: val 43.4 at epoch 0, then up to 59.7 while train falls 44.7 -> 30.3
    o = history_outcome(str(real("MridulHu")))
    check = o.data["analysis"]["held_out"][0]
    assert o.answers["val_loss_large"] == "yes"
    assert check["overfitting_onset_epoch"] == pytest.approx(0.0)
    assert check["early_stopping"]["stop_epoch"] == pytest.approx(3.0)
    assert o.answers["train_loss_large"] == "unsure"  # an MSE-like loss with no baseline given


def test_no_validation_curve_leaves_validation_open() -> None:
    o = history_outcome(str(real("Francis-xsc")))
    assert "val_loss_large" not in o.answers and "test_loss_large" not in o.answers
    assert o.answers["train_loss_large"] == "no"  # 0.98 -> 0.16 over 100 epochs


def test_a_language_model_loss_is_not_mistaken_for_26_classes() -> None:
    # Falcon LoRA causal-LM fine-tune: loss 3.26 ~ ln 26, but there is no classification metric
    o = history_outcome(str(real("RohitBind123")))
    assert o.data["analysis"]["baseline"]["value"] is None
    assert o.answers["train_loss_large"] == "unsure"


def test_high_accuracy_with_a_high_loss_is_not_called_large() -> None:
    # val accuracy 98.4% with val loss 1.23 (63% of ln 7): soft, under-confident predictions
    o = history_outcome(str(real("LhoWann")))
    assert o.answers["val_loss_large"] == "unsure"
    assert any("under-confident" in r for r in o.rules)


def test_noisy_validation_curve_is_flagged() -> None:
    # chemistry regression: val MSE jumps between ~500 and ~2400 epoch to epoch
    o = history_outcome(str(real("GajdaMJ")))
    val = next(n for n in o.data["analysis"]["noise"] if n["name"] == "val_loss")
    assert val["oscillating"] is True


def test_validation_spike_is_found() -> None:
    # Keras ResNet50: val loss 1.44, 7.42, 1.29 at epochs 0-2
    o = history_outcome(str(real("Aditya24jar")))
    val = next(n for n in o.data["analysis"]["noise"] if n["name"] == "val_loss")
    assert [round(s["value"], 2) for s in val["spikes"]] == [7.42]


def test_text_log_with_three_runs_reads_the_last() -> None:
    h = load_history(real("AdityaJ87"))
    train = next(s for s in h.series if s.name == "Train Loss")
    assert len(train.values) == 11 and train.values[-1] == pytest.approx(1.3948)
    assert any("3 runs" in w for w in h.warnings)


def test_hf_stdout_dicts_are_read() -> None:
    h = load_history(real("whisper_app_test"))
    names = {s.name: s for s in h.series}
    assert names["eval_loss"].values == [pytest.approx(0.04380811005830765)]
    assert len(names["loss"].values) == 20


def test_trainer_state_under_another_name_is_read_by_content() -> None:
    assert load_history(real("baselines_lrqa___init__.py")).format == "hf_trainer_state"


def test_pytorch_event_file_from_the_hf_trainer() -> None:
    h = load_history(real("aryan1112003__hate_speech_detection__events"))
    names = {s.name: s for s in h.series}
    assert len(names["train/loss"].values) == 300
    assert names["eval/loss"].split == "val"
    assert "train/train_loss" not in names  # the run summary is not a curve


@pytest.mark.parametrize("path", all_real(), ids=lambda p: p.name[:60])
def test_damaged_copies_never_crash_a_reader(path, tmp_path) -> None:
    """Cut each real file at three places and flip bytes in the middle: the reader either reads
    what is left or refuses in one line; nothing else escapes."""
    data = path.read_bytes()
    variants = [data[: len(data) * k // 4] for k in (1, 2, 3)]
    flipped = bytearray(data)
    for i in range(len(flipped) // 3, len(flipped) // 3 + 64):
        if i < len(flipped):
            flipped[i] ^= 0x5A
    variants.append(bytes(flipped))
    for n, variant in enumerate(variants):
        target = tmp_path / f"{n}_{path.name}"
        target.write_bytes(variant)
        try:
            history_outcome(str(target))
        except ProbeError as exc:
            assert "\n" not in exc.message
