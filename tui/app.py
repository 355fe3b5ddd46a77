"""The application: one chat screen, help, themes, command palette commands, clean quit."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from probes.registry import PROBES
from tui.conversation import Conversation
from tui.screens.chat import ChatScreen
from tui.screens.help import HelpScreen

if TYPE_CHECKING:
    from assistant.client import TraindocClient

LIGHT, DARK = "textual-light", "textual-dark"


def _start_resource_tracker() -> None:
    """The service reads a history in a spawned child, whose start needs multiprocessing's resource
    tracker; starting the tracker passes it sys.stderr's fd, and while a Textual app runs sys.stderr is
    Textual's capture, whose fileno() is -1: the spawn fails ("bad value(s) in fds_to_keep", a 500).
    Started here, before the app replaces stderr, the tracker is reused by every later spawn."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def settings_path() -> Path:
    """Where the TUI keeps its own preferences (the theme); next to the session database."""
    home = os.environ.get("TRAINDOC_HOME") or str(Path.home() / ".local" / "share" / "traindoc")
    return Path(home) / "tui.json"


class TraindocApp(App[None]):
    TITLE = "traindoc"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (90, "-wide")]
    # under 30 rows a dialog's scrolling list takes the rows left over instead of its fixed maximum,
    # so the buttons under it stay inside the box (tests/tui/test_dialogs_fit.py)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+t", "toggle_theme", "Light/dark", id="toggle-theme", show=False),
    ]

    def __init__(
        self,
        client: TraindocClient,
        *,
        setup: str | None = None,
        history: str | None = None,
        resume: bool = False,
        label: str = "",
        history_label: str = "",
        sources: dict[str, str] | None = None,
        export_dir: Path | None = None,
        remember_theme: bool = True,
        session_id: str | None = None,
    ) -> None:
        super().__init__()
        if history:  # see _start_resource_tracker
            _start_resource_tracker()
        self.client = client
        self.conversation = Conversation(client, setup=setup, history=history)
        self.resume = resume
        self.label = label
        self.history_label = history_label  # the history's path as the user gave it, for the title
        self.sources = sources or {}  # setup / demo / history as given (absolute): kept for --resume
        self.export_dir = export_dir
        self.remember_theme = remember_theme
        self.left_running: str | None = None  # the probe job running when the user quit
        self.session_id = session_id  # `--resume ID`: this session instead of the latest

    def on_mount(self) -> None:
        if self.remember_theme:
            self.theme = self._saved_theme() or DARK
            self.theme_changed_signal.subscribe(self, lambda theme: self._save_theme(theme.name))
        self.push_screen(
            ChatScreen(
                self.conversation,
                resume=self.resume,
                label=self.label,
                history_label=self.history_label,
                session_id=self.session_id,
            )
        )

    @property
    def chat(self) -> ChatScreen:
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        raise LookupError("the chat screen is not open")

    # -- actions ---------------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    async def action_quit(self) -> None:
        # Quit at once: answers and finished probe results are already saved by the service. A running
        # probe is cancelled AFTER the screen is gone (`cancel_left_behind`, called by the entry point):
        # the service answers a cancel only once the probe has stopped, which takes seconds.
        with contextlib.suppress(LookupError):
            job = self.chat.job
            self.left_running = job.id if job is not None else None
            self.chat.stop_following()
            self.chat.stop_run_view()
        self.exit()

    def cancel_left_behind(self) -> None:
        """After the app has exited: stop the probe that was running when the user quit."""
        if self.left_running is not None:
            with contextlib.suppress(Exception):  # finished meanwhile, or the service is gone
                self.client.cancel_job(self.left_running)
            self.left_running = None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        try:
            chat = self.chat
        except LookupError:
            return
        yield SystemCommand(
            "Export report", "Write the report as Markdown (with SVG plots) and JSON", chat.action_export
        )
        yield SystemCommand(
            "New session", "Start a new diagnosis (the current one stays saved)", chat.action_new_session
        )
        yield SystemCommand(
            "Toggle light/dark theme", "Switch between the light and the dark theme", self.action_toggle_theme
        )
        yield SystemCommand(
            "Change an answer", "Pick an earlier answer and change or withdraw it", chat.action_change
        )
        yield SystemCommand("Undo", "Undo the last input", chat.action_undo)
        if chat.options_probe() is not None:
            yield SystemCommand(
                "Probe options",
                "Set the current measurement's options (depths, seeds, samples), defaults shown",
                chat.action_probe_options,
            )
        if self.conversation.sources.setup:  # any probe's, before `a` reaches it (density, seeds, ...)
            for name in ("depth", "curvature", "learning_rate"):
                if name in PROBES and PROBES[name].options:
                    yield SystemCommand(
                        f"Options of the {name} probe",
                        f"Used by m and by a (diagnose automatically): {PROBES[name].description}",
                        partial(chat.action_probe_options, name),
                    )
        if chat.check_action("try_remedies", ()):
            yield SystemCommand(
                "Try the remedies (t)",
                "Train the lecture's fixes for the diagnosis on your setup and show before and after",
                chat.action_try_remedies,
            )
        yield SystemCommand("Help", "Every key and what you can type", self.action_help)
        if self.conversation.sources.setup or self.conversation.sources.history:
            yield SystemCommand(
                "Diagnose automatically",
                "Run every probe the flowchart path needs, or read everything the history can answer",
                chat.action_auto,
            )

    # -- the theme, remembered between runs ------------------------------------------------------

    def _saved_theme(self) -> str | None:
        try:
            name = json.loads(settings_path().read_text(encoding="utf-8")).get("theme")
        except (OSError, ValueError, AttributeError):
            return None
        return name if isinstance(name, str) and name in self.available_themes else None

    def _save_theme(self, name: str) -> None:
        path = settings_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"theme": name}) + "\n", encoding="utf-8")
        except OSError:
            pass  # a read-only home only loses the preference
