"""W&B run directories: the `run-*.wandb` record log decoded without the wandb package.

Ground truth: the logs were written by the real wandb package (offline mode) from values computed in
tests/history/wandb_writer.py; the expected values below are those same formulas. The committed
fixture (data/wandb_overfit, wandb 0.31.0) makes the decoder testable in a fresh clone; with
TRAINDOC_TEST_WANDB=/path/to/python-with-wandb (.ci/run sets it) fresh runs are written by the
installed wandb and read back, including a record that spans 32 KiB blocks and NaN values.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from probes.base import ProbeError
from probes.history import history_outcome, load_history
from tests.history.conftest import DATA

FIXTURE = DATA / "wandb_overfit"
RUN_DIR = next((FIXTURE / "wandb").glob("offline-run-*"))
WRITER = Path(__file__).parent / "wandb_writer.py"


def _expected_overfit() -> dict[str, list[float]]:
    # the formulas of wandb_writer.py's "overfit" run
    train = [0.15 + (math.log(10) - 0.15) * math.exp(-0.35 * e) for e in range(16)]
    val = [
        0.9 + 0.04 * (e - 6) ** 2 if e >= 6 else 0.9 + (math.log(10) - 0.9) * (6 - e) / 6 for e in range(16)
    ]
    acc = [0.1 + 0.05 * min(e, 10) for e in range(16)]
    return {"train/loss": train, "val/loss": val, "val/acc": acc}


@pytest.mark.parametrize(
    "spec",
    [FIXTURE, FIXTURE / "wandb", RUN_DIR, next(RUN_DIR.glob("run-*.wandb"))],
    ids=["project dir", "wandb dir", "run dir", "log file"],
)
def test_the_committed_run_is_read_from_any_level(spec: Path) -> None:
    h = load_history(spec)
    assert h.format == "wandb"
    curves = {s.name: s for s in h.series}
    for name, values in _expected_overfit().items():
        assert curves[name].values == pytest.approx(values, rel=1e-12)
        assert curves[name].steps == [float(i) for i in range(16)]  # W&B's _step
        assert curves[name].epochs == [float(i) for i in range(16)]  # the logged epoch
    assert curves["val/loss"].split == "val" and curves["val/acc"].higher_is_better
    assert h.config == {"num_classes": 10, "lr": 0.1}
    assert any("best_val_loss" in n for n in h.notes)  # the one-off summary is a note, not a curve
    assert "best_val_loss" not in curves


def test_the_run_config_gives_the_baseline_and_the_verdicts() -> None:
    o = history_outcome(str(FIXTURE))
    b = o.data["analysis"]["baseline"]
    assert (b["classes"], b["source"]) == (10, "file")  # num_classes in the run's config
    assert b["value"] == pytest.approx(math.log(10))
    # train 0.164 = 7% of ln 10: small; val/loss lowest 0.9 at epoch 6, then 4.14: overfitting
    assert o.answers["train_loss_large"] == "no"
    assert o.answers["val_loss_large"] == "yes"
    check = o.data["analysis"]["held_out"][0]
    assert check["best_epoch"] == 6 and check["overfitting_onset_epoch"] == 6
    assert o.data["needs"] == []


@pytest.mark.parametrize("cut", [8, 100, 1000, 4000, 7000])
def test_a_cut_off_log_is_read_up_to_the_cut(cut: int, tmp_path: Path) -> None:
    data = next(RUN_DIR.glob("run-*.wandb")).read_bytes()
    target = tmp_path / "run-x.wandb"
    target.write_bytes(data[:cut])
    try:
        h = load_history(target)
    except ProbeError as exc:
        assert "\n" not in exc.message and str(target) in exc.message
        return
    n = len(next(s for s in h.series if s.name == "train/loss").values)
    assert n < 16 and any("cut off" in w for w in h.warnings)


def test_a_flipped_byte_stops_at_the_bad_record(tmp_path: Path) -> None:
    data = bytearray(next(RUN_DIR.glob("run-*.wandb")).read_bytes())
    data[len(data) // 2] ^= 0xFF
    target = tmp_path / "run-x.wandb"
    target.write_bytes(bytes(data))
    h = load_history(target)
    assert any("corrupt record" in w for w in h.warnings)
    assert 0 < len(next(s for s in h.series if s.name == "train/loss").values) < 16


def test_summary_only_run_dir_is_refused_precisely(tmp_path: Path) -> None:
    run = tmp_path / "wandb" / "run-20240101_000000-abc"
    (run / "files").mkdir(parents=True)
    (run / "files" / "wandb-summary.json").write_text('{"loss": 0.1}')
    with pytest.raises(ProbeError, match="wandb-summary.json") as exc:
        load_history(tmp_path)
    assert "\n" not in exc.value.message


def test_the_latest_run_is_read(tmp_path: Path) -> None:
    src = next(RUN_DIR.glob("run-*.wandb"))
    for name in ("run-20200101_000000-old", "run-20240101_000000-new"):
        (tmp_path / "wandb" / name).mkdir(parents=True)
        shutil.copy(src, tmp_path / "wandb" / name / f"{name[-3:]}.wandb")
    # a run-*.wandb name is what W&B writes; the folder's date picks the latest
    for name in ("old", "new"):
        folder = next((tmp_path / "wandb").glob(f"run-*-{name}"))
        (folder / f"{name}.wandb").rename(folder / f"run-{name}.wandb")
    h = load_history(tmp_path)
    assert h.source.endswith("run-new.wandb")


# -- the real wandb package ---------------------------------------------------------------------------


def _wandb_python() -> str | None:
    return os.environ.get("TRAINDOC_TEST_WANDB")


def _write(kind: str, out: Path) -> dict:
    python = _wandb_python()
    assert python is not None
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(out)}
    done = subprocess.run(
        [python, str(WRITER), str(out), kind], capture_output=True, text=True, timeout=300, env=env, cwd=out
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


needs_wandb = pytest.mark.skipif(
    _wandb_python() is None,
    reason="set TRAINDOC_TEST_WANDB to a python with wandb installed (.ci/run does) to test against fresh runs",
)


@needs_wandb
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["overfit", "nan", "long"])
def test_runs_written_by_the_real_wandb_are_read_exactly(kind: str, tmp_path: Path) -> None:
    written = _write(kind, tmp_path)
    h = load_history(tmp_path)
    curves = {s.name: s for s in h.series}
    for name, values in written["logged"].items():
        if name == "epoch":
            continue
        got = curves[name].values
        assert len(got) == len(values), name
        for g, v in zip(got, values, strict=True):
            assert math.isnan(g) if v is None else g == pytest.approx(v, rel=1e-12), name
    if kind == "long":
        # one history row of 3,000 keys (~100 KB): a record spanning blocks, decoded whole
        assert sum(1 for n in curves if n.startswith("extra/")) == 3000
        assert len(curves["train/loss"].values) == 3000


@needs_wandb
@pytest.mark.slow
def test_a_real_run_that_ends_in_nan_is_judged_diverged(tmp_path: Path) -> None:
    _write("nan", tmp_path)
    o = history_outcome(str(tmp_path))
    assert o.answers["loss_diverged"] == "yes"  # train/loss NaN from step 40 to the end
    assert o.data["analysis"]["divergence"]["step"] == 40
    assert "val_loss_large" not in o.answers  # val/loss ends in NaN: not judged by its last finite value
    assert any("ends in NaN" in r for r in o.rules)
    assert o.data["analysis"]["baseline"]["source"] == "file"  # num_labels = 3 in the config


def test_cli_reads_a_wandb_dir(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "history", str(FIXTURE), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["data"]["format"] == "wandb"
    assert out["answers"]["val_loss_large"] == "yes"
