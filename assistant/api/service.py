"""Session operations for the API: one asyncio lock per session, write-through cache, persist-then-answer.

Every change is computed on a copy of the session (`Session(id, inputs)` replays), written to the store,
and only after the commit does the cached record change and the request get its answer. So a reply
the client received is always on disk, and a failed write leaves the session exactly as it was.

A session's report is derived and serialised once per change (`Derived`), and every response that
carries it (the change's own `SessionPublic`, `GET .../report`, `GET /sessions/{id}`) reuses those
bytes: responses are JSON bytes here, spliced from parts pydantic serialised (issue 19; the bytes are
what `model_dump_json()` of the whole model gives, tests/service/test_report_bytes.py).

All of this runs on the event loop thread: the rule engine is only ever called from there.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assistant import store as ops
from assistant.api.histories import HistoryReader
from assistant.api.report_bytes import report_json
from assistant.engine import FlowchartEngine, default_engine
from assistant.errors import ConflictError, InputError, NotFoundError, ServiceUnavailable
from assistant.evidence import apply_outcome
from assistant.models import AnswerSource, Report, SessionInput
from assistant.service_models import SessionCreate, SessionCurves, SessionSummary, _SessionFields
from assistant.session import Session
from assistant.store import SessionRecord, Store
from probes.base import ProbeOutcome

MAX_ID_LENGTH = 64
MAX_POINTS = 1_000_000  # curve points per session (~60 MB): a 100k-step run logging 5 curves, twice over


@dataclass(slots=True)  # never changed once made (not frozen: a frozen __init__ costs a call per field)
class Derived:
    """A session's report and its JSON, with the state of the record they were derived from.

    The key is that state itself: the record's very lists of inputs and notes (a change assigns new
    ones; kept here, their ids cannot be reused), their lengths (an append in place changes them) and
    `updated_at` (stamped on every change). `fits` is checked on every read, so a report derived
    before a change can never be served after it, whichever path changed the record.
    """

    inputs: list[SessionInput]
    n_inputs: int
    notes: list[str]
    n_notes: int
    updated_at: datetime
    report: Report
    report_json: bytes
    session: Session  # the session that derived the report: the next change starts from its replay

    def fits(self, rec: SessionRecord) -> bool:
        return (
            self.inputs is rec.inputs
            and self.notes is rec.notes
            and self.n_inputs == len(rec.inputs)
            and self.n_notes == len(rec.notes)
            and self.updated_at == rec.updated_at
        )


def derived(rec: SessionRecord, session: Session, report: Report) -> Derived:
    """`report` (the session's, of the record as it is now) with its JSON, serialised here once."""
    report_json = _dump_report(report)
    return Derived(
        rec.inputs, len(rec.inputs), rec.notes, len(rec.notes), rec.updated_at, report, report_json, session
    )


# Serialisers called directly: `model_dump_json()` wraps the same call in Python (measured ~5 us each).
_dump_report = report_json  # spliced from its parts' kept JSON (assistant/api/report_bytes.py)
_dump_head = _SessionFields.__pydantic_serializer__.to_json


def public_json(rec: SessionRecord, d: Derived) -> bytes:
    """`SessionPublic(...).model_dump_json()` of the record, with the report's bytes spliced in.

    SessionPublic is `_SessionFields` followed by `report` and `inputs` (no aliases, no custom
    serialisers; tests/service/test_report_bytes.py checks the field order and the bytes).
    """
    head = _dump_head(
        _SessionFields(
            id=rec.id,
            created_at=rec.created_at,
            updated_at=rec.updated_at,
            setup=rec.setup,
            history=rec.history,
        )
    )
    return b"".join(
        (head[:-1], b',"report":', d.report_json, b',"inputs":', ops.inputs_json(rec.inputs), b"}")
    )


@dataclass
class LiveSession:
    record: SessionRecord
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    derived: Derived | None = None  # the report of record, used only while it `fits` record
    deleted: bool = False
    points: int | None = None  # curve points stored (read once, then counted here)


def new_id() -> str:
    return secrets.token_urlsafe(18)  # 144 random bits: unguessable, URL-safe


class SessionService:
    def __init__(
        self,
        store: Store,
        *,
        histories: Mapping[str, str],
        setups: Mapping[str, str],
        cache_size: int,
        max_inputs: int,
        history_reader: HistoryReader | None = None,
    ) -> None:
        self.store = store
        self.history_reader = history_reader or HistoryReader(
            max_bytes=512 * 1024 * 1024, memory_mb=4096, cache_size=32
        )
        self.histories = histories
        self.setups = setups
        # the engine memoizes derivations itself (FlowchartEngine.evaluate): no second memo here
        self.engine: FlowchartEngine = default_engine()
        self._cache: OrderedDict[str, LiveSession] = OrderedDict()
        self._cache_size = cache_size
        self._max_inputs = max_inputs

    # -- lookup -------------------------------------------------------------------------------------

    def live(self, session_id: str) -> LiveSession:
        live = self._cache.get(session_id)
        if live is not None:
            self._cache.move_to_end(session_id)
            return live
        record = self.store.load_session(session_id) if len(session_id) <= MAX_ID_LENGTH else None
        if record is None:
            raise NotFoundError(f"no session {session_id!r}", field="session_id")
        live = LiveSession(record)
        self._remember(live)
        return live

    def _remember(self, live: LiveSession) -> None:
        self._cache[live.record.id] = live
        excess = len(self._cache) - self._cache_size
        if excess <= 0:
            return
        oldest = list(itertools.islice(self._cache.items(), excess + 16))
        for sid, old in oldest:
            if excess > 0 and not old.lock.locked():  # a busy record stays: its writer holds it
                del self._cache[sid]
                excess -= 1

    def session(self, live: LiveSession) -> Session:
        """A copy of the session to change or derive: its own lists, the last derivation's replay."""
        rec = live.record
        s = Session(rec.id, rec.inputs, engine=self.engine)
        s.notes = list(rec.notes)
        d = live.derived
        if d is not None and d.fits(rec):
            s.adopt(d.session)  # the inputs before a change are replayed once, not once per change
        return s

    def derived_of(self, live: LiveSession) -> Derived:
        """The session's report and its bytes, derived again only when the record changed."""
        d = live.derived
        if d is None or not d.fits(live.record):
            session = self.session(live)
            d = live.derived = derived(live.record, session, session.report())
        return d

    def report_of(self, live: LiveSession) -> Report:
        return self.derived_of(live).report

    def public(self, live: LiveSession) -> bytes:
        """The session as `SessionPublic` JSON (the report's bytes as derived once per change)."""
        return public_json(live.record, self.derived_of(live))

    # -- sessions -----------------------------------------------------------------------------------

    async def create(self, body: SessionCreate) -> bytes:
        if body.setup is not None and body.setup not in self.setups:
            raise NotFoundError(f"no setup named {body.setup!r} is registered on the server", field="setup")
        if body.history is not None and body.history not in self.histories:
            raise NotFoundError(
                f"no history named {body.history!r} is registered on the server", field="history"
            )
        stamp = ops.now()
        record = SessionRecord(new_id(), stamp, stamp, body.setup, body.history)
        live = LiveSession(record)
        d = self.derived_of(live)
        report = d.report
        await self._submit(
            [
                ops.insert_session(record),
                ops.touch_session(record.id, stamp, [f.id for f in report.findings], report.complete),
            ]
        )
        self._remember(live)
        return public_json(record, d)  # the record is as `d` was derived from it: no second check

    def summaries(self, limit: int) -> list[SessionSummary]:
        return self.store.list_sessions(limit)

    def get(self, session_id: str) -> bytes:
        """`SessionPublic` JSON."""
        return self.public(self.live(session_id))

    def report(self, session_id: str) -> bytes:
        """`Report` JSON: the bytes serialised when the session last changed."""
        return self.derived_of(self.live(session_id)).report_json

    def curves(self, session_id: str) -> SessionCurves:
        self.live(session_id)  # 404 for an unknown session
        body = self.store.load_curves(session_id)
        return SessionCurves.model_validate_json(body) if body else SessionCurves()

    async def save_curves(self, session_id: str, curves: SessionCurves) -> SessionCurves:
        async with self.locked(session_id):
            await self._submit([ops.save_curves(session_id, curves.model_dump_json())])
        return curves

    async def delete(self, session_id: str) -> None:
        live = self.live(session_id)
        async with live.lock:
            if live.deleted:
                raise NotFoundError(f"no session {session_id!r}", field="session_id")
            await self._submit([ops.delete_session(session_id)])
            live.deleted = True
            self._cache.pop(session_id, None)

    # -- answers ------------------------------------------------------------------------------------

    async def answer(
        self, session_id: str, question: str, value: str, note: str | None, *, change: bool
    ) -> bytes:
        async with self.locked(session_id) as live:
            session = self.session(live)
            if change and question not in session.current_answers():
                raise InputError(f"{question} has no answer to change; send an answer", field=question)
            session.answer(question, value, note=note, replace=change)
            return await self._commit(live, session)

    async def withdraw(self, session_id: str, question: str) -> bytes:
        async with self.locked(session_id) as live:
            session = self.session(live)
            session.withdraw(question)
            return await self._commit(live, session)

    async def undo(self, session_id: str) -> bytes:
        async with self.locked(session_id) as live:
            session = self.session(live)
            session.undo()
            return await self._commit(live, session)

    async def apply_history(
        self,
        session_id: str,
        name: str,
        timeout_s: float,
        *,
        classes: int | None = None,
        baseline: float | None = None,
    ) -> bytes:
        if name not in self.histories:
            raise NotFoundError(f"no history named {name!r} is registered on the server", field="history")
        self.live(session_id)  # 404 before any reading
        if importlib.util.find_spec("probes.history") is None:
            raise ServiceUnavailable("reading histories is not available in this installation")
        # in a child process with a memory cap, cached per file version (assistant/api/histories.py)
        facts = {k: v for k, v in (("classes", classes), ("baseline", baseline)) if v is not None}
        outcome = await self.history_reader.read(name, self.histories[name], timeout_s, facts)
        return await self.apply_outcomes(session_id, [outcome], AnswerSource.history)

    async def apply_outcomes(
        self,
        session_id: str,
        outcomes: Sequence[ProbeOutcome],
        source: AnswerSource,
        *,
        notes: Sequence[str] = (),
        extra: Sequence[ops.Op] = (),
    ) -> bytes:
        """Record measured answers (the user's own answers win) and persist them with `extra` writes."""
        async with self.locked(session_id) as live:
            session = self.session(live)
            for outcome in outcomes:
                apply_outcome(session, outcome, source)
            session.notes.extend(n for n in notes if n not in session.notes)
            return await self._commit(live, session, extra)

    async def add_points(
        self, session_id: str, points: Sequence[tuple[str, float, float | None]], alerts: Sequence[str] = ()
    ) -> int:
        """Store a watched run's curve points (and its alerts as notes); returns the points stored."""
        async with self.locked(session_id) as live:
            if live.points is None:
                live.points = self.store.count_points(session_id)
            if live.points + len(points) > MAX_POINTS:
                raise ConflictError(
                    f"session {session_id} holds {live.points} curve points, the most is {MAX_POINTS}; "
                    "log less often or start a new session"
                )
            extra = [ops.append_points(session_id, live.points, points)] if points else []
            if alerts:
                session = self.session(live)
                session.notes.extend(a for a in alerts if a not in session.notes)
                await self._commit(live, session, extra)
            elif extra:
                await self._submit(extra)
            live.points += len(points)
            return live.points

    def points(
        self, session_id: str, after: int, limit: int
    ) -> tuple[int, list[tuple[int, str, float, float | None]]]:
        """(total, rows from `after` on); 404 for an unknown session."""
        self.get(session_id)
        return self.store.count_points(session_id), self.store.load_points(session_id, after, limit)

    # -- plumbing -----------------------------------------------------------------------------------

    def locked(self, session_id: str) -> _SessionLock:
        return _SessionLock(self, session_id)

    async def _commit(self, live: LiveSession, session: Session, extra: Sequence[ops.Op] = ()) -> bytes:
        """Persist the session's change, then make it the record's and answer its `SessionPublic` JSON."""
        rec = live.record
        old, new = rec.inputs, session.inputs
        if len(new) > self._max_inputs:
            raise ConflictError(f"session {rec.id} is full ({self._max_inputs} inputs); start a new one")
        writes: list[ops.Op] = []
        if len(new) < len(old):  # undo: the only change that removes, and only from the end
            writes += [ops.delete_input(rec.id, seq) for seq in range(len(new), len(old))]
        elif len(new) > len(old):
            writes.append(ops.append_inputs(rec.id, len(old), new[len(old) :]))
        if len(session.notes) > len(rec.notes):
            writes.append(ops.append_notes(rec.id, len(rec.notes), session.notes[len(rec.notes) :]))
        report = session.report()
        stamp = ops.now()
        writes.append(ops.touch_session(rec.id, stamp, [f.id for f in report.findings], report.complete))
        await self._submit([*writes, *extra])
        rec.inputs, rec.notes, rec.updated_at = list(new), list(session.notes), stamp
        # serialised once, for this reply and every read until the next change
        d = live.derived = derived(rec, session, report)
        return public_json(rec, d)  # derived from the record as it is now: no check needed

    async def _submit(self, writes: list[ops.Op]) -> None:
        await self.store.submit_async(writes)


class _SessionLock:
    """`async with`: the session's lock, and a 404 if it was deleted while we waited."""

    def __init__(self, service: SessionService, session_id: str) -> None:
        self.service, self.session_id = service, session_id
        self.live: LiveSession | None = None

    async def __aenter__(self) -> LiveSession:
        live = self.service.live(self.session_id)
        await live.lock.acquire()
        if live.deleted:
            live.lock.release()
            raise NotFoundError(f"no session {self.session_id!r}", field="session_id")
        self.live = live
        return live

    async def __aexit__(self, *exc: Any) -> None:
        assert self.live is not None
        self.live.lock.release()
