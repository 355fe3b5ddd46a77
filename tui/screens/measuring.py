"""Measuring instead of guessing: a probe (or the whole automatic walk) runs as a job on the service;
a thread worker follows its progress stream into the probe panel; x / esc cancels it.

A mixin of `ChatScreen` (it uses the screen's state: the conversation, `show`, `call`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from assistant.errors import TraindocError
from assistant.service_models import FINISHED, ProbeJob, SessionPublic
from probes.base import ProbeProgress
from tui.live import run_curves
from tui.widgets.probe_panel import ProbePanel
from tui.widgets.question_bar import QuestionBar

if TYPE_CHECKING:
    from tui.screens.chat import ChatScreen

    _Base = ChatScreen
else:
    _Base = object


class Measuring(_Base):
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

    def on_question_bar_measure_requested(self, _: QuestionBar.MeasureRequested) -> None:
        self.action_measure()

    def action_auto(self) -> None:
        if not self.conversation.sources.setup:
            self.notify(
                "Automatic diagnosis needs a setup: traindoc --setup FILE.py:FUNC or --demo NAME.",
                severity="warning",
            )
            return
        self.start_probe("auto")

    def start_probe(self, probe: str) -> None:
        if self.job is not None:
            self.notify(f"The {self.job.probe} probe is still running (x cancels it).", severity="warning")
            return
        panel = self.query_one(ProbePanel)
        panel.start(probe)
        panel.display = True
        self.run_probe(probe)

    @work(thread=True, group="probe", exit_on_error=False)
    def run_probe(self, probe: str) -> None:
        worker = get_current_worker()
        final: ProbeJob | None = None
        session: SessionPublic | None = None
        try:
            final = self.conversation.start_probe(probe)
            self.post_message(self.ProbeStarted(final))
            for event in self.conversation.follow(final.id):
                if event.progress is not None:
                    self.post_message(self.ProbeProgressed(event.progress))
                if event.job is not None:
                    final = event.job
                if worker.is_cancelled:
                    break
            if final.status not in FINISHED:
                final = self.conversation.client.get_probe(final.id)
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
                summary = job.outcome.summary if job.outcome and job.outcome.summary else "done"
                self.notify(f"{job.probe} probe: {summary}", timeout=8)
            elif job.status == "cancelled":
                self.notify(f"{job.probe} probe cancelled.", severity="warning")
            else:
                self.notify(
                    f"{job.probe} probe {job.status}: {job.error or 'no result'}",
                    severity="error",
                    timeout=10,
                )
        if message.session is not None:
            await self.show(message.session)
        else:
            self._refresh_controls()

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

    def cancel_running_probe_now(self) -> None:
        """On quit: stop the probe so its stream (and the worker thread reading it) ends."""
        if self.job is None:
            return
        # finished meanwhile, or the service is gone: either way the stream ends
        with contextlib.suppress(TraindocError):
            self.conversation.cancel(self.job.id)
