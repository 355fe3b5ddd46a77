"""A finding as a card: title, measured evidence (numbers, tables, plots), why it follows, what to try,
and where the lecture covers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Collapsible, Markdown, Static

from assistant.models import Finding
from tui.evidence import CurvePoints
from tui.widgets.evidence_view import EvidenceView

COURSE_URL = "https://speech.ee.ntu.edu.tw/~hylee/ml/2021-spring.php"  # when a finding names none
KIND_LABEL = {"diagnosis": "Diagnosis", "warning": "Warning", "done": "Done"}


def because_markdown(finding: Finding) -> str:
    lines = []
    for i, reason in enumerate(finding.because, 1):
        facts = ", ".join(
            f"{q} not answered" if v == "unanswered" else f"{q} = {v}" for q, v in reason.answers.items()
        )
        lines.append(f"{i}. {reason.says}" + (f" _({facts})_" if facts else ""))
    return "\n".join(lines)


def card_markdown(finding: Finding) -> str:
    """Everything but the plots, as Markdown (also used by the Markdown export)."""
    parts = [f"{finding.explanation}"]
    if finding.because:
        parts += ["**Why it follows**", because_markdown(finding)]
    parts += ["**What to try**", "\n".join(f"- {r}" for r in finding.remedies)]
    if finding.lecture:
        parts.append(
            f"_Lecture:_ [{finding.lecture}]({finding.lecture_url or COURSE_URL}) (Hung-yi Lee, ML 2021)"
        )
    if not finding.evidence and finding.confirmed_by:
        parts.append(f"_Not measured yet; the {', '.join(finding.confirmed_by)} probe(s) would confirm it._")
    return "\n\n".join(parts)


class FindingCard(Vertical):
    """Composed from a Finding; recomposed wholesale when the report changes (the chat re-flows).

    `can_try`: a setup is loaded, so the card offers "try it" (issue 17: the remedies measured on it).
    `disagreements`: the user's answers this finding rests on that a measurement contradicted (issue 10).
    """

    class TryRequested(Message):
        def __init__(self, finding: str) -> None:
            super().__init__()
            self.finding = finding

    def __init__(
        self,
        finding: Finding,
        *,
        id: str | None = None,
        seen: Mapping[str, Mapping[str, CurvePoints]] | None = None,
        can_try: bool = False,
        disagreements: Sequence[str] = (),
    ) -> None:
        super().__init__(id=id, classes=f"finding-card -{finding.kind}")
        self.finding = finding
        self.seen = seen or {}
        self.can_try = can_try and finding.kind in ("diagnosis", "warning")
        self.disagreements = list(disagreements)

    def compose(self) -> ComposeResult:
        f = self.finding
        yield Static(f"[b]{KIND_LABEL.get(f.kind, f.kind)}:[/b] {f.title}", classes="card-title", markup=True)
        yield Markdown(card_markdown(f), classes="card-body")
        if self.disagreements:
            lines = "\n".join(f"- {d}" for d in self.disagreements)
            yield Markdown(f"**A measurement disagreed with you**\n\n{lines}", classes="card-disagreements")
        for index, evidence in enumerate(f.evidence):
            title = f"Measured: {evidence.probe or evidence.source.value}"
            with Collapsible(
                title=title, collapsed=False, classes="card-evidence", id=f"{self.id or 'card'}-ev{index}"
            ):
                yield EvidenceView(evidence, self.seen.get(evidence.probe or ""))
        if self.can_try:
            yield Button("Try it on your setup (t)", id=f"{self.id or 'card'}-try", classes="card-try")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.has_class("card-try"):
            event.stop()
            self.post_message(self.TryRequested(self.finding.id))
