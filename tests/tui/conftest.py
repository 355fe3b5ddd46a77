"""Fixtures for the TUI tests: a real embedded service (uvicorn on 127.0.0.1, SQLite in tmp_path)
and helpers that wait, bounded, for the app to reach a state (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from assistant.client import TraindocClient
from tui import TraindocApp

WAIT_S = 60.0  # bound on waiting for the service; a probe test passes its own
# a setup whose training cannot end before a test cancels it (a billion steps): tests that cancel or
# quit during a probe must not race a probe that may finish first on a fast or a loaded machine
UNTIL_CANCELLED = f"{Path(__file__).resolve().parent / 'setups' / 'trains_until_cancelled.py'}:setup"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRAINDOC_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def make_client(home: Path) -> Iterator[Callable[..., TraindocClient]]:
    clients: list[TraindocClient] = []

    def make(setup: str | None = None, history: str | None = None) -> TraindocClient:
        client = TraindocClient.embedded(
            setups={"default": setup} if setup else None,
            histories={"default": history} if history else None,
            db_path=str(home / "sessions.db"),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def make_app(make_client: Callable[..., TraindocClient]) -> Callable[..., TraindocApp]:
    def make(
        setup: str | None = None,
        *,
        history: str | None = None,
        resume: bool = False,
        client: TraindocClient | None = None,
        **kw: object,
    ) -> TraindocApp:
        client = client or make_client(setup=setup, history=history)
        return TraindocApp(
            client,
            setup="default" if setup else None,
            history="default" if history else None,
            resume=resume,
            label=setup or "",
            history_label=history or "",
            **kw,  # type: ignore[arg-type]
        )

    return make


async def wait_for(
    pilot: Pilot, condition: Callable[[], bool], timeout: float = WAIT_S, what: str = ""
) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        await pilot.pause(0.05)


async def ready(pilot: Pilot) -> None:
    """The first layout, then the session loaded from the service."""
    await pilot.pause()
    app = pilot.app
    await wait_for(
        pilot, lambda: app.chat.report is not None and not app.chat.busy, what="the session to load"
    )  # type: ignore[attr-defined]


async def idle(pilot: Pilot) -> None:
    app = pilot.app
    await pilot.pause()
    await wait_for(pilot, lambda: not app.chat.busy, what="the last request")  # type: ignore[attr-defined]
    await pilot.pause()


async def run_palette_command(pilot: Pilot, search: str, title: str) -> None:
    """Open the command palette, type `search`, and run the command titled `title` once the palette's
    search (a background worker, slow on a loaded machine) has put it first in the list — never after
    a fixed pause, which pressed Enter on an empty or stale list under load."""

    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), what="the command palette")
    await pilot.press(*search)

    def first_is_title() -> bool:
        commands = pilot.app.screen.query_one(CommandList)
        if not commands.option_count or commands.highlighted != 0:
            return False
        prompt = commands.get_option_at_index(0).prompt
        return title in str(getattr(prompt, "plain", prompt))

    await wait_for(pilot, first_is_title, what=f"{title!r} first in the command palette")
    await pilot.press("enter")  # the palette highlights its first hit whenever its list is refilled
