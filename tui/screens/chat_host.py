"""What the `Measuring` and `FreeText` mixins use of the `ChatScreen` that hosts them, as a Protocol.

The mixins are split out of `ChatScreen` by topic; they read and change the screen's state. Declaring
that state here (instead of inheriting `ChatScreen` while type checking, a cycle mypy rejects) lets
the type checker check both sides: the mixins against this list, `ChatScreen` against the mixins.
At run time the mixins' base is plain `object`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from assistant.models import QuestionPublic, Report
from assistant.service_models import ProbeJob, SessionPublic
from probes.remedies.result import RemedyReport
from tui.answer_parsing import Claim, UserNumbers
from tui.conversation import Conversation
from tui.widgets.chat_message import Role


class ChatHost(Protocol):
    """The chat screen's state and the helpers the mixins call (all defined in `ChatScreen`)."""

    conversation: Conversation
    report: Report | None
    session: SessionPublic | None
    known: UserNumbers
    remembered: dict[str, Claim]
    job: ProbeJob | None
    seen: dict[str, dict[str, list[tuple[float, float]]]]
    following: threading.Event
    probe_options: dict[str, dict[str, Any]]
    failures: list[str]
    remedy_reports: dict[str, RemedyReport]
    busy: bool  # a reactive on the screen: setting it re-draws the controls
    Failed: Callable[[str], Message]  # the screen's own message class: a failure said in the chat

    @property
    def current(self) -> QuestionPublic | None: ...

    async def show(self, session: SessionPublic) -> None: ...

    async def aside(self, markdown: str, role: Role = "assistant") -> None: ...

    def call(self, action: Callable[[], SessionPublic], note: str | None = None) -> None: ...

    async def action_why(self) -> None: ...

    def action_measure(self) -> None: ...

    def _refresh_controls(self) -> None: ...

    def _focus_default_after_input(self) -> None: ...


if TYPE_CHECKING:

    class ChatMixinBase(Screen[None], ChatHost):
        """While type checking: a screen with the host's state.

        What the mixins assign is declared again here: mypy takes a protocol's bare attribute as
        abstract, and an explicit subclass's first assignment as its definition (narrower: `job`
        would become `ProbeJob`, not `ProbeJob | None`).
        """

        job: ProbeJob | None
        known: UserNumbers
        following: threading.Event
        busy: reactive[bool] = reactive(False)

else:
    ChatMixinBase = object
