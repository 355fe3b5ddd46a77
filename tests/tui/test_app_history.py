"""`traindoc --history PATH`: the assistant offers to read the answers from a real training history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Button

from tests.conftest import REAL_HISTORIES
from tests.tui.conftest import idle, ready
from tui import TraindocApp
from tui.export import export_report
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.finding_card import FindingCard

LIGHTNING = REAL_HISTORIES / "lightning_csv" / "HCDescamps__cv-image-classification__version_0_metrics.csv"


@pytest.mark.skipif(not LIGHTNING.exists(), reason="the shared real histories are not on this machine")
async def test_reading_a_history_answers_and_plots_the_curves(
    make_app: Callable[..., TraindocApp], tmp_path: Path
) -> None:
    app = make_app(history=str(LIGHTNING))
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        button = app.screen.query_one("#measure", Button)
        assert button.display and "Read history" in str(button.label)
        await pilot.press("m")
        await idle(pilot)
        report = app.chat.report
        assert report is not None
        sources = {q: a.source.value for q, a in report.answers.items()}
        assert sources and set(sources.values()) == {"history"}
        assert report.answers["train_loss_large"].value == "no"  # the run fits its training data
        cards = list(app.screen.query(FindingCard))
        assert cards, "no finding from the history"
        plots = [p for card in cards for p in card.query(CurvePlot)]
        assert plots and "train_loss" in plots[0].curves  # the loss curves, drawn in the card
    exported = export_report(report, tmp_path)
    assert exported.images and exported.images[0].read_text().startswith("<svg")
