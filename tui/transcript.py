"""The conversation as a function of the report: the chat is re-drawn from the server's report after
every change, so changing an earlier answer re-flows everything after it and stale findings vanish.

Pure: no Textual, no client. The chat screen turns entries into widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from assistant.models import Answer, Disagreement, Finding, QuestionPublic, Report
from probes.registry import PROBES
from rules import KNOWLEDGE
from rules.schema import HISTORY
from tui.answer_parsing import display_value
from tui.evidence import evidence_markdown

EntryKind = Literal["assistant", "user", "finding", "summary", "note"]

PROBES_WITH_OPTIONS: frozenset[str] = frozenset(name for name, spec in PROBES.items() if spec.options)


@dataclass(frozen=True)
class Sources:
    """What the assistant can measure with: a setup name, a history name, or neither; and the probes
    that failed in this run (no longer offered: they would fail again the same way)."""

    setup: str | None = None
    history: str | None = None
    failed: frozenset[str] = frozenset()

    def can_measure(self, question: QuestionPublic | None) -> Literal["probe", "history", None]:
        if question is None:
            return None
        # who can measure what is the question's own (rules/questions.py, QuestionPublic.measured_by)
        probe = question.probe
        if self.setup and probe is not None and probe != HISTORY and probe not in self.failed:
            return "probe"
        if self.history and HISTORY in question.measured_by:
            return "history"
        return None


@dataclass(frozen=True)
class Entry:
    key: str
    kind: EntryKind
    markdown: str
    question: str | None = None  # user entries: the question this answer can be changed on
    finding: Finding | None = None
    extra: dict[str, object] = field(default_factory=dict)


def question_text(qid: str, report: Report | None = None) -> str:
    if report is not None:
        for q in report.pending:
            if q.id == qid:
                return q.text
    spec = KNOWLEDGE.questions.get(qid)
    return spec.text if spec else qid


def current_question(report: Report) -> QuestionPublic | None:
    """The question to put to the user now: the first unanswered one, else the first 'not sure'."""
    unanswered = [q for q in report.pending if q.id not in report.answers]
    if unanswered:
        return unanswered[0]
    return report.pending[0] if report.pending else None


def answer_markdown(answer: Answer, *, repeat: bool = False) -> str:
    """The answer as the user's bubble; `repeat`: its measurement was already shown above."""
    value = display_value(answer.value).capitalize()
    if answer.source.value == "user":
        text = f"**{value}**"
        if answer.note:
            text += f"  \n_“{answer.note}”_"
        return text
    how = (
        "measured by the " + ((answer.evidence.probe if answer.evidence else None) or "") + " probe"
        if answer.source.value == "probe"
        else "read from your training history"
    )
    text = f"**{value}** — {how}"
    if repeat:
        return text + " (the same measurement as above)"
    if answer.evidence and answer.evidence.summary:
        text += f": {answer.evidence.summary}"
    return text


def disagreement_text(d: Disagreement, report: Report | None = None) -> str:
    """Issue 10, in plain words: the question's text, what the user answered, what was measured."""
    if d.source.value == "history":
        by = "your training history" + (f" ({d.probe})" if d.probe and d.probe != "history" else "")
    else:
        by = f"the {d.probe} probe" if d.probe else "a measurement"
    text = (
        f"To “{question_text(d.question, report)}” you answered **{display_value(d.value)}**; "
        f"{by} measured **{display_value(d.measured)}**"
    )
    return text + (f": {d.summary}" if d.summary else ".")


def finding_disagreements(finding: Finding, report: Report) -> list[str]:
    """The disagreements on the answers this finding's chain used."""
    used = {q for reason in finding.because for q in reason.answers}
    return [disagreement_text(d, report) for d in report.disagreements if d.question in used]


def _finding_position(finding: Finding, order: list[str]) -> int:
    """After the last answer the finding's chain used (so it appears where it was reached)."""
    used = [order.index(q) for reason in finding.because for q in reason.answers if q in order]
    return max(used, default=-1)


def build(report: Report, sources: Sources, intro: str) -> list[Entry]:
    entries: list[Entry] = [Entry("intro", "assistant", intro)]
    order = list(report.answers)
    placed: dict[int, list[Finding]] = {}
    for f in report.findings:
        placed.setdefault(_finding_position(f, order), []).append(f)
    for f in placed.get(-1, []):
        entries.append(Entry(f"finding:{f.id}", "finding", f.title, finding=f))
    shown: list[object] = []  # one measurement answers several questions: its rules are shown once
    for index, (qid, answer) in enumerate(report.answers.items()):
        entries.append(Entry(f"ask:{qid}", "assistant", f"**{question_text(qid, report)}**", question=qid))
        entries.append(
            Entry(
                f"answer:{qid}",
                "user",
                answer_markdown(answer, repeat=answer.evidence in shown),
                question=qid,
            )
        )
        for d in report.disagreements:
            if d.question == qid:
                note = disagreement_text(d, report) + " I kept your answer; press **c** to change it."
                entries.append(Entry(f"disagree:{qid}", "note", note, question=qid))
        if answer.evidence is not None and answer.source.value != "user" and answer.evidence not in shown:
            shown.append(answer.evidence)
            details = evidence_markdown(answer.evidence)
            if details:
                entries.append(Entry(f"evidence:{qid}", "note", details, question=qid))
        for f in placed.get(index, []):
            entries.append(Entry(f"finding:{f.id}", "finding", f.title, finding=f))
    entries += _closing(report, sources)
    return entries


def history_needs(report: Report, question: str) -> list[dict[str, object]]:
    """What a history reader said would settle `question` (its result's `needs`), e.g. the number of
    classes for the training loss when the file does not show it."""
    answers = [*report.answers.values(), *report.inactive_answers.values()]
    for answer in answers:
        ev = answer.evidence
        if ev is None or answer.source.value != "history":
            continue
        result = ev.result  # HistoryResult (probes/results.py)
        needs = getattr(result, "needs", None) or []
        found = [n.model_dump(mode="json") for n in needs if n.question == question]
        if found:
            return found
    return []


def needs_markdown(needs: list[dict[str, object]]) -> str:
    """The chat's request for the missing fact, in words the free-text box understands."""
    need = needs[0]
    why = str(need.get("why") or "").rstrip(".")
    ask = (
        "How many classes does your model predict? Type it, e.g. **3 classes** (or **baseline 1.1**, "
        "the loss of a trivial predictor), and I'll read the history again and compare its loss with "
        "what guessing would score (ln C); or answer yes / no if you know."
        if need.get("fact") == "classes"
        else "Answer yes / no if you know, or type the losses you see."
    )
    return f"_Your training history can't settle this on its own{': ' + why if why else ''}._ {ask}"


def _closing(report: Report, sources: Sources) -> list[Entry]:
    current = current_question(report)
    if current is None:
        return [Entry("summary", "summary", summary_markdown(report))]
    out: list[Entry] = []
    if current.id in report.answers:  # every open question was answered "not sure"
        how = sources.can_measure(current)
        hint = (
            "Press **m** and I will measure it."
            if how == "probe"
            else "Press **m** and I will read it from your training history."
            if how == "history"
            else "Answer when you know: press **c** to change an answer, or load a setup "
            "(`traindoc --setup FILE.py:FUNC`) so I can measure it."
        )
        out.append(
            Entry(
                f"stuck:{current.id}",
                "assistant",
                f"I can't go further on this branch without an answer to: **{current.text}** {hint}",
            )
        )
        return out
    how = sources.can_measure(current)
    offer = ""
    if how == "probe":
        offer = f"\n\n_Not sure? Press **m** and I will measure it with the `{current.probe}` probe._"
        if current.probe in PROBES_WITH_OPTIONS:
            offer = offer.rstrip("_") + " **o** sets its options._"
    elif how == "history":
        offer = "\n\n_Not sure? Press **m** and I will read it from your training history._"
    needs = history_needs(report, current.id) if sources.history else []
    if needs:  # the history was read and left this open: say what would settle it, not "press m"
        offer = "\n\n" + needs_markdown(needs)
    out.append(Entry(f"ask:{current.id}", "assistant", f"**{current.text}**{offer}", question=current.id))
    return out


def summary_markdown(report: Report) -> str:
    diagnoses = [f for f in report.findings if f.kind == "diagnosis"]
    warnings = [f for f in report.findings if f.kind == "warning"]
    done = [f for f in report.findings if f.kind == "done"]
    lines = ["**Summary**", ""]
    if diagnoses:
        lines.append("**Diagnosis:** " + "; ".join(f.title for f in diagnoses) + ".")
    elif done:
        lines.append("**" + done[0].title + ".**")
    else:
        lines.append("No diagnosis was reached on this path.")
    if warnings:
        lines.append("")
        lines.append("**Warnings:** " + "; ".join(f.title for f in warnings) + ".")
    leaves = diagnoses or done or warnings
    if leaves:
        leaf = leaves[-1]
        lines += ["", "**Try first:**", ""] + [f"{i}. {r}" for i, r in enumerate(leaf.remedies[:3], 1)]
    if report.notes:
        lines += ["", "**Notes:**", ""] + [f"- {n}" for n in report.notes]
    lines += [
        "",
        "Press **e** to export this report (Markdown with plots, and JSON), **c** to change an answer.",
    ]
    return "\n".join(lines)


def withdrawn_findings(before: Report | None, after: Report) -> list[str]:
    """Titles of findings that were there before and are not any more (for a toast)."""
    if before is None:
        return []
    now = {f.id for f in after.findings}
    return [f.title for f in before.findings if f.id not in now]
