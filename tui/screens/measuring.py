"""Measuring instead of guessing: a probe (or the whole automatic walk) runs as a job on the service;
a thread worker follows its progress stream into the probe panel; x / esc cancels it.

A mixin of `ChatScreen` (it uses the screen's state: the conversation, `show`, `call`).
"""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.message import Message

from assistant.errors import TraindocError
from assistant.service_models import FINISHED, ProbeJob, SessionPublic
from probes.base import ProbeProgress
from probes.registry import PROBES
from probes.remedies.result import RemedyReport
from tui import session_store
from tui.failures import probe_failed_markdown
from tui.live import run_curves
from tui.screens.chat_host import ChatMixinBase
from tui.screens.probe_options import ProbeOptionsScreen
from tui.screens.remedies import RemediesScreen
from tui.widgets.probe_panel import ProbePanel
from tui.widgets.question_bar import QuestionBar


class Measuring(ChatMixinBase):
    class ProbeStarted(Message):
        def __init__(self, job: ProbeJob) -> None:
            super().__init__()
            self.job = job

    class ProbeProgressed(Message):
        def __init__(self, progress: ProbeProgress) -> None:
            super().__init__()
            self.progress = progress

    class ProbeEnded(Message):
        def __init__(self, job: ProbeJob | None, session: SessionPublic | None) -> None:
            super().__init__()
            self.job = job
            self.session = session

    def action_measure(self) -> None:
        current = self.current
        how = self.conversation.sources.can_measure(current)
        if current is None or how is None:
            self.notify(
                "Nothing to measure with: start traindoc with --setup FILE.py:FUNC, --demo NAME or --history PATH.",
                severity="warning",
            )
            return
        if how == "history":
            self.call(self.conversation.apply_history, "Read your training history.")
            return
        assert current.probe is not None
        self.start_probe(current.probe)

    def options_probe(self) -> str | None:
        """The probe whose options `o` sets: the current question's, when it has options to set."""
        current = self.current
        if self.conversation.sources.can_measure(current) != "probe" or current is None:
            return None
        return current.probe if current.probe and PROBES[current.probe].options else None

    def auto_options(self) -> dict[str, dict[str, Any]]:
        """What `a` sends: the options set for each probe the walk may run (not the remedies')."""
        return {p: dict(o) for p, o in self.probe_options.items() if o and p != "remedies"}

    def action_probe_options(self, probe: str | None = None) -> None:
        """The options form of `probe` (from the palette), else of the current question's probe."""
        probe = probe if probe in PROBES and PROBES[probe].options else self.options_probe()
        if probe is None:
            self.notify("The current question's measurement has no options to set.")
            return

        def chosen(options: dict[str, Any] | None) -> None:
            if options is None:
                return
            self.probe_options[probe] = options
            said = ", ".join(f"{k} = {v}" for k, v in options.items()) or "the defaults"
            self.notify(f"The {probe} probe will run with {said}.")
            self._refresh_controls()

        self.app.push_screen(ProbeOptionsScreen(probe, self.probe_options.get(probe)), chosen)

    def on_question_bar_measure_requested(self, _: QuestionBar.MeasureRequested) -> None:
        self.action_measure()

    def action_auto(self) -> None:
        sources = self.conversation.sources
        if sources.setup and "auto" not in sources.failed:
            # the options set in the form (`o`, or the palette's "Options of the … probe") apply to
            # the probes the walk runs; the others keep their defaults
            chosen = self.auto_options()
            if chosen:
                said = "; ".join(
                    f"{probe}: " + ", ".join(f"{k} = {v}" for k, v in opts.items())
                    for probe, opts in chosen.items()
                )
                self.notify(f"Diagnosing with your options ({said}).")
            self.start_probe("auto", chosen)
        elif sources.history:  # everything the history can answer; the chat then asks the rest
            self.call(self.conversation.apply_history, "Read your training history.")
        else:
            self.notify(
                "Automatic diagnosis needs a setup or a history: traindoc --setup FILE.py:FUNC, "
                "--demo NAME or --history PATH.",
                severity="warning",
            )

    def action_try_remedies(self, finding: str | None = None) -> None:
        """Issue 17: the lecture's remedies for a finding, tried on the user's setup (the `remedies`
        probe), then shown before/after. Without an id: the last diagnosis of the report."""
        target = finding or self.remedy_target()
        if target is None or not self.conversation.sources.setup:
            self.notify(
                "Trying remedies needs a diagnosis and a setup: traindoc --setup FILE.py:FUNC or --demo NAME.",
                severity="warning",
            )
            return
        self.start_probe("remedies", {"findings": target})

    def remedy_target(self) -> str | None:
        """The finding `t` treats: the last diagnosis (the flowchart's leaf), else the last warning."""
        if self.report is None:
            return None
        findings = [f for f in self.report.findings if f.kind in ("diagnosis", "warning")]
        diagnoses = [f for f in findings if f.kind == "diagnosis"]
        chosen = diagnoses or findings
        return chosen[-1].id if chosen else None

    def start_probe(self, probe: str, options: dict[str, Any] | None = None) -> None:
        if self.job is not None:
            self.notify(f"The {self.job.probe} probe is still running (x cancels it).", severity="warning")
            return
        panel = self.query_one(ProbePanel)
        panel.start(probe)
        panel.display = True
        # A daemon thread, not a Textual worker: a worker thread blocked on the stream would hold the
        # app's exit until the next event (or the end of the job); a daemon thread never holds it.
        self.following = threading.Event()
        threading.Thread(
            target=self.run_probe,
            args=(probe, self.following, options),
            name="traindoc-probe-stream",
            daemon=True,
        ).start()

    def run_probe(self, probe: str, stop: threading.Event, options: dict[str, Any] | None = None) -> None:
        final: ProbeJob | None = None
        session: SessionPublic | None = None
        try:
            final = self.conversation.start_probe(probe, options or self.probe_options.get(probe))
            self.post_message(self.ProbeStarted(final))
            for event in self.conversation.follow(final.id):
                if event.progress is not None:
                    self.post_message(self.ProbeProgressed(event.progress))
                if event.job is not None:
                    final = event.job
                if stop.is_set():
                    return
            if final.status not in FINISHED:
                final = self.conversation.client.get_job(final.id)
            if final.status == "done":
                session = self.conversation.refresh()
        except TraindocError as exc:
            self.post_message(self.Failed(exc.message))
        except Exception as exc:
            self.post_message(self.Failed(f"internal error: {type(exc).__name__}: {exc}"))
        self.post_message(self.ProbeEnded(final, session))

    def on_measuring_probe_started(self, message: ProbeStarted) -> None:
        self.job = message.job
        self.refresh_bindings()

    def on_measuring_probe_progressed(self, message: ProbeProgressed) -> None:
        self.query_one(ProbePanel).advance(message.progress)

    async def on_measuring_probe_ended(self, message: ProbeEnded) -> None:
        self.job = None
        panel = self.query_one(ProbePanel)
        panel.display = False
        job = message.job
        if job is not None:
            if job.status == "done":
                self.seen.update(run_curves(panel.live))
                if self.session is not None:  # kept for --resume: results store numbers, not curves
                    self.keep_curves(self.session.id, dict(self.seen))
                summary = job.outcome.summary if job.outcome and job.outcome.summary else "done"
                self.notify(f"{job.probe} probe: {summary}", timeout=8)
                if job.probe == "remedies" and job.outcome is not None:
                    report = job.outcome.result  # typed when the outcome was built (probes/results.py)
                    if isinstance(report, RemedyReport):
                        self.show_remedies(report)
            elif job.status == "cancelled":
                self.notify(f"{job.probe} probe cancelled.", severity="warning")
            else:
                self.notify(f"{job.probe} probe {job.status}.", severity="error", timeout=10)
                # said in the chat (it stays), and no longer offered: it would fail the same way
                self.conversation.mark_failed(job.probe)
                self.failures.append(probe_failed_markdown(job.probe, job.error, job.error_code))
        session = message.session or self.session
        if session is not None:
            await self.show(session)  # re-drawn: the offers to measure follow what can still run
        else:
            self._refresh_controls()

    @work(thread=True, group="curves", exit_on_error=False)
    def keep_curves(self, session_id: str, curves: session_store.Curves) -> None:
        """With the session in the service, so `--resume` on any machine draws them again; a service
        that cannot keep them (one older than the endpoint) leaves them in the local file as before."""
        try:
            self.conversation.client.put_curves(session_id, session_store.to_service(curves))
        except TraindocError:
            session_store.save_curves(session_id, curves)

    def show_remedies(self, rr: RemedyReport) -> None:
        """Kept for the export (by the findings treated) and shown in its own screen."""
        self.remedy_reports[",".join(rr.findings)] = rr
        titles = [f.title for f in (self.report.findings if self.report else []) if f.id in rr.findings]
        self.app.push_screen(RemediesScreen(rr, ", ".join(titles)))

    def action_cancel_probe(self) -> None:
        if self.job is None:
            return
        self.query_one(ProbePanel).cancelling()
        self.cancel_job(self.job.id)

    def on_probe_panel_cancel_requested(self, _: ProbePanel.CancelRequested) -> None:
        self.action_cancel_probe()

    @work(thread=True, group="cancel", exit_on_error=False)
    def cancel_job(self, job_id: str) -> None:
        try:
            self.conversation.cancel(job_id)
        except TraindocError as exc:
            self.post_message(self.Failed(f"could not cancel: {exc.message}"))

    def stop_following(self) -> None:
        """On quit: the thread reading the progress stream stops at its next event (the job itself
        is cancelled by the app once the screen is gone)."""
        self.following.set()
