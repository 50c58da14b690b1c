"""The memory budget of a whole session: all its processes together, not each one.

RLIMIT_AS bounds each process; a session that forks many processes could add them up to the
host's RAM. One of two holds the sum, chosen once per server (the log says which):

**cgroup v2** (`Limits.cgroup` "auto" finds one, or names a directory to use: sessions go in
`<it>/threadline-<server pid>/session-<n>`). Each
session gets a cgroup of its own: `memory.max` = the session budget plus what its tmpfs
mounts can hold (their pages are charged to the session too), `memory.swap.max` = 0,
`pids.max` = the process limit, `memory.oom.group` = 1. The session's first process joins it
before it execs bwrap, so everything the code starts is inside. The kernel holds the cap at
every allocation; past it, the OOM killer stops the whole session (oom.group), and
`memory.events` tells the server why the session ended. "auto" uses cgroup v2 when
/sys/fs/cgroup is a cgroup2 hierarchy, the server's own cgroup offers the memory and pids
controllers and the server may write there (root, or a delegated cgroup): sessions go in
`<own cgroup>/threadline-<server pid>/session-<n>`. When the controllers cannot be enabled
below the server's cgroup because the server sits in it (cgroup v2 lets a cgroup with
processes in it delegate no controllers), and the server is the only process there, it
moves itself into `<own cgroup>/threadline-server` first (as nsjail does). Anything else
(cgroup v1 or a hybrid without the v2 memory controller, a read-only /sys/fs/cgroup, other
processes beside the server) leaves the watchdog.

**The watchdog** (everywhere else). Every `WATCH_INTERVAL` seconds the server reads
/proc: each session's processes are the descendants of its bwrap process (its PID namespace
has no way out of that tree). When the sum of their resident memory (RSS) is over the
budget, their proportional set size (PSS plus swapped-out PSS, from smaps_rollup, which
counts pages shared between forked processes once) is summed; over the budget, the session
is killed (its bwrap, so its PID namespace) and the execution's output says why. What holds:
the session's processes cannot stay above the budget for more than one interval; within an
interval they can go over it by what they allocate in that time, and each process is still
bounded by RLIMIT_AS. The tmpfs mounts are not counted (they are bounded by their size).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("threadline.code_interpreter")

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")
WATCH_INTERVAL = 0.2
CONTROLLERS = ("memory", "pids")
PAGE = os.sysconf("SC_PAGE_SIZE")


class CgroupUnavailable(Exception):
    pass


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _own_cgroup(root: Path, proc_self_cgroup: Path) -> Path:
    for line in _read(proc_self_cgroup).splitlines():
        if line.startswith("0::"):
            return root / line[3:].strip().lstrip("/")
    raise CgroupUnavailable("the server is in no cgroup v2 group")


def _delegates(group: Path) -> bool:
    return set(CONTROLLERS) <= set(_read(group / "cgroup.subtree_control").split())


def _enable(group: Path) -> None:
    if not _delegates(group):
        _write(group / "cgroup.subtree_control", " ".join(f"+{c}" for c in CONTROLLERS))


def _remove_stale(own: Path) -> None:
    """Session parents of servers that are gone (a crash leaves them), when empty."""
    for entry in own.glob("threadline-[0-9]*"):
        pid = entry.name.removeprefix("threadline-")
        if pid.isdigit() and not (PROC / pid).exists():
            for child in entry.glob("session-*"):
                with contextlib.suppress(OSError):
                    child.rmdir()
            with contextlib.suppress(OSError):
                entry.rmdir()


def cgroup_parent(
    setting: str,
    root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = PROC / "self/cgroup",
) -> Path:
    """The cgroup v2 directory that sessions' cgroups are made in; CgroupUnavailable (with
    the reason) where there is none to use."""
    if setting == "off":
        raise CgroupUnavailable("turned off (code_cgroup = off)")
    if not (root / "cgroup.controllers").exists():
        raise CgroupUnavailable(f"{root} is not a cgroup v2 hierarchy")
    try:
        if setting != "auto":
            base = Path(setting)
            base.mkdir(exist_ok=True)
            _enable(base)
        else:
            base = _delegating_own_cgroup(root, proc_self_cgroup)
        _remove_stale(base)
        parent = base / f"threadline-{os.getpid()}"
        parent.mkdir(exist_ok=True)
        _enable(parent)
        return parent
    except OSError as error:
        raise CgroupUnavailable(f"{error.strerror}: {error.filename}") from None


def _delegating_own_cgroup(root: Path, proc_self_cgroup: Path) -> Path:
    """The server's own cgroup, made to delegate the memory and pids controllers."""
    own = _own_cgroup(root, proc_self_cgroup)
    missing = set(CONTROLLERS) - set(_read(own / "cgroup.controllers").split())
    if missing:
        raise CgroupUnavailable(
            f"the {' and '.join(sorted(missing))} controller is not available in {own}"
        )
    if not os.access(own / "cgroup.subtree_control", os.W_OK):
        raise CgroupUnavailable(f"{own} is not writable by the server")
    try:
        _enable(own)
    except OSError as error:
        if error.errno != errno.EBUSY:
            raise
        # Processes are in `own`: it may delegate nothing while they are. Only when the
        # server is alone there may it move itself aside.
        procs = _read(own / "cgroup.procs").split()
        if procs != [str(os.getpid())]:
            raise CgroupUnavailable(
                f"{own} holds other processes than the server, so it cannot delegate "
                "the memory controller"
            ) from None
        leaf = own / "threadline-server"
        leaf.mkdir(exist_ok=True)
        _write(leaf / "cgroup.procs", str(os.getpid()))
        _enable(own)
    return own


def make_session_cgroup(parent: Path, name: str, memory_bytes: int, processes: int) -> Path:
    group = parent / name
    group.mkdir()
    try:
        _write(group / "memory.max", str(memory_bytes))
        if (group / "memory.swap.max").exists():
            _write(group / "memory.swap.max", "0")
        _write(group / "pids.max", str(processes))
        if (group / "memory.oom.group").exists():
            _write(group / "memory.oom.group", "1")
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        raise
    return group


def joiner(group: Path) -> Callable[[], None]:
    """What the session's first process does before it execs: join its cgroup."""
    procs = str(group / "cgroup.procs")

    def join() -> None:
        fd = os.open(procs, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    return join


def oom_killed(group: Path) -> bool:
    """Whether the kernel stopped processes of the cgroup for its memory limit."""
    try:
        events = dict(line.split() for line in _read(group / "memory.events").splitlines())
    except (OSError, ValueError):
        return False
    return int(events.get("oom_kill", 0)) > 0 or int(events.get("oom_group_kill", 0)) > 0


def remove_cgroup(group: Path, wait: float = 2.0) -> None:
    """Kill what is left in the cgroup and remove it (blocking: run it in a thread)."""
    kill = group / "cgroup.kill"
    if kill.exists():
        with contextlib.suppress(OSError):
            _write(kill, "1")
    deadline = time.monotonic() + wait
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() > deadline:
                log.warning("could not remove the session cgroup %s: %s", group, error)
                return
            time.sleep(0.02)


# The watchdog.


def processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident bytes) of every process on the host."""
    found = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{PROC}/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after it.
        fields = stat[stat.rfind(b")") + 2 :].split()
        with contextlib.suppress(IndexError, ValueError):
            found[int(entry.name)] = (int(fields[1]), int(fields[21]) * PAGE)
    return found


def tree(root: int, table: dict[int, tuple[int, int]]) -> list[int]:
    """`root` and its descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(pid)
            todo += children.get(pid, [])
    return found


def proportional(pids: Iterable[int]) -> int | None:
    """The summed PSS + SwapPss of `pids`, in bytes; None where the kernel does not say."""
    total = 0
    for pid in pids:
        try:
            text = _read(PROC / str(pid) / "smaps_rollup")
        except FileNotFoundError:
            continue  # it ended
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(("Pss:", "SwapPss:")):
                total += int(line.split()[1]) * 1024
    return total


def over_budget(roots: dict[str, int], budget: int) -> dict[str, int]:
    """Of sessions (key -> their first process), those whose processes use more than
    `budget` bytes together, with what they use (blocking: run it in a thread)."""
    table = processes()
    over = {}
    for key, root in roots.items():
        pids = tree(root, table)
        resident = sum(table[pid][1] for pid in pids)
        if resident <= budget:
            continue
        used = proportional(pids)
        used = resident if used is None else used
        if used > budget:
            over[key] = used
    return over


async def watch(
    sessions: Callable[[], dict[str, int]],
    stop: Callable[[str, int], object],
    budget: int,
    interval: float = WATCH_INTERVAL,
) -> None:
    """Forever: stop the sessions over `budget` (`stop(key, bytes used)`)."""
    while True:
        await asyncio.sleep(interval)
        roots = sessions()
        if not roots:
            continue
        try:
            over = await asyncio.to_thread(over_budget, roots, budget)
        except Exception:
            log.exception("the session memory watchdog failed to read /proc")
            continue
        for key, used in over.items():
            result = stop(key, used)
            if asyncio.iscoroutine(result):
                await result
