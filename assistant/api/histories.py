"""Registered histories, read for the service: in a child process, with a memory cap, cached per file
version.

Why a child: parsing a history is the one thing the server does whose memory follows the user's data.
Three concurrent requests for a 107 MB history took the server from 60 MiB to 4.6 GiB, and 1.1 GiB
stayed after they finished (the allocator keeps what it once held). In a child, the memory is the
child's, capped by RLIMIT_AS (`history_memory_mb`), and given back to the system when it exits; a read
that runs past its time is killed. One read runs at a time; requests for the same file version share
it, and the answer is kept (`history_cache` entries) under the file's path, size and modification
time, so a re-registered or rewritten file is read again and an unchanged one never is.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from assistant.errors import InputError, ServiceUnavailable
from probes.base import ProbeOutcome
from traindoc.errors import HistoryTooLarge as HistoryTooLarge  # its home is the one error tree

Key = tuple[str, tuple[tuple[str, int, int], ...]]
MAX_ENTRIES_IN_KEY = 2000  # a directory history (tfevents, checkpoints) is keyed by its files' stats


class HistoryReader:
    def __init__(self, *, max_bytes: int, memory_mb: int, cache_size: int) -> None:
        self.max_bytes = max_bytes
        self.memory_mb = memory_mb
        self.cache_size = cache_size
        self._cache: OrderedDict[Key, ProbeOutcome] = OrderedDict()
        self._inflight: dict[Key, asyncio.Future[ProbeOutcome]] = {}
        self._one_at_a_time = asyncio.Lock()
        self.reads = 0  # children started (tests and the benchmark read it)

    async def read(
        self, name: str, spec: str, timeout_s: float, facts: dict[str, float] | None = None
    ) -> ProbeOutcome:
        """`facts`: what the user told about the run (classes, baseline), passed to the reader."""
        facts = facts or {}
        key = version_key(spec)
        if key is not None and facts:  # another answer for the same file: cached apart
            key = (f"{key[0]} {sorted(facts.items())}", key[1])
        if key is not None:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            pending = self._inflight.get(key)
            if pending is not None:
                return await asyncio.shield(pending)
        future: asyncio.Future[ProbeOutcome] = asyncio.get_running_loop().create_future()
        if key is not None:
            self._inflight[key] = future
        try:
            async with self._one_at_a_time:
                outcome = await asyncio.to_thread(self._read_in_child, name, spec, timeout_s, facts)
            future.set_result(outcome)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: sharers re-raise it, nobody else needs to
            raise
        finally:
            if key is not None:
                self._inflight.pop(key, None)
        if key is not None and self.cache_size:
            self._cache[key] = outcome
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return outcome

    def _read_in_child(
        self, name: str, spec: str, timeout_s: float, facts: dict[str, float] | None = None
    ) -> ProbeOutcome:
        self.reads += 1
        context = multiprocessing.get_context("spawn")  # never fork a threaded server
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(
            target=_child_main,
            args=(sender, spec, self.max_bytes, self.memory_mb, facts or {}),
            name=f"traindoc-history-{name}",
            daemon=True,
        )
        child.start()
        sender.close()
        try:
            if not receiver.poll(timeout_s):
                raise ServiceUnavailable(f"reading history {name!r} took longer than {timeout_s:g} s")
            try:
                kind, payload, field = receiver.recv()
            except EOFError:  # died without a word: the kernel killed it, or it crashed in C
                raise InputError(
                    f"history {name!r} could not be read: the reader stopped (out of memory?)",
                    field="history",
                ) from None
        finally:
            receiver.close()
            if child.is_alive():
                child.kill()
            child.join(5)
        if kind == "ok":
            return ProbeOutcome.model_validate_json(payload)
        if kind == "too_large":
            raise HistoryTooLarge(f"history {name!r}: {payload}", field="history")
        raise InputError(f"history {name!r}: {payload}", field=field or "history")


def version_key(spec: str) -> Key | None:
    """The file version: path, size and modification time of the file or of every file under the
    folder. None for what cannot be versioned (an MLflow server): read every time."""
    if "://" in spec:
        return None
    path = Path(spec)
    try:
        if path.is_file():
            st = path.stat()
            return spec, ((spec, st.st_size, st.st_mtime_ns),)
        entries = []
        for root, _, files in os.walk(path):
            for file in files:
                full = os.path.join(root, file)
                st = os.stat(full)
                entries.append((full, st.st_size, st.st_mtime_ns))
                if len(entries) > MAX_ENTRIES_IN_KEY:
                    return None
        return spec, tuple(sorted(entries))
    except OSError:
        return None


def _child_main(
    sender: Any, spec: str, max_bytes: int, memory_mb: int, facts: dict[str, float] | None = None
) -> None:
    """The reader: one history, then exit. Its address space is capped before anything is read."""
    with contextlib.suppress(Exception):
        from assistant.jobs.worker import die_with_parent

        die_with_parent()
    try:  # the readers' code is loaded before the cap: the cap is for the data
        import probes.history  # noqa: F401
    except ImportError as exc:
        sender.send(("error", f"reading histories is not available here ({exc.name})", None))
        os._exit(0)
    try:
        import resource

        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
        limit = pages * os.sysconf("SC_PAGE_SIZE") + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: uncapped, still in its own process
    try:
        message = _read(spec, max_bytes, facts or {})
    except MemoryError:
        message = (
            "too_large",
            "reading it needs more memory than the service allows (history_memory_mb)",
            None,
        )
    except BaseException as exc:  # never a traceback: one line back to the server
        message = ("error", f"could not be read ({type(exc).__name__})", None)
    with contextlib.suppress(Exception):
        sender.send(message)
    os._exit(0)


def _read(spec: str, max_bytes: int, facts: dict[str, float] | None = None) -> tuple[str, str, str | None]:
    from probes.base import ProbeError
    from probes.history import history_outcome

    if "://" not in spec and Path(spec).is_file() and Path(spec).stat().st_size > max_bytes:
        size = Path(spec).stat().st_size
        return "too_large", f"the file has {size} bytes, more than the service reads ({max_bytes})", None
    try:
        outcome = history_outcome(spec, limit=max_bytes, **(facts or {}))
    except ProbeError as exc:
        return "error", exc.message, None
    return "ok", outcome.model_dump_json(), None
