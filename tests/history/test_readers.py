"""Readers on files written the way each tool writes them, and directories of runs."""

from __future__ import annotations

import json
import math
import shutil
import struct

import pytest

from probes.base import ProbeError
from probes.history import history_outcome, load_history
from probes.history._protobuf import crc32c, masked_crc32c
from tests.history.conftest import DATA, curve, real, trainer_state


def _names(history) -> dict:
    return {s.name: s for s in history.series}


# -- Hugging Face -----------------------------------------------------------------------------------


def test_checkpoint_directory_reads_the_latest_checkpoint(tmp_path) -> None:
    early = [{"step": 10, "epoch": 0.1, "loss": 2.0}]
    late = early + [{"step": 20, "epoch": 0.2, "loss": 1.5}, {"step": 1500, "epoch": 1.0, "loss": 1.0}]
    for name, log in (("checkpoint-500", early), ("checkpoint-1500", late), ("checkpoint-900", early)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "trainer_state.json").write_text(trainer_state(log))
    (tmp_path / "checkpoint-1500" / "model.safetensors").write_bytes(
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "
    )
    h = load_history(tmp_path)
    assert _names(h)["loss"].values == [2.0, 1.5, 1.0]
    assert any("checkpoint-1500" in n for n in h.notes)


def test_eval_dict_sets_get_their_own_curves(write) -> None:
    log = [
        {"step": 10, "epoch": 1.0, "loss": 1.0},
        {
            "step": 10,
            "epoch": 1.0,
            "eval_clean_loss": 0.9,
            "eval_clean_accuracy": 0.6,
            "eval_clean_runtime": 3.0,
        },
        {"step": 10, "epoch": 1.0, "eval_test_noisy_loss": 1.4, "eval_test_noisy_accuracy": 0.4},
        {"step": 10, "epoch": 1.0, "eval_overall_accuracy": 0.5, "eval_loss": 0.95},
    ]
    names = _names(load_history(write("state.json", trainer_state(log))))
    assert (names["eval_clean_loss"].split, names["eval_clean_loss"].eval_set) == ("val", "clean")
    assert (names["eval_test_noisy_loss"].split, names["eval_test_noisy_loss"].eval_set) == (
        "test",
        "test_noisy",
    )
    assert names["eval_clean_accuracy"].eval_set == "clean" and names["eval_clean_accuracy"].role == "metric"
    assert (
        names["eval_overall_accuracy"].eval_set is None
    )  # 'overall' is not an eval set: no eval_overall_loss
    assert "eval_clean_runtime" not in names


def test_bare_nan_and_the_hidden_nan_window(write) -> None:
    # steps 30-50: every step NaN, so HF logs loss 0.0 with grad_norm NaN; training recovers later
    log = [{"step": s, "epoch": s / 100, "loss": v, "grad_norm": 1.0} for s, v in ((10, 2.0), (20, 1.5))]
    log += [{"step": s, "epoch": s / 100, "loss": 0.0, "grad_norm": math.nan} for s in (30, 40, 50)]
    log += [{"step": s, "epoch": s / 100, "loss": v, "grad_norm": 2.0} for s, v in ((60, 1.4), (70, 1.3))]
    log += [{"step": 70, "epoch": 0.7, "eval_loss": math.nan}]
    path = write("trainer_state.json", trainer_state(log))
    assert "NaN" in path.read_text()  # bare NaN, as HF writes it
    o = history_outcome(str(path))
    d = o.data["analysis"]["divergence"]
    assert o.answers["loss_diverged"] == "yes"
    assert (d["kind"], d["step"], d["hidden_nan_points"], d["recovered"]) == ("hidden_nan", 30.0, 3, True)


def test_a_loss_of_zero_without_nan_evidence_is_not_diverged(write) -> None:
    log = [
        {"step": s, "loss": v, "grad_norm": 0.01} for s, v in ((10, 0.7), (20, 0.01), (30, 0.0), (40, 0.0))
    ]
    o = history_outcome(str(write("s.json", trainer_state(log))))
    assert o.answers["loss_diverged"] == "no"


# -- CSV ----------------------------------------------------------------------------------------------


def test_lightning_sparse_rows(write) -> None:
    text = (
        "epoch,step,train_loss_step,train_loss_epoch,val_loss,val_acc,lr-Adam\n"
        ",,,,,,0.001\n"
        "0,49,2.2,,,,\n"
        "0,99,1.9,,,,\n"
        "0,99,,,1.8,0.4,\n"
        "0,99,,2.05,,,\n"
        "1,149,1.2,,,,\n"
        "1,199,1.1,,,,\n"
        "1,199,,,1.3,0.6,\n"
        "1,199,,1.15,,,\n"
    )
    h = load_history(write("metrics.csv", text))
    names = _names(h)
    assert h.format == "lightning_csv"
    assert names["train_loss_step"].steps == [49, 99, 149, 199]
    assert names["val_loss"].values == [1.8, 1.3] and names["val_loss"].epochs == [0, 1]
    assert names["train_loss_epoch"].split == "train"
    assert names["val_acc"].higher_is_better is True
    assert names["lr-Adam"].role == "learning_rate"


def test_keras_csvlogger(write) -> None:
    rows = ["epoch,accuracy,loss,val_accuracy,val_loss"]
    rows += [
        f"{e},{0.5 + e / 40},{t},{0.5 + e / 50},{v}"
        for e, (t, v) in enumerate(zip(curve(10, 1.6, 0.2), curve(10, 1.5, 0.5), strict=True))
    ]
    h = load_history(write("training.log", "\n".join(rows) + "\n"))
    assert h.format == "keras_csv"
    assert _names(h)["val_loss"].x == "epoch" and len(_names(h)["loss"].values) == 10


def test_plain_csv_with_tabs_and_no_axis(write) -> None:
    h = load_history(write("losses.txt", "train_loss\tvalid_loss\n1.0\t1.1\n0.5\t0.7\n0.3\t0.6\n"))
    names = _names(h)
    assert names["valid_loss"].split == "val" and names["train_loss"].x == "index"


def test_csv_without_a_loss_column_is_refused(write) -> None:
    with pytest.raises(ProbeError, match="no loss column"):
        load_history(write("m.csv", "epoch,accuracy,val_accuracy\n0,0.5,0.4\n1,0.6,0.5\n"))


# -- JSON ---------------------------------------------------------------------------------------------


def test_keras_history_dict_and_epoch_records(write) -> None:
    keras = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.9], "accuracy": [0.5, 0.7, 0.8]}
    h = load_history(write("history.json", json.dumps(keras)))
    assert _names(h)["val_loss"].values == [1.1, 0.7, 0.9]
    records = [
        {"epoch": e, "train_loss": t, "val_loss": v} for e, (t, v) in enumerate([(1.0, 1.2), (0.6, 0.9)])
    ]
    assert _names(load_history(write("r.json", json.dumps(records))))["train_loss"].steps == [0, 1]
    lines = "\n".join(json.dumps({"step": s, "loss": 1 / (s + 1)}) for s in range(5))
    assert load_history(write("log.jsonl", lines)).format == "jsonl"


def test_json_without_losses_is_refused(write) -> None:
    with pytest.raises(ProbeError, match="JSON without a loss curve"):
        load_history(write("x.json", json.dumps({"name": "run", "lr": 0.1})))


# -- text logs ----------------------------------------------------------------------------------------


def test_keras_stdout_log(write) -> None:
    text = ""
    for epoch, (t, v) in enumerate([(0.9, 0.8), (0.6, 0.65), (0.4, 0.6)], 1):
        text += f"Epoch {epoch}/3\n"
        text += f"  1/32 [>....] - ETA: 3s - loss: {t + 0.3:.4f} - accuracy: 0.3000\r"
        text += f"32/32 [==============================] - 1s 20ms/step - loss: {t:.4f} - accuracy: 0.8000 - val_loss: {v:.4f} - val_accuracy: 0.7500\n"
    names = _names(load_history(write("stdout.txt", text)))
    assert names["loss"].values == [0.9, 0.6, 0.4]
    assert names["val_loss"].values == [0.8, 0.65, 0.6] and names["val_loss"].x == "epoch"


def test_a_log_without_losses_is_refused(write) -> None:
    with pytest.raises(ProbeError, match="text log without loss values"):
        load_history(write("notes.txt", "started the job\nGPU: A100\nall done\n"))


# -- TensorBoard ------------------------------------------------------------------------------------


def test_pytorch_writer_scalars_and_nan(tmp_path) -> None:
    # written by tensorboard's EventFileWriter, as torch.utils.tensorboard does (make_tb_fixtures.py)
    h = load_history(DATA / "pytorch_run")
    names = _names(h)
    train = names["train/loss"]
    assert len(train.values) == 100 and train.values[0] == pytest.approx(2.35)
    assert all(math.isnan(v) for v in train.values[90:])
    assert names["val/accuracy"].values[-1] == pytest.approx(0.7)
    assert "args" not in names  # a text summary is not a scalar
    o = history_outcome(str(DATA / "pytorch_run"))
    assert o.answers["loss_diverged"] == "yes" and o.data["analysis"]["divergence"]["step"] == 90


def test_tf2_keras_run_directory(tmp_path) -> None:
    # TF2 scalars are tensors: tensor_content (train) and float_val (validation); metadata only first
    names = _names(load_history(DATA / "keras_tf2_run"))
    assert names["train/epoch_loss"].values == pytest.approx(
        [1.6, 1.1, 0.8, 0.6, 0.45, 0.33, 0.24, 0.17, 0.12, 0.08]
    )
    assert names["validation/epoch_loss"].split == "val"
    assert names["train/epoch_learning_rate"].role == "learning_rate"
    o = history_outcome(str(DATA / "keras_tf2_run"))
    check = o.data["analysis"]["held_out"][0]
    assert check["best_step"] == 4 and check["metric_check"]["verdict"] == "metric_worse"
    assert o.answers["val_loss_large"] == "yes"


def test_truncated_event_file_keeps_what_was_written(tmp_path) -> None:
    data = (DATA / "pytorch_run" / "events.out.tfevents.fixture").read_bytes()
    cut = tmp_path / "events.out.tfevents.cut"
    cut.write_bytes(data[: len(data) - 30])
    h = load_history(cut)
    assert any("cut off" in w for w in h.warnings)
    assert len(_names(h)["train/loss"].values) >= 95


def test_crc32c_known_answer() -> None:
    # RFC 3720 test vector: 32 bytes of zeros
    assert crc32c(bytes(32)) == 0x8A9136AA
    # the length CRC of the first record tensorboard wrote
    head = (DATA / "pytorch_run" / "events.out.tfevents.fixture").read_bytes()[:12]
    assert masked_crc32c(head[:8]) == struct.unpack("<I", head[8:12])[0]


def test_tensorboard_runs_directory_reads_the_latest_run(tmp_path) -> None:
    import os

    for i, name in enumerate(("runs/Mar01_a", "runs/Mar02_b")):
        target = tmp_path / name
        target.mkdir(parents=True)
        dest = target / "events.out.tfevents.x"
        shutil.copy(DATA / "pytorch_run" / "events.out.tfevents.fixture", dest)
        os.utime(dest, (1_000_000 + i, 1_000_000 + i))
    h = load_history(tmp_path)
    assert any("2 TensorBoard runs" in n and "Mar02_b" in n for n in h.notes)


def test_trainer_state_wins_over_event_files_in_an_output_dir(tmp_path) -> None:
    shutil.copytree(DATA / "pytorch_run", tmp_path / "runs" / "x")
    (tmp_path / "checkpoint-20").mkdir()
    (tmp_path / "checkpoint-20" / "trainer_state.json").write_text(trainer_state([{"step": 20, "loss": 0.5}]))
    h = load_history(tmp_path)
    assert h.format == "hf_trainer_state" and any("tfevents" in n for n in h.notes)


def test_lightning_logs_directory_reads_the_latest_version(tmp_path) -> None:
    for version, loss in ((0, 9.0), (3, 1.0), (12, 2.0)):
        folder = tmp_path / "lightning_logs" / f"version_{version}"
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text(f"epoch,step,train_loss\n0,1,{loss}\n0,2,{loss / 2}\n")
        (folder / "hparams.yaml").write_text("lr: 0.1\n")
    assert _names(load_history(tmp_path))["train_loss"].values == [2.0, 1.0]


def test_a_real_file_copied_into_a_run_directory_is_found(tmp_path) -> None:
    shutil.copy(real("Kiran261101"), tmp_path / "metrics.csv")
    (tmp_path / "config.yaml").write_text("model: resnet\n")
    assert load_history(tmp_path).format == "lightning_csv"


def test_reading_histories_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from probes.history import history_outcome; import assistant.plots; "
        f"history_outcome({str(DATA / 'keras_tf2_run')!r}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_oversize_files_in_a_directory_are_skipped_and_named(tmp_path) -> None:
    with (tmp_path / "events.out.tfevents.huge").open("wb") as fh:
        fh.truncate(3 * 1024**3)  # sparse
    with pytest.raises(ProbeError, match="1 over the .* size limit"):
        load_history(tmp_path)
    (tmp_path / "metrics.csv").write_text("step,loss\n1,2.0\n2,1.0\n")
    assert load_history(tmp_path).format == "csv"


def test_public_api_is_pinned() -> None:
    import probes.history

    assert probes.history.__all__ == [
        "Baseline",
        "CurveSummary",
        "Divergence",
        "EarlyStopping",
        "HeldOutCheck",
        "History",
        "HistoryAnalysis",
        "HistoryOptions",
        "MetricCheck",
        "Noise",
        "Series",
        "Spike",
        "Trend",
        "analyse",
        "downsample",
        "history_outcome",
        "outcome_of",  # history_outcome split after loading: the watch diagnoses its curves in memory
        "load_history",
        "plotted_series",
    ]
