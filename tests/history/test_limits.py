"""Bounded memory for every reader (issue 14's history part): a file a reader cannot hold is refused in
one line before memory is spent. Sizes here are small; benchmarks/bench_history_memory.py measures the
issue's full-size cases (a 250 MB one-line CSV, 2 million columns) and docs/history.md has the figures.
"""

from __future__ import annotations

import json

import pytest

from probes.base import ProbeError
from probes.history import _builder, _files, load_history
from tests.conftest import assert_one_line_error, run_cli
from tests.history.conftest import real


def test_a_csv_line_longer_than_the_cap_is_refused(tmp_path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("loss,val_loss," + "0.5," * 400_000)  # 1.6 MB, no line break
    with pytest.raises(ProbeError, match=r"line 1 is longer than 1\.0 MB") as exc:
        load_history(path)
    assert "\n" not in exc.value.message


def test_a_later_long_line_is_refused_too(tmp_path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.5\n2," + "9" * 1_200_000 + "\n")
    with pytest.raises(ProbeError, match="line 4 is longer"):
        load_history(path)


def test_too_many_columns_are_refused(tmp_path) -> None:
    path = tmp_path / "metrics.csv"
    header = ",".join(f"l{i}_loss" for i in range(12_000))
    path.write_text(header + "\n" + ",".join("0.5" for _ in range(12_000)) + "\n")
    with pytest.raises(ProbeError, match="12,000 columns"):
        load_history(path)


def test_json_over_the_whole_read_cap_is_refused_before_reading(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_files, "WHOLE_READ_MAX_BYTES", 5_000)
    monkeypatch.delenv("TRAINDOC_HISTORY_MAX_BYTES", raising=False)
    path = tmp_path / "trainer_state.json"
    path.write_bytes(real("ResultsEtape3").read_bytes())  # 61 KB
    with pytest.raises(ProbeError, match="over the 5.0 KB limit for a JSON or text history"):
        load_history(path)
    monkeypatch.setenv("TRAINDOC_HISTORY_MAX_BYTES", "1000000")  # the user raised the limit
    assert load_history(path).format == "hf_trainer_state"


def test_more_values_than_the_cap_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_builder, "MAX_POINTS", 1_000)
    path = tmp_path / "metrics.csv"
    path.write_text("step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(1_500)))
    with pytest.raises(ProbeError, match="more than 1,000 logged values") as exc:
        load_history(path)
    assert str(path) in exc.value.message


def test_a_text_log_with_a_huge_line_skips_it(tmp_path) -> None:
    path = tmp_path / "train.log"
    path.write_text(
        "Epoch 1, Train Loss: 1.0, Val Loss: 1.1\n"
        + "x" * 1_500_000
        + "\nEpoch 2, Train Loss: 0.5, Val Loss: 0.6\n"
    )
    h = load_history(path)
    assert [s.values for s in h.series if s.name == "Train Loss"] == [[1.0, 0.5]]


@pytest.mark.slow
def test_cli_refuses_in_one_line_with_exit_2(tmp_path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"loss{i}" for i in range(300_000)) + "\n")  # a 2.3 MB header
    assert_one_line_error(run_cli("history", str(path)), "line 1 is longer than 1.0 MB")
    dev = run_cli("diagnose", "--history", "/dev/zero", "--json")
    assert_one_line_error(dev, "not a regular file")


def test_config_files_are_read_only_when_small(tmp_path) -> None:
    (tmp_path / "trainer_state.json").write_bytes(real("Jaypee34__Sentiment").read_bytes())
    (tmp_path / "config.json").write_text(json.dumps({"num_labels": 3, "pad": "x" * 2_000_000}))
    assert load_history(tmp_path).config == {}  # a 2 MB "config" is not one


def test_a_whole_curve_at_once_keeps_the_cap_and_the_points_of_one_at_a_time(monkeypatch) -> None:
    """`SeriesBuilder.extend` (a watched run's curves) against `add` point by point: the same points
    while under the cap, and past it the same refusal after the same points."""
    monkeypatch.setattr(_builder, "MAX_POINTS", 10)
    steps, values = [float(s) for s in range(1, 8)], [1.0 / s for s in range(1, 8)]
    whole, single = _builder.SeriesBuilder("step"), _builder.SeriesBuilder("step")
    whole.extend("loss", steps, values)
    for s, v in zip(steps, values, strict=True):
        single.add("loss", s, v)
    assert whole.build() == single.build() and whole.count == single.count == 7
    with pytest.raises(_builder.TooManyPoints):
        whole.extend("val_loss", steps, values)
    with pytest.raises(_builder.TooManyPoints):
        for s, v in zip(steps, values, strict=True):
            single.add("val_loss", s, v)
    assert whole.build() == single.build()
