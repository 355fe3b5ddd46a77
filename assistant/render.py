"""Reports as text for people: the CLI's human output and the Markdown export."""

from __future__ import annotations

from assistant.models import Report


def report_markdown(report: Report) -> str:
    lines: list[str] = ["# traindoc diagnosis", ""]
    if report.answers:
        lines += ["## Answers", ""]
        for qid, a in report.answers.items():
            src = a.source.value
            summary = f" — {a.evidence.summary}" if a.evidence and a.evidence.summary else ""
            lines.append(f"- **{qid}**: {a.value} (from {src}){summary}")
        lines.append("")
    if report.findings:
        lines += ["## Findings", ""]
        for f in report.findings:
            lines += [f"### {f.title}", "", f.explanation, "", "**Why:**", ""]
            lines += [f"{i}. {r.says} (rule `{r.rule}`)" for i, r in enumerate(f.because, 1)]
            if f.evidence:
                lines += ["", "**Evidence:**", ""]
                for ev in f.evidence:
                    lines.append(f"- {ev.probe or ev.source.value}: {ev.summary}")
                    lines += [f"  - {rule}" for rule in ev.rules]
            lines += ["", "**What to try:**", ""]
            lines += [f"- {r}" for r in f.remedies]
            if f.lecture:
                lines += [
                    "",
                    f"_Lecture: [{f.lecture}]({f.lecture_url})_"
                    if f.lecture_url
                    else f"_Lecture: {f.lecture}_",
                ]
            lines.append("")
    if report.pending:
        lines += ["## Still open", ""]
        for q in report.pending:
            probe = f" (`traindoc probe {q.probe}` can measure it)" if q.probe else ""
            lines.append(f"- **{q.id}**: {q.text}{probe}")
        lines.append("")
    if report.inactive_answers:
        lines += ["## Answers not used on this path", ""]
        lines += [f"- {q}: {a.value}" for q, a in report.inactive_answers.items()]
        lines.append("")
    if report.disagreements:
        lines += ["## Your answers over a measurement that disagreed", ""]
        for d in report.disagreements:
            by = d.probe or d.source
            lines.append(
                f"- **{d.question}**: you answered {d.value}; {by} measured {d.measured}: {d.summary}"
            )
        lines.append("")
    if report.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    lines += [f"_Derived by the {report.engine} rule engine._", ""] if report.engine else []
    return "\n".join(lines)
