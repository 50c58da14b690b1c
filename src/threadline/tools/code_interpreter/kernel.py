"""The Python session inside the sandbox: reads requests, runs code, reports results.

This file runs in the sandboxed interpreter (passed with `-c`), not in the server: it may
use only the standard library, plus matplotlib when the code has imported it. Requests and
replies are JSON lines on the original stdout; the code's own stdout and stderr (also what
C libraries and child processes write) go to a capture file, read back after each run.

Requests:
  {"op": "put", "name": "data.csv", "data": "<base64>"}       a file into /mnt/data
  {"op": "run", "code": "...", "max_file_bytes": N, "max_output_bytes": M}
                                                              run code, report the output
Replies:
  {"ok": true} or {"ok": false, "error": "why"}
  {"logs": "...", "error": bool, "images": ["<base64 png>"],
   "files": [{"name", "data", "size", "reason"}], "omitted": K}
A file over N bytes, or over what is left of the M bytes that the figures and files of one
execution may total (figures first, then files by name), is listed with data null and the
reason ("file" or "budget"); past MAX_LISTED files, the rest are only counted (omitted).

The server does not trust these replies (the code can write to this process's descriptors):
it bounds what it reads and checks what it keeps.
"""

import ast
import base64
import contextlib
import json
import os
import sys
import traceback

DATA = "/mnt/data"
CAPTURE = "/tmp/.session-output"
MAX_LOG_CHARS = 20_000
MAX_LISTED = 100

# An empty fontconfig setup: the sandbox has no /etc/fonts/fonts.conf to complain about.
with open("/tmp/fonts.conf", "w") as handle:
    handle.write("<?xml version='1.0'?><fontconfig></fontconfig>")
os.environ["FONTCONFIG_FILE"] = "/tmp/fonts.conf"

replies = os.fdopen(os.dup(1), "w", buffering=1)
requests = os.fdopen(os.dup(0), "r")
capture = open(CAPTURE, "w+b", buffering=0)  # noqa: SIM115 - lives as long as the session
os.dup2(capture.fileno(), 1)
os.dup2(capture.fileno(), 2)
devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(devnull, 0)
sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
sys.stdin = os.fdopen(0, "r", closefd=False)

namespace = {"__name__": "__main__", "__builtins__": __builtins__}
SESSION_PID = os.getpid()
known = {}  # name -> (size, mtime) of files as last reported or put


def scan():
    found = {}
    for root, _, names in os.walk(DATA):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, DATA)
            if relative.startswith(".") or "/." in relative:
                continue
            try:
                stat = os.stat(path)
            except OSError:
                continue
            found[relative] = (stat.st_size, stat.st_mtime_ns)
    return found


def run(code):
    tree = ast.parse(code, "<code>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<code>", "exec"), namespace)
    if last is not None:
        value = eval(compile(last, "<code>", "eval"), namespace)
        if value is not None:
            print(repr(value))


def figures():
    """PNG bytes of each open figure (then closed)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    images = []
    import io

    for number in plt.get_fignums():
        buffer = io.BytesIO()
        plt.figure(number).savefig(buffer, format="png", bbox_inches="tight")
        images.append(buffer.getvalue())
    plt.close("all")
    return images


class Outputs:
    """What one execution returns, within its byte budget."""

    def __init__(self, max_file, budget):
        self.max_file = max_file
        self.left = budget
        self.images = []
        self.files = []
        self.omitted = 0

    def figure(self, png):
        if len(png) > self.left:
            self.listed({"name": f"figure-{len(self.images) + 1}.png", "data": None,
                         "size": len(png), "reason": "budget"})  # fmt: skip
            return
        self.left -= len(png)
        self.images.append(base64.b64encode(png).decode())

    def file(self, name, size):
        reason = "file" if size > self.max_file else "budget" if size > self.left else None
        data = None
        if reason is None:
            try:
                with open(os.path.join(DATA, name), "rb") as handle:
                    data = handle.read(self.left + 1)  # it may have grown since
            except OSError:
                return
            if len(data) > self.left:
                reason, size, data = "budget", max(size, len(data)), None
        if data is None:
            self.listed({"name": name, "data": None, "size": size, "reason": reason})
            return
        self.left -= len(data)
        self.listed({"name": name, "data": base64.b64encode(data).decode()})

    def listed(self, item):
        if len(self.files) < MAX_LISTED:
            self.files.append(item)
        else:
            self.omitted += 1


def new_files(outputs):
    for name, state in sorted(scan().items()):
        if known.get(name) == state:
            continue
        known[name] = state
        outputs.file(name, state[0])


def end_children():
    """Processes the code started do not outlive its run: stop them, then reap them.
    (Signal -1 reaches every process of this sandbox's user in its PID namespace except
    init and the caller.)"""
    import signal

    with contextlib.suppress(OSError):
        os.kill(-1, signal.SIGKILL)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def reply(message):
    replies.write(json.dumps(message) + "\n")


def put(name, data):
    """A file into /mnt/data, under a plain name (the server makes names safe; this checks)."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\0" in name
        or len(name.encode("utf-8", "surrogateescape")) > 255
    ):
        return {"ok": False, "error": "not a plain file name"}
    path = os.path.join(DATA, name)
    try:
        content = base64.b64decode(data)
        with open(path, "wb") as handle:
            handle.write(content)
        stat = os.stat(path)
    except (OSError, ValueError) as error:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return {"ok": False, "error": getattr(error, "strerror", None) or str(error)}
    known[name] = (stat.st_size, stat.st_mtime_ns)
    return {"ok": True}


known.update(scan())
reply({"ok": True})
for line in requests:
    request = json.loads(line)
    if request["op"] == "put":
        reply(put(request.get("name"), request.get("data") or ""))
        continue
    capture.seek(0)
    capture.truncate()
    error = False
    try:
        run(request["code"])
    except SystemExit:
        pass
    except BaseException:
        if os.getpid() != SESSION_PID:
            os._exit(1)
        error = True
        kind, value, tb = sys.exc_info()
        # Hide the session's own frames: show the code's.
        while tb is not None and tb.tb_frame.f_code.co_filename != "<code>":
            tb = tb.tb_next
        traceback.print_exception(kind, value, tb)
    if os.getpid() != SESSION_PID:
        os._exit(0)  # a process the code forked: only the session answers
    end_children()
    sys.stdout.flush()
    sys.stderr.flush()
    outputs = Outputs(
        request.get("max_file_bytes", 50 * 1024 * 1024),
        request.get("max_output_bytes", 64 * 1024 * 1024),
    )
    try:
        for png in figures():
            outputs.figure(png)
    except Exception:
        traceback.print_exc()
    new_files(outputs)
    # The capture can be as large as /tmp: read only what is shown.
    size = os.fstat(capture.fileno()).st_size
    capture.seek(0)
    if size > 4 * MAX_LOG_CHARS:
        head = capture.read(2 * MAX_LOG_CHARS)
        capture.seek(size - 2 * MAX_LOG_CHARS)
        raw = head + b"\n...\n" + capture.read()
    else:
        raw = capture.read()
    logs = raw.decode("utf-8", "replace")
    if len(logs) > MAX_LOG_CHARS:
        logs = logs[: MAX_LOG_CHARS // 2] + "\n...\n" + logs[-MAX_LOG_CHARS // 2 :]
    reply(
        {
            "logs": logs,
            "error": error,
            "images": outputs.images,
            "files": outputs.files,
            "omitted": outputs.omitted,
        }
    )
