"""The conversation: the chat, the current question, a probe running in the background, free text
(the last two in the `Measuring` and `FreeText` mixins).

Every change goes to the service through `Conversation` in a thread worker; the worker posts the new
session back as a message and the chat is re-drawn from the server's report (see tui.transcript).
The event loop never waits on the network, so the UI never freezes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Input, Label

from assistant.errors import TraindocError
from assistant.models import QuestionPublic, Report
from assistant.service_models import ProbeJob, SessionPublic
from probes.remedies.result import RemedyReport
from tui import session_store
from tui.answer_parsing import Claim, UserNumbers, display_value
from tui.conversation import Conversation
from tui.export import export_report
from tui.failures import request_failed_markdown
from tui.screens.change_answer import ChangeAnswerScreen, ChangeRequest
from tui.screens.export import ExportScreen
from tui.screens.free_text import FreeText
from tui.screens.measuring import Measuring
from tui.screens.run_view import RunView
from tui.transcript import (
    Entry,
    build,
    current_question,
    finding_disagreements,
    question_text,
    withdrawn_findings,
)
from tui.widgets.chat_message import ChatMessage, Role
from tui.widgets.finding_card import FindingCard
from tui.widgets.probe_panel import ProbePanel
from tui.widgets.question_bar import QuestionBar
from tui.widgets.run_curves import RunCurves

PLACEHOLDER = (
    "Type: 'train loss 2.3 after 10 epochs, val 2.9 (10 classes)', 'test loss is fine', 'yes', 'why?'"
)


def _intro(conversation: Conversation, label: str) -> str:
    text = (
        "Hi, I'm **traindoc**. I'll walk you through Hung-yi Lee's flowchart for a model that trains "
        "badly, one question at a time: the training loss first, then model bias or optimization, then "
        "overfitting or mismatch.\n\nAnswer with the buttons or **y** / **n** / **u** (not sure), type "
        "what you see in the box below, or press **w** to ask why I'm asking. **F1** shows every key."
    )
    sources = conversation.sources
    if sources.setup:
        text += (
            f"\n\nI have your setup **{label or sources.setup}** loaded, so I can measure instead of guessing: "
            "press **m** on a question, or **a** to diagnose automatically."
        )
    if sources.history:
        text += (
            "\n\nI have your training history loaded: press **a** and I'll answer everything it can "
            "and ask you the rest, or **m** to read one question from it."
        )
    return text


class ChatScreen(Measuring, FreeText, RunView, Screen[None]):
    BINDINGS = [
        # the question bar's buttons show these five keys; the footer keeps room for the rest at 80x24
        Binding("y", "answer('yes')", "Yes", id="yes", show=False),
        Binding("n", "answer('no')", "No", id="no", show=False),
        Binding("u", "answer('unsure')", "Not sure", id="unsure", show=False),
        Binding("w", "why", "Why?", id="why", show=False),
        Binding("m", "measure", "Measure", id="measure", show=False),
        Binding("a", "auto", "Auto-diagnose", id="auto", show=False),
        Binding("t", "try_remedies", "Try it", id="try-remedies", show=False),
        Binding("x", "cancel_probe", "Cancel", id="cancel-probe"),
        Binding("o", "probe_options", "Probe options", id="probe-options", show=False),
        Binding("c", "change", "Change", id="change"),
        Binding("z", "undo", "Undo", id="undo", show=False),
        Binding("i,slash", "type", "Type", id="type"),
        Binding("e", "export", "Export", id="export"),
        Binding("ctrl+n", "new_session", "New session", id="new-session", show=False),
        Binding("escape", "escape", "Leave input / cancel", show=False),
    ]

    busy: reactive[bool] = reactive(False)

    # -- messages from the workers (posted from threads; handled on the event loop) ------------

    class SessionChanged(Message):
        def __init__(self, session: SessionPublic, note: str | None = None) -> None:
            super().__init__()
            self.session = session
            self.note = note

    class Failed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class Exported(Message):
        def __init__(self, paths: list[Path]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(
        self,
        conversation: Conversation,
        *,
        resume: bool = False,
        label: str = "",
        history_label: str = "",
        session_id: str | None = None,
    ) -> None:
        super().__init__()
        self.session_id = session_id  # --resume ID: open this session (a watched run's, say)
        self.history_label = history_label
        self.conversation = conversation
        self.resume = resume
        self.label = label
        self.report: Report | None = None
        self.session: SessionPublic | None = None
        self.known = UserNumbers()
        self.remembered: dict[str, Claim] = {}
        self.job: ProbeJob | None = None
        self.asides: list[Widget] = []
        self.seen: dict[str, dict[str, list[tuple[float, float]]]] = {}  # curves watched live, by probe
        self.following = threading.Event()  # set: the probe's stream reader stops
        self.probe_options: dict[str, dict[str, Any]] = {}  # set in the options dialog, by probe
        self.failures: list[str] = []  # what failed in this run, kept in the chat across re-draws
        self.remedy_reports: dict[str, RemedyReport] = {}  # remedies tried in this run, for the export

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="transcript")
        yield RunCurves(id="run-curves")  # a watched run's streamed curves (hidden without any)
        yield ProbePanel(id="probe-panel")
        yield QuestionBar(id="question-bar")
        yield Input(placeholder=PLACEHOLDER, id="freetext")
        yield Footer(compact=True)  # every key fits at 80 columns

    def on_mount(self) -> None:
        self.query_one("#transcript", VerticalScroll).anchor()
        self.query_one(ProbePanel).display = False
        self.query_one(QuestionBar).show(None, None, busy=True)
        self.busy = True
        self.run_call(lambda: self._open(), None)

    def _open(self) -> SessionPublic:
        session, resumed = self.conversation.open(resume=self.resume, session_id=self.session_id)
        if resumed:  # the curves watched live last time, drawn in the cards again
            self.seen.update(self._stored_curves(session.id))
        if self.resume and not resumed:
            self.app.call_from_thread(self.notify, "No earlier session found: starting a new one.")
        elif resumed:
            when = session.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            self.app.call_from_thread(self.notify, f"Resumed your last session (last changed {when}).")
        return session

    def _stored_curves(self, session_id: str) -> session_store.Curves:
        """The service's copy (kept with the session), else the local file of older versions."""
        try:
            stored = session_store.from_service(self.conversation.client.get_curves(session_id))
        except TraindocError:  # a service older than the endpoint
            stored = {}
        return stored or session_store.load_curves(session_id)

    # -- state ---------------------------------------------------------------------------------

    @property
    def current(self) -> QuestionPublic | None:
        return current_question(self.report) if self.report else None

    def watch_busy(self, busy: bool) -> None:
        if self.is_mounted:
            self._refresh_controls()
            if not busy:  # the bar's buttons were disabled while waiting, and lost the focus
                self._focus_default()

    def _refresh_controls(self) -> None:
        current = self.current
        bar = self.query_one(QuestionBar)
        bar.show(
            current if self.report else None,
            self.conversation.sources.can_measure(current),
            busy=self.busy,
        )
        if self.report is not None and current is None:
            bar.query_one("#question-label", Label).update(
                "Diagnosis complete — [b]e[/] export · [b]c[/] change an answer · [b]ctrl+n[/] new session"
            )
        suggestion = self.remembered.get(current.id) if current else None
        bar.suggest(suggestion.value if suggestion else None)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        current = self.current
        probe_running = self.job is not None
        if action in ("answer", "why"):
            if current is None:
                return False
            return None if self.busy else True
        if action == "measure":
            if self.conversation.sources.can_measure(current) is None:
                return False
            return None if probe_running or self.busy else True
        if action == "auto":
            sources = self.conversation.sources
            can = (bool(sources.setup) and "auto" not in sources.failed) or bool(sources.history)
            return can and not probe_running and not self.busy
        if action == "try_remedies":  # only with a setup (or demo) to train, and a finding to treat
            can = bool(self.conversation.sources.setup) and "remedies" not in self.conversation.sources.failed
            if not can or self.remedy_target() is None:
                return False
            return not probe_running and not self.busy
        if action == "probe_options":
            return self.options_probe() is not None
        if action == "cancel_probe":
            return probe_running
        if action in ("change", "undo"):
            return bool(self.report and (self.report.answers or self.report.inactive_answers))
        if action == "export":
            return self.report is not None
        return True

    # -- drawing the conversation --------------------------------------------------------------

    async def show(self, session: SessionPublic) -> None:
        before, self.report = self.report, session.report
        if self.session is None or self.session.id != session.id:  # a session opened: for --resume
            session_store.save_sources(session.id, getattr(self.app, "sources", {}))
            self.session = session
            self.start_run_view()
        self.session = session
        for title in withdrawn_findings(before, self.report):
            self.notify(f"No longer follows: {title} (an answer it depended on changed).", severity="warning")
        for qid in list(self.remembered):
            if qid in self.report.answers:
                del self.remembered[qid]
        self.sub_title = self._subtitle(session)
        entries = build(self.report, self.conversation.sources, _intro(self.conversation, self.label))
        transcript = self.query_one("#transcript", VerticalScroll)
        await transcript.remove_children()
        self.asides = []
        await transcript.mount_all([self._widget(e) for e in entries])
        await transcript.mount_all([self._failure_widget(text) for text in self.failures])
        current = self.current
        if current and current.id in self.remembered:
            claim = self.remembered[current.id]
            await self.aside(
                f"From what you told me earlier: **{display_value(claim.value)}** ({claim.reason}). "
                f"Press **{claim.value[0]}** to answer that.",
            )
        transcript.anchor()
        self._refresh_controls()
        self._focus_default()

    def _subtitle(self, session: SessionPublic) -> str:
        parts = [f"session {session.id[:8]}"]
        if self.conversation.sources.setup:
            parts.append(f"setup {self.label or self.conversation.sources.setup}")
        if self.conversation.sources.history:
            parts.append(f"history {self.history_label or self.conversation.sources.history}")
        return " · ".join(parts)

    def _widget(self, entry: Entry) -> Widget:
        safe = entry.key.replace(":", "-")
        if entry.kind == "finding" and entry.finding is not None:
            sources = self.conversation.sources
            return FindingCard(
                entry.finding,
                id=safe,
                seen=self.seen,
                can_try=bool(sources.setup) and "remedies" not in sources.failed,
                disagreements=finding_disagreements(entry.finding, self.report) if self.report else (),
            )
        if entry.kind == "summary":
            return ChatMessage(entry.markdown, role="assistant", id="summary")
        role: Role = "user" if entry.kind == "user" else "note" if entry.kind == "note" else "assistant"
        return ChatMessage(entry.markdown, role=role, question=entry.question, id=safe)

    def _failure_widget(self, markdown: str) -> ChatMessage:
        widget = ChatMessage(markdown, role="assistant")
        widget.add_class("failure")
        return widget

    async def fail(self, markdown: str) -> None:
        """A failure as a chat message that stays (a toast alone vanishes): what failed and what to do."""
        self.failures.append(markdown)
        transcript = self.query_one("#transcript", VerticalScroll)
        await transcript.mount(self._failure_widget(markdown))
        transcript.anchor()
        self._refresh_controls()

    async def aside(self, markdown: str, role: Role = "assistant") -> None:
        """A message that lasts until the report next changes (help text, what was understood)."""
        widget = ChatMessage(markdown, role=role, aside=True)
        self.asides.append(widget)
        transcript = self.query_one("#transcript", VerticalScroll)
        await transcript.mount(widget)
        transcript.anchor()

    def _focus_default(self) -> None:
        if isinstance(self.focused, Input):
            return
        current = self.current
        if current is None:
            self.query_one("#transcript").focus()
            return
        suggestion = self.remembered.get(current.id)
        button = self.query_one(f"#answer-{suggestion.value if suggestion else 'yes'}", Button)
        if button.display and not button.disabled:
            button.focus()

    # -- talking to the service (thread workers) -----------------------------------------------

    @work(thread=True, group="session", exit_on_error=False)
    def run_call(self, action: Callable[[], SessionPublic], note: str | None) -> None:
        try:
            session = action()
        except TraindocError as exc:
            self.post_message(self.Failed(exc.message))
            return
        except Exception as exc:  # an unexpected error is a toast, never a crashed app
            self.post_message(self.Failed(f"internal error: {type(exc).__name__}: {exc}"))
            return
        self.post_message(self.SessionChanged(session, note))

    def call(self, action: Callable[[], SessionPublic], note: str | None = None) -> None:
        if self.busy:
            self.notify("Still working on the last request…", severity="warning")
            return
        self.busy = True
        self.run_call(action, note)

    async def on_chat_screen_session_changed(self, message: SessionChanged) -> None:
        try:
            await self.show(message.session)
        finally:
            self.busy = False
        if message.note:
            self.notify(message.note)

    async def on_chat_screen_failed(self, message: Failed) -> None:
        self.busy = False
        self.notify(message.message, severity="error", timeout=8)
        await self.fail(request_failed_markdown(message.message))

    # -- answering -----------------------------------------------------------------------------

    def action_answer(self, value: str) -> None:
        current, report = self.current, self.report
        if current is None or report is None:
            return
        self.call(lambda: self.conversation.answer(report, current.id, value))

    def on_question_bar_answered(self, message: QuestionBar.Answered) -> None:
        self.action_answer(message.value)

    async def action_why(self) -> None:
        current = self.current
        if current is None:
            self.notify("There is no open question.")
            return
        lecture = f"\n\n_Lecture: {current.lecture}_" if current.lecture else ""
        await self.aside(f"**Why I ask “{current.text}”:** {current.help}{lecture}")

    async def on_question_bar_why_requested(self, _: QuestionBar.WhyRequested) -> None:
        await self.action_why()

    def action_change(self, question: str | None = None) -> None:
        report = self.report
        if report is None or not (report.answers or report.inactive_answers):
            self.notify("Nothing is answered yet.")
            return

        def changed(request: ChangeRequest | None) -> None:
            if request is None:
                return
            if request.value == "withdraw":
                asked = question_text(request.question, report)
                self.call(lambda: self.conversation.withdraw(request.question), f"Withdrew: {asked}")
            else:
                asked = question_text(request.question, report)
                note = f"Changed “{asked}” to {display_value(request.value)}."
                self.call(lambda: self.conversation.answer(report, request.question, request.value), note)

        self.app.push_screen(ChangeAnswerScreen(report, question), changed)

    def on_finding_card_try_requested(self, message: FindingCard.TryRequested) -> None:
        if self.job is not None or self.busy:
            self.notify("Wait for the running measurement to end (x cancels it).", severity="warning")
            return
        self.action_try_remedies(message.finding)

    def on_chat_message_change_requested(self, message: ChatMessage.ChangeRequested) -> None:
        self.action_change(message.question)

    def action_undo(self) -> None:
        self.call(self.conversation.undo, "Undid the last input.")

    def action_new_session(self) -> None:
        self.known, self.remembered, self.seen = UserNumbers(), {}, {}
        self.call(self.conversation.new, "Started a new session.")

    # -- free text -----------------------------------------------------------------------------

    def action_type(self) -> None:
        self.query_one("#freetext", Input).focus()

    def action_escape(self) -> None:
        if isinstance(self.focused, Input):
            self._focus_default_after_input()
        elif self.job is not None:
            self.action_cancel_probe()

    def _focus_default_after_input(self) -> None:
        self.set_focus(None)
        self._focus_default()

    # -- export --------------------------------------------------------------------------------

    def action_export(self, directory: Path | None = None) -> None:
        if self.report is None:
            return
        if directory is not None:
            self.write_export(self.report, directory)
            return

        def chosen(path: Path | None) -> None:
            if path is not None and self.report is not None:
                self.write_export(self.report, path)

        start = getattr(self.app, "export_dir", None) or Path.cwd()
        self.app.push_screen(ExportScreen(start), chosen)

    @work(thread=True, group="export", exit_on_error=False)
    def write_export(self, report: Report, directory: Path) -> None:
        try:
            done = export_report(
                report, directory, seen=self.seen, remedies=list(self.remedy_reports.values())
            )
        except TraindocError as exc:
            self.post_message(self.Failed(exc.message))
            return
        self.post_message(self.Exported([done.markdown, done.json, *done.images]))

    def on_chat_screen_exported(self, message: Exported) -> None:
        markdown, json_path, *images = message.paths
        plots = f" and {len(images)} plot(s)" if images else ""
        self.notify(f"Report written: {markdown} and {json_path}{plots}", title="Exported", timeout=10)
