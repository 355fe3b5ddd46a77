"""One message in the chat: the assistant's words or the user's answer, as Markdown."""

from __future__ import annotations

from typing import Literal

from textual import events
from textual.message import Message
from textual.widgets import Markdown

Role = Literal["assistant", "user", "note"]


class ChatMessage(Markdown):
    """A chat bubble. A user's answer is clickable: clicking it asks to change that answer."""

    class ChangeRequested(Message):
        def __init__(self, question: str) -> None:
            super().__init__()
            self.question = question

    def __init__(
        self,
        markdown: str,
        *,
        role: Role,
        question: str | None = None,
        id: str | None = None,
        aside: bool = False,
    ) -> None:
        super().__init__(markdown, id=id, classes=f"{role} aside" if aside else role)
        self.role = role
        self.question = question
        if role == "user" and question:
            self.tooltip = "Click to change this answer"

    def on_click(self, event: events.Click) -> None:
        if self.role == "user" and self.question:
            event.stop()
            self.post_message(self.ChangeRequested(self.question))
