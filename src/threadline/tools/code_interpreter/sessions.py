"""Stateful Python sessions, one per thread, each a sandboxed process.

A session keeps its variables and files across runs of its thread until it has been idle
for a while (then it is reaped), until code kills it, or until a run times out or is
cancelled in the middle of executing (then it is killed, and the next run starts afresh),
until its processes together pass the session's memory budget (`budget.py`: a cgroup or a
watchdog stops it), or until it sends a reply the server will not read (too long, or not
what a reply is). One execution at a time per session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline import metrics
from threadline.tools.code_interpreter import budget
from threadline.tools.code_interpreter.sandbox import (
    FIRST_UID,
    UIDS,
    Limits,
    MiB,
    command,
    limiter,
)

log = logging.getLogger("threadline.code_interpreter")

KERNEL = (Path(__file__).parent / "kernel.py").read_text()


class SessionLost(Exception):
    """The session's process ended or can no longer be trusted to answer in step: killed for
    a limit, a timeout, a cancel, by the code, or for a reply the server would not read.
    The message says why, in a sentence for the model."""


ENDED = "The Python session ended (a resource limit was reached or the code stopped it)."


@dataclass
class Result:
    logs: str
    error: bool
    images: list[bytes]
    # name, bytes or None (not returned), why not ("file": over the per-file limit;
    # "budget": over what one execution may return)
    files: list[tuple[str, bytes | None, str]]
    omitted: int = 0  # files changed but not even listed


@dataclass
class Session:
    process: asyncio.subprocess.Process
    limits: Limits
    cgroup: Path | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)
    files: dict[str, str] = field(default_factory=dict)  # file id -> its name in /mnt/data
    stopped: str | None = None  # why the server stopped it, for the model

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def why_ended(self) -> str:
        if self.stopped is not None:
            return self.stopped
        if self.cgroup is not None and budget.oom_killed(self.cgroup):
            return self.memory_message()
        return ENDED

    def memory_message(self) -> str:
        cap = self.limits.session_memory_bytes // MiB
        return (
            f"The Python session was stopped: its processes used more than {cap} MiB of "
            "memory in all (the limit of a session)."
        )

    async def _send(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise SessionLost(self.why_ended()) from None
        try:
            line = await self.process.stdout.readline()
        except ValueError:
            # Past the read limit: what is left of the line would be read as the next reply.
            limit = self.limits.reply_bytes / MiB
            raise SessionLost(
                f"The execution's reply to the server was larger than {limit:.0f} MiB, the "
                "most it reads, so its output was dropped and the session stopped."
            ) from None
        if not line:
            await self._ended()
            raise SessionLost(self.why_ended())
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise SessionLost(_UNREADABLE)
        return reply

    async def _ended(self) -> None:
        """Wait a moment for the process's end to be seen (why it ended may depend on it)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), timeout=2)

    async def put(self, name: str, data: bytes) -> str | None:
        """Put a file in /mnt/data; the reason when it could not be written."""
        reply = await self._send(
            {"op": "put", "name": name, "data": base64.b64encode(data).decode()}
        )
        if reply.get("ok") is True:
            return None
        return str(reply.get("error") or "it could not be written")

    async def run(self, code: str, limits: Limits) -> Result:
        reply = await asyncio.wait_for(
            self._send(
                {
                    "op": "run",
                    "code": code,
                    "max_file_bytes": limits.output_file_bytes,
                    "max_output_bytes": limits.output_bytes,
                }
            ),
            timeout=limits.wall_seconds,
        )
        try:
            return Result(
                logs=str(reply["logs"]),
                error=bool(reply["error"]),
                images=[base64.b64decode(image, validate=True) for image in reply["images"]],
                files=[
                    (
                        str(item["name"]),
                        base64.b64decode(item["data"], validate=True) if item["data"] else None,
                        str(item.get("reason") or "file"),
                    )
                    for item in reply["files"]
                ],
                omitted=int(reply.get("omitted") or 0),
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise SessionLost(_UNREADABLE) from None

    async def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(Exception):
            await self.process.wait()
        if self.cgroup is not None:
            await asyncio.to_thread(budget.remove_cgroup, self.cgroup)


_UNREADABLE = "The Python session sent the server a reply it could not read, so it was stopped."


class Sessions:
    def __init__(self, limits: Limits, idle_seconds: float = 600.0) -> None:
        self.limits = limits
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._started = 0
        self._cgroups: Path | None = None
        self.budget_mode: str | None = None  # "cgroup" or "watchdog", once chosen

    def _choose_budget(self) -> None:
        cap = self.limits.session_memory_bytes // MiB
        try:
            self._cgroups = budget.cgroup_parent(self.limits.cgroup)
        except budget.CgroupUnavailable as why:
            self.budget_mode = "watchdog"
            log.info(
                "code_interpreter: a session's processes may use %d MiB in all, held by a "
                "watchdog (no cgroup v2 to use: %s)",
                cap,
                why,
            )
            return
        self.budget_mode = "cgroup"
        log.info(
            "code_interpreter: a session's processes may use %d MiB in all, held by "
            "cgroup v2 under %s",
            cap,
            self._cgroups,
        )

    async def _start(self) -> Session:
        if self.budget_mode is None:
            self._choose_budget()
        number = self._started
        uid = FIRST_UID + number % UIDS
        self._started += 1
        group = None
        prepare = limiter(self.limits)
        if self._cgroups is not None:
            group = budget.make_session_cgroup(
                self._cgroups,
                f"session-{number}",
                self.limits.session_memory_bytes + self.limits.tmpfs_bytes,
                self.limits.processes,
            )
            join, limit = budget.joiner(group), prepare

            def prepare() -> None:
                join()
                limit()

        try:
            process = await asyncio.create_subprocess_exec(
                *command(self.limits, KERNEL, uid),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                preexec_fn=prepare,
                limit=self.limits.reply_bytes,
            )
        except BaseException:
            if group is not None:
                await asyncio.to_thread(budget.remove_cgroup, group)
            raise
        session = Session(process, self.limits, group)
        assert process.stdout is not None
        try:
            ready = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        except BaseException:
            await session.kill()
            raise
        if not ready:
            await session.kill()
            raise SessionLost("the sandbox did not start")
        return session

    async def get(self, key: str) -> Session:
        """The live session of `key` (a thread), started if there is none."""
        session = self._sessions.get(key)
        if session is None or not session.alive:
            if session is not None:
                await session.kill()  # its cgroup
            session = self._sessions[key] = await self._start()
            metrics.SANDBOX_SESSIONS.set(len(self._sessions))
            log.info("code_interpreter: started a session for %s", key)
        session.last_used = time.monotonic()
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever())
        if self._watchdog is None and self.budget_mode == "watchdog":
            self._watchdog = asyncio.create_task(
                budget.watch(self._roots, self._over_budget, self.limits.session_memory_bytes)
            )
        return session

    def _roots(self) -> dict[str, int]:
        return {key: s.process.pid for key, s in self._sessions.items() if s.alive}

    async def _over_budget(self, key: str, used: int) -> None:
        session = self._sessions.get(key)
        if session is None or not session.alive:
            return
        log.info(
            "code_interpreter: stopped the session of %s, whose processes used %d MiB",
            key,
            used // MiB,
        )
        session.stopped = session.memory_message()
        with contextlib.suppress(ProcessLookupError):
            session.process.kill()

    async def discard(self, key: str) -> None:
        session = self._sessions.pop(key, None)
        metrics.SANDBOX_SESSIONS.set(len(self._sessions))
        if session is not None:
            log.info("code_interpreter: ended the session of %s", key)
            await session.kill()

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, self.idle_seconds))
            now = time.monotonic()
            for key, session in list(self._sessions.items()):
                idle = now - session.last_used > self.idle_seconds
                if not session.alive or (idle and not session.lock.locked()):
                    await self.discard(key)

    async def aclose(self) -> None:
        for task in (self._reaper, self._watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for key in list(self._sessions):
            await self.discard(key)
