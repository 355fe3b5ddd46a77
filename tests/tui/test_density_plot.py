"""Issue 18's eigenvalue density (`--density`) in the TUI's evidence card and in the exports.

Ground truth:
- a density written in this test with numpy: two Gaussian bumps of known weights (a quarter of the
  mass at λ = -1, three quarters at λ = 2), so where the plot's peaks lie, which side of λ = 0 each is
  and the negative share (25%) are known without traindoc;
- one real probe output (tests/tui/data, provenance in its README): the curvature probe on a
  217-parameter model, which also counted the exact spectrum by full eigendecomposition; that exact
  negative share (27.6%) must lie inside the range the figure states for the SLQ estimate.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from assistant.evidence import apply_outcome
from assistant.models import AnswerSource, Evidence, Report
from assistant.session import Session
from probes.base import ProbeOutcome
from tests.tui.test_export_figures import SVG, texts_inside
from tui.evidence import DENSITY_FLOOR, curves, spectrum
from tui.export import export_report
from tui.figures import figures_for
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.evidence_view import EvidenceView

REAL = Path(__file__).parent / "data" / "curvature_density_tiny_regression.json"


def two_bumps() -> dict[str, Any]:
    grid = np.linspace(-2.0, 3.0, 101)
    sigma = 0.1
    bump = lambda c: np.exp(-((grid - c) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))  # noqa: E731
    density = 0.25 * bump(-1.0) + 0.75 * bump(2.0)
    return {
        "lambda_max": 2.0,
        "lambda_min": -1.0,
        "density": {
            "grid": grid.tolist(),
            "density": density.tolist(),
            "trace": {"estimate": 100 * (0.25 * -1 + 0.75 * 2), "std_error": 1.5},
            "negative_share": {"estimate": 0.25, "std_error": 0.02, "range": [0.2, 0.3]},
        },
    }


def curvature_evidence(data: dict[str, Any]) -> Evidence:
    return Evidence(source=AnswerSource.probe, probe="curvature", summary="", data=data)


def density_figure(data: dict[str, Any]) -> str:
    (figure,) = [
        f for f in figures_for(curvature_evidence(data), "Saddle point") if f.stem == "eigenvalue-density"
    ]
    return figure.svg


def test_the_density_is_read_as_a_curve_over_the_eigenvalues_not_over_its_index() -> None:
    data = two_bumps()
    found = spectrum(data)
    assert found is not None
    xs = [x for x, _ in found.points]
    assert xs == pytest.approx(data["density"]["grid"])  # x is λ, not 0..100
    peak = max(y for _, y in found.points)
    assert min(y for _, y in found.points) == pytest.approx(peak * DENSITY_FLOOR)  # tails floored for log
    # the two bumps: the highest point at λ = 2 (weight 3/4), the highest left of 0 at λ = -1
    assert max(found.points, key=lambda p: p[1])[0] == pytest.approx(2.0)
    assert max((p for p in found.points if p[0] < 0), key=lambda p: p[1])[0] == pytest.approx(-1.0)
    # and the generic curve finder no longer draws grid and density against their index
    assert not any("density" in name or "grid" in name for name in curves(data))
    assert spectrum({"lambda_max": 1.0}) is None and spectrum({"density": None}) is None


def test_the_exported_density_has_its_peaks_either_side_of_the_zero_mark_and_labels_inside() -> None:
    svg = density_figure(two_bumps())
    said = texts_inside(svg)  # every label inside the image
    title = said[0]
    assert "λ < 0: 25.0%" in title and "bounded to 20.0%–30.0%" in title
    assert any(t.startswith("eigenvalue λ — trace ≈ 125") for t in said)
    assert "λ = 0" in said
    root = ET.fromstring(svg)
    zero = [line for line in root.iter(f"{SVG}line") if line.get("class") == "marker"]
    (polyline,) = root.iter(f"{SVG}polyline")
    points = [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]
    top = min(points, key=lambda p: p[1])  # SVG y grows downwards: the highest point
    left_top = min((p for p in points if p[0] < float(zero[0].get("x1"))), key=lambda p: p[1])
    assert top[0] > float(zero[0].get("x1")) > left_top[0]  # the big bump right of 0, the small left
    assert top[1] < left_top[1]


def test_a_real_probe_output_is_drawn_with_a_range_holding_the_exact_negative_share() -> None:
    data = json.loads(REAL.read_text())
    exact = data["spectrum"]["negative"]
    assert data["spectrum"]["method"].startswith("exact")
    low, high = data["density"]["negative_share"]["range"]
    svg = density_figure(data)
    title = texts_inside(svg)[0]
    assert f"bounded to {low:.1%}–{high:.1%}" in title
    assert low <= exact <= high  # what the figure tells the reader to trust holds the exact share


def report_with(data: dict[str, Any]) -> Report:
    session = Session("s-density")
    session.answer("train_loss_large", "yes")
    session.answer("deeper_model_worse", "yes")  # optimization issue: the curvature questions
    outcome = ProbeOutcome(
        probe="curvature",
        answers={"gradient_norm_small": "yes", "hessian_negative_eigenvalue": "yes"},
        summary="a saddle point",
        data=data,
    )
    apply_outcome(session, outcome, AnswerSource.probe)
    return session.report()


def test_the_export_writes_the_density_figure_and_links_it(tmp_path: Path) -> None:
    data = json.loads(REAL.read_text())
    done = export_report(report_with(data), tmp_path)
    densities = [p for p in done.images if p.name.endswith("eigenvalue-density.svg")]
    assert len(densities) == 1
    texts_inside(densities[0].read_text())
    markdown = done.markdown.read_text()
    assert "Hessian eigenvalue density (ESTIMATE)" in markdown and densities[0].name in markdown


class CardApp(App[None]):
    def __init__(self, evidence: Evidence) -> None:
        super().__init__()
        self.evidence = evidence

    def compose(self) -> ComposeResult:
        yield EvidenceView(self.evidence)


@pytest.mark.parametrize("size", [(80, 60), (200, 60)])
async def test_the_card_plots_the_density_and_states_the_range(size: tuple[int, int]) -> None:
    data = json.loads(REAL.read_text())
    app = CardApp(curvature_evidence(data))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        (plot,) = [p for p in app.query(CurvePlot) if p.has_class("density-plot")]
        assert plot.curves["density"][0][0] == pytest.approx(data["density"]["grid"][0])
        assert "eigenvalue density" in plot.title
        assert plot.region.right <= size[0] and plot.region.height >= 8
        rendered = plot.render().plain.splitlines()
        assert len(rendered) > 5 and all(len(line) <= plot.content_size.width for line in rendered)
        x_axis = rendered[-1]
        assert "0" in x_axis and "6" in x_axis  # the eigenvalue axis, from below 0 to λ_max 6.36
        (summary,) = app.query(".density-summary").results(Static)
        low, high = data["density"]["negative_share"]["range"]
        text = str(summary.render())
        assert f"bounded to {low:.1%}–{high:.1%}" in text and "trace ≈ 13.09" in text
