"""The team view of a watched run: a session whose run streams its points to the service
(`watch(..., server=URL)`) shows the curves, and they grow while the run trains.

A thread worker polls `GET /sessions/{id}/points?after=CURSOR` (through the conversation) and posts
what is new; the screen hands it to the `RunCurves` widget. It starts only for a session that
already holds points when opened (a watched run creates its session with its first batch), so a
plain diagnosis costs one request. Polling backs off while nothing arrives (a finished run) and stops
with the screen.

A mixin of `ChatScreen` (it uses the screen's conversation).
"""

from __future__ import annotations

import threading

from textual import work
from textual.message import Message

from assistant.errors import TraindocError
from assistant.service_models import CurvePoint
from tui.screens.chat_host import ChatMixinBase
from tui.widgets.run_curves import RunCurves

POLL_EVERY_S = 1.0  # between requests while points arrive
IDLE_POLL_MAX_S = 10.0  # the longest gap once they stop (doubling from POLL_EVERY_S)


class RunView(ChatMixinBase):
    poll_every: float = POLL_EVERY_S
    polling: threading.Event | None = None  # set: the poller stops

    class PointsArrived(Message):
        def __init__(self, points: list[CurvePoint], total: int) -> None:
            super().__init__()
            self.points = points
            self.total = total

    def start_run_view(self) -> None:
        """Called once a session is open; a new session (ctrl+n) stops the previous poller first."""
        self.stop_run_view()
        stop = self.polling = threading.Event()
        self.query_one(RunCurves).reset()
        self._poll_points(stop)

    def stop_run_view(self) -> None:
        if self.polling is not None:
            self.polling.set()

    def on_unmount(self) -> None:
        self.stop_run_view()

    @work(thread=True, group="points", exit_on_error=False)
    def _poll_points(self, stop: threading.Event) -> None:
        cursor, wait, first = 0, self.poll_every, True
        while not stop.is_set():
            try:
                page = self.conversation.points(after=cursor)
            except TraindocError:  # a service without the endpoint, or the session went away
                return
            if first and page.total == 0:
                return  # not a watched run: nothing will stream into it
            first = False
            if page.points:
                cursor = page.next
                self.post_message(self.PointsArrived(page.points, page.total))
                wait = self.poll_every
                if cursor < page.total:  # more pages waiting: fetch them at once
                    continue
            else:
                wait = min(IDLE_POLL_MAX_S, wait * 2)
            stop.wait(wait)

    def on_run_view_points_arrived(self, message: PointsArrived) -> None:
        self.query_one(RunCurves).add(message.points, message.total)
