"""The pure parts of the TUI: the transcript drawn from a report, evidence as tables and curves,
the terminal and SVG plots, what the live plot follows, and the export."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from assistant.evidence import apply_outcome
from assistant.models import AnswerSource, Report
from assistant.session import Session
from probes.base import ProbeOutcome, ProbeProgress
from tui.answer_parsing import LARGE_FRACTION_OF_BASELINE, SMALL_FRACTION_OF_BASELINE
from tui.evidence import curves, evidence_markdown, walk_scalars, walk_tables
from tui.export import export_report
from tui.live import LiveCurves, run_curves
from tui.plotting import svg_image, terminal_plot, use_log_scale
from tui.transcript import Sources, build, current_question, summary_markdown, withdrawn_findings

LADDER = [
    {
        "depth": d,
        "mean": 0.1 * d,
        "seeds": [0, 1],
        "losses": [0.1 * d - 0.01, 0.1 * d + 0.01],
        "step_losses": [2.0 * math.exp(-i / (3 * d)) + 0.1 * d for i in range(30)],
    }
    for d in (1, 2, 3)
]


def report_of(**answers: str) -> Report:
    session = Session("s-test")
    for question, value in answers.items():
        session.answer(question, value)
    return session.report()


def measured_report() -> Report:
    session = Session("s-measured")
    session.answer("train_loss_large", "yes")
    outcome = ProbeOutcome(
        probe="depth",
        answers={"deeper_model_worse": "yes"},
        summary="depth 3 trains worse than depth 1",
        rules=["depth 3 reaches 0.3 vs depth 1 0.1: deeper worse (clear)"],
        # the keys the depth probe writes (probes/results.py DepthResult: the outcome checks them)
        data={
            "ladder": LADDER,
            "table": [],
            "seeds": 2,
            "trivial_loss": 2.3,
            "comparison": {
                "worse": 3,
                "better": 1,
                "difference": 0.2,
                "noise_margin": 0.02,
                "floor": 0.01,
                "verdict": True,
                "sureness": "clear",
            },
        },
    )
    apply_outcome(session, outcome, AnswerSource.probe)
    return session.report()


# -- transcript ------------------------------------------------------------------------------------


def test_transcript_puts_each_finding_after_the_answer_that_reached_it() -> None:
    report = report_of(train_loss_large="yes", deeper_model_worse="yes")
    keys = [e.key for e in build(report, Sources(), "hi")]
    assert keys[:6] == [
        "intro",
        "ask:train_loss_large",
        "answer:train_loss_large",
        "ask:deeper_model_worse",
        "answer:deeper_model_worse",
        "finding:optimization_issue",
    ]
    assert keys[-1] == "ask:gradient_norm_small"  # the next question comes last


def test_transcript_ends_with_a_summary_when_complete() -> None:
    report = report_of(train_loss_large="no", test_loss_large="no")
    entries = build(report, Sources(), "hi")
    assert entries[-1].kind == "summary"
    assert "Training looks healthy" in entries[-1].markdown
    assert current_question(report) is None


def test_transcript_offers_to_measure_only_with_something_to_measure_with() -> None:
    report = report_of()
    plain = build(report, Sources(), "hi")[-1].markdown
    with_setup = build(report, Sources(setup="default"), "hi")[-1].markdown
    with_history = build(report, Sources(history="default"), "hi")[-1].markdown
    assert "measure" not in plain
    assert "`baselines` probe" in with_setup
    assert "training history" in with_history
    # the depth question cannot be read from a history
    deeper = report_of(train_loss_large="yes")
    assert Sources(history="default").can_measure(deeper.pending[0]) is None


def test_measured_answers_show_their_source_and_rules() -> None:
    entries = {e.key: e for e in build(measured_report(), Sources(setup="default"), "hi")}
    assert "measured by the depth probe" in entries["answer:deeper_model_worse"].markdown
    assert "deeper worse (clear)" in entries["evidence:deeper_model_worse"].markdown
    assert "evidence:train_loss_large" not in entries  # the user's own answer has no evidence


def test_a_measurement_that_answers_several_questions_is_shown_once() -> None:
    session = Session("s-curvature")
    session.answer("train_loss_large", "yes")
    session.answer("deeper_model_worse", "yes")
    outcome = ProbeOutcome(
        probe="curvature",
        answers={
            "gradient_norm_small": "yes",
            "hessian_negative_eigenvalue": "yes",
            "learning_rate_exceeds_stability": "no",
        },
        summary="saddle point",
        rules=["lambda_min -2 < 0: a clearly negative eigenvalue"],
    )
    apply_outcome(session, outcome, AnswerSource.probe)
    entries = build(session.report(), Sources(setup="default"), "hi")
    notes = [e for e in entries if e.kind == "note"]
    assert len(notes) == 1 and "clearly negative" in notes[0].markdown
    repeats = [e for e in entries if e.kind == "user" and "same measurement as above" in e.markdown]
    assert len(repeats) == 2


def test_withdrawn_findings_are_named() -> None:
    before = report_of(train_loss_large="yes", deeper_model_worse="no")
    after = report_of(train_loss_large="no")
    assert withdrawn_findings(before, after) == ["Model bias: the model is too simple"]
    assert withdrawn_findings(None, after) == []


def test_summary_lists_diagnosis_and_first_remedies() -> None:
    text = summary_markdown(report_of(train_loss_large="yes", deeper_model_worse="no"))
    assert "**Diagnosis:** Model bias" in text
    assert "1. Redesign the model" in text


# -- evidence --------------------------------------------------------------------------------------


def test_evidence_tables_numbers_and_curves() -> None:
    evidence = measured_report().answers["deeper_model_worse"].evidence
    assert evidence is not None
    scalars = dict(walk_scalars(evidence.data))
    assert scalars["trivial loss"] == "2.3" and scalars["depth comparison: worse"] == "3"
    assert not any("." in label or "_" in label for label in scalars)  # words, not internal keys
    ((name, rows),) = list(walk_tables(evidence.data))
    assert name == "ladder" and [r["depth"] for r in rows] == [1, 2, 3]
    found = curves(evidence.data)
    assert sorted(found) == ["depth 1", "depth 2", "depth 3"]  # one curve per rung, named by it
    assert len(found["depth 2"]) == 30
    text = evidence_markdown(evidence, full=True)
    assert "| depth | mean |" in text and "deeper worse (clear)" in text


def test_history_curves_keep_their_names_and_nan() -> None:
    data = {"curves": [{"name": "loss", "role": "loss", "steps": [1, 2, 3], "values": [1.0, None, 0.5]}]}
    found = curves(data)
    assert list(found) == ["loss"]
    assert found["loss"][0] == (1.0, 1.0) and math.isnan(found["loss"][1][1])
    assert "!" in terminal_plot(found, 30, 6).plain  # a NaN is marked on the top edge


def test_curves_accept_pairs_and_skip_short_or_non_finite_lists() -> None:
    data = {
        "pairs": [[0, 1.0], [1, 0.5], [2, 0.25], [3, float("nan")]],
        "short": [1.0, 2.0],
        "eig": [2.0, -2.0],
    }
    found = curves(data)
    assert list(found) == ["pairs"] and found["pairs"] == [(0.0, 1.0), (1.0, 0.5), (2.0, 0.25)]
    assert dict(walk_scalars(data))["eig"] == "2, -2"  # a few eigenvalues are shown as numbers


# -- plots -----------------------------------------------------------------------------------------


def test_terminal_plot_fits_its_box_and_draws_every_series() -> None:
    plot = terminal_plot({"a": [(0, 1), (1, 2), (2, 3)], "b": [(0, 3), (2, 1)]}, 40, 8, title="t")
    lines = plot.plain.splitlines()
    assert len(lines) == 8
    assert all(len(line) <= 40 for line in lines), [len(line) for line in lines]
    assert "● a" in lines[0] and "● b" in lines[0]
    assert any(ch for line in lines[1:] for ch in line if 0x2800 < ord(ch) <= 0x28FF)
    assert "no points yet" in terminal_plot({}, 20, 5).plain


def test_losses_over_orders_of_magnitude_use_a_log_axis() -> None:
    falling = {"loss": [(i, 10.0**-i) for i in range(8)]}
    assert use_log_scale(falling)
    assert not use_log_scale({"lambda": [(0, -2.0), (1, 2.0)]})
    assert "(log scale)" in terminal_plot(falling, 50, 8, title="loss").plain


def test_svg_image_is_valid_xml_with_one_line_per_series() -> None:
    svg = svg_image({"a": [(0, 1), (1, 2)], "b <&>": [(0, 2), (1, 1)]}, title="t <1>")
    root = ET.fromstring(svg)
    polylines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(polylines) == 2


# -- the live plot ---------------------------------------------------------------------------------


def progress(
    probe: str, done: int, total: int, series: str | None = None, **estimate: float
) -> ProbeProgress:
    return ProbeProgress(probe=probe, done=done, total=total, series=series, estimate=estimate)


def test_live_plot_follows_training_and_ignores_the_ladder_summaries() -> None:
    live = LiveCurves("depth")
    for depth in (1, 2):
        for step in range(1, 4):
            live.add(progress("training", step, 3, f"depth {depth}", loss=1.0 / (step * depth)))
        live.add(progress("depth", depth, 2, f"depth {depth}", loss=1.0 / (3 * depth)))
    assert live.shown == "training"
    assert sorted(live.curves()) == ["depth 1", "depth 2"]
    assert live.title() == "training: training loss"
    assert live.bar == (2, 2)  # the job's own probe drives the bar once it reports


def test_a_series_that_starts_over_is_a_new_curve() -> None:
    live = LiveCurves("depth")
    for seed in range(2):
        for step in (1, 2, 3):
            live.add(progress("training", step, 3, "depth 3", loss=1.0 / step + seed))
    assert live.curves() == {
        "depth 3": [(1.0, 1.0), (2.0, 0.5), (3.0, 1 / 3)],
        "depth 3, run 2": [(1.0, 2.0), (2.0, 1.5), (3.0, 4 / 3)],
    }
    assert live.title() == "training: training loss"


def test_live_plot_switches_to_the_curvature_estimates() -> None:
    live = LiveCurves("curvature")
    live.add(progress("training", 1, 10, "depth 2", loss=1.0))
    live.add(progress("training", 2, 10, "depth 2", loss=0.5))
    assert live.bar == (2, 10)  # before the probe itself reports, training drives the bar
    for k in range(1, 5):
        live.add(progress("curvature", k, 30, lambda_max=10 - 1 / k, lambda_min=-1 + 1 / k))
    assert live.shown == "curvature"
    assert sorted(live.curves()) == ["lambda_max", "lambda_min"]
    assert live.bar == (4, 30)
    kept = run_curves(live)
    assert sorted(kept) == ["curvature"]  # the training had only two points: not kept


def test_run_curves_of_an_automatic_run_go_to_the_depth_evidence() -> None:
    live = LiveCurves("auto")
    live.add(progress("auto", 0, 3))
    for step in range(1, 5):
        live.add(progress("training", step, 3, "depth 1", loss=1.0 / step))
    assert sorted(run_curves(live)) == ["depth"]


# -- export ----------------------------------------------------------------------------------------


def test_export_writes_markdown_json_and_svg_plots(tmp_path: Path) -> None:
    report = measured_report()
    done = export_report(report, tmp_path / "out")
    markdown = done.markdown.read_text()
    assert "## Plots" in markdown
    # the depth ladder as a plot of loss by depth, and the training curves it summarises
    assert [p.stem.split("-", 2)[-1] for p in done.images] == ["depth-ladder", "training"]
    for image in done.images:
        assert image.suffix == ".svg"
        assert f"]({image.parent.name}/{image.name})" in markdown  # relative link
        ET.fromstring(image.read_text())
    assert Report.model_validate(json.loads(done.json.read_text())) == report


def test_export_uses_curves_seen_live_when_the_evidence_has_none(tmp_path: Path) -> None:
    session = Session("s-live")
    apply_outcome(
        session, ProbeOutcome(probe="training", answers={"train_loss_large": "no"}, data={"x": 1.0})
    )
    report = session.report()
    assert export_report(report, tmp_path / "a").images == []
    seen = {"training": {"depth 1": [(1.0, 2.0), (2.0, 1.0), (3.0, 0.5)]}}
    assert len(export_report(report, tmp_path / "b", seen=seen).images) == 1


def test_freetext_rule_matches_the_baselines_probe() -> None:
    from probes import baselines

    assert LARGE_FRACTION_OF_BASELINE == baselines.LARGE_FRACTION
    assert SMALL_FRACTION_OF_BASELINE == baselines.SMALL_FRACTION
