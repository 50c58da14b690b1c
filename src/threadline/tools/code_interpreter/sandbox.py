"""The sandbox a code session runs in: bubblewrap namespaces, an unprivileged user, limits.

What the code sees: the Python installation and its packages, read-only; `/usr`, read-only;
a private `/proc` and `/dev`; a small `/tmp`; `/mnt/data`, a tmpfs of bounded size where its
files are put and where it writes. Nothing else of the host: not the server's data directory,
database, source or configuration, no environment variables, no network (an empty network
namespace), no other processes (its own PID namespace), and it runs as `nobody` with no
capabilities. Resource limits (rlimits) bound its CPU time, address space, processes, file
sizes and open files; the memory of all its processes together is capped by a cgroup or a
watchdog (`budget.py`); the server bounds wall time per run and kills the session on timeout
or cancel. See docs/security.md.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
# Sessions run as users of their own, numbered from here (no account needs to exist).
FIRST_UID = 200_000
UIDS = 50_000
MiB = 1024 * 1024
TMP_BYTES = 64 * MiB  # the sandbox's /tmp


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60.0
    cpu_seconds: int = 600  # the whole session's CPU time
    memory_bytes: int = 2048 * MiB  # address space of each process
    processes: int = 256  # for the unprivileged user all sessions share
    disk_bytes: int = 512 * MiB  # /mnt/data
    file_bytes: int = 256 * MiB  # any one file written
    open_files: int = 256
    output_file_bytes: int = 50 * MiB  # files larger than this are not returned
    session_memory_bytes: int = 2048 * MiB  # all the session's processes together
    output_bytes: int = 64 * MiB  # files and figures kept from one execution, in all
    # How the session's memory is capped: "auto" (a cgroup v2 where the server can make one,
    # else a watchdog), "off" (the watchdog), or the path of a cgroup v2 directory to use.
    cgroup: str = "auto"

    @property
    def tmpfs_bytes(self) -> int:
        """What the session's tmpfs mounts (/mnt/data and /tmp) can hold."""
        return self.disk_bytes + TMP_BYTES

    @property
    def reply_bytes(self) -> int:
        """The longest reply line the server reads from a session: the outputs an execution
        may return (base64), plus room for its logs and the names of files not returned."""
        return self.output_bytes * 4 // 3 + 8 * MiB


UNAVAILABLE = (
    "code_interpreter needs bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and it "
    "is not installed on this server; without it Threadline does not run code at all."
)


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _python_paths() -> tuple[Path, Path]:
    """The interpreter to run and the installation it needs (its prefix and the venv)."""
    return Path(sys.executable), Path(sys.base_prefix)


def _ancestors(path: Path) -> list[Path]:
    return [parent for parent in reversed(path.parents) if parent != Path("/")]


def command(limits: Limits, program: str, uid: int = NOBODY) -> list[str]:
    """The argv that runs `program` (Python source) sandboxed, as `uid` when the server
    runs as root (each session gets its own, so process limits count per session)."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(UNAVAILABLE)
    python, base = _python_paths()
    venv = Path(sys.prefix)
    # As root, bwrap makes the namespaces itself and setpriv then drops to `nobody`. As any
    # other user it needs a user namespace, and the code keeps that user's (unprivileged)
    # identity.
    privileged = os.geteuid() == 0
    args = [
        bwrap,
        *([] if privileged else ["--unshare-user"]),
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(TMP_BYTES),
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
    ]
    # Parents made by bwrap are private to root; the sandbox user must walk through them.
    made: set[Path] = {Path("/usr"), Path("/tmp"), Path("/proc"), Path("/dev")}
    # What shows the host's files: a Python under /tmp (a fresh tmpfs here) is bound too.
    bound: set[Path] = {Path("/usr")}
    for target in (base, venv):
        if any(target == b or b in target.parents for b in bound):
            continue
        for parent in _ancestors(target):
            if parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(target), str(target)]
        made.add(target)
        bound.add(target)
    args += [
        "--perms",
        "0755",
        "--dir",
        "/mnt",
        "--size",
        str(limits.disk_bytes),
        "--perms",
        "0777",
        "--tmpfs",
        "/mnt/data",
        "--chdir",
        "/mnt/data",
        "--clearenv",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "MPLBACKEND",
        "Agg",
        "--setenv",
        "MPLCONFIGDIR",
        "/tmp/matplotlib",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        # One math thread per library: threads count against the process limit.
        "--setenv",
        "OPENBLAS_NUM_THREADS",
        "1",
        "--setenv",
        "OMP_NUM_THREADS",
        "1",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--",
    ]
    if privileged:
        args += [
            "/usr/bin/setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    return [*args, str(python), "-c", program]


def limiter(limits: Limits) -> Callable[[], None]:
    """What the child does before it becomes bwrap: set the limits it and its code inherit."""

    def apply() -> None:
        os.nice(5)  # sessions yield to the server
        for kind, value in (
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_NPROC, limits.processes),
            (resource.RLIMIT_FSIZE, limits.file_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(kind, (value, value))

    return apply
