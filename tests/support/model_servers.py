"""Real OpenAI-compatible model servers in subprocesses, on the packaged model's GGUF: what
Threadline meets in the field, for the tests and the benchmarks.

- llama.cpp's own server (`llama-server`), here through xllamacpp (the embedded runtime's
  package, which carries it prebuilt);
- llama-cpp-python's server (`python -m llama_cpp.server`), from the interpreter that
  `make test` builds it into (`.venv-llama-cpp-server`: it compiles llama.cpp, so it is
  kept apart from Threadline's own environment), or `TEST_LLAMA_CPP_PYTHON`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]

# The function the flows against real servers offer.
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

LLAMA_SERVER = """
import sys, time, xllamacpp
p = xllamacpp.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 4096
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 2
p.hostnames = ["127.0.0.1"]
p.port = int(sys.argv[2])
p.verbosity = -1
server = xllamacpp.Server(p)
print("listening", flush=True)
while True:
    time.sleep(3600)
"""


def llama_cpp_python() -> Path:
    """The interpreter that has `llama-cpp-python[server]`."""
    named = os.environ.get("TEST_LLAMA_CPP_PYTHON")
    python = Path(named) if named else ROOT / ".venv-llama-cpp-server/bin/python"
    if not python.exists():
        raise RuntimeError(
            f"{python} is missing: `make test` builds llama-cpp-python's server there "
            "(or set TEST_LLAMA_CPP_PYTHON to a Python that has llama-cpp-python[server])"
        )
    return python


@dataclass
class ModelServer:
    """One model server on a fixed port, so that it can be killed and started again where
    Threadline expects it."""

    name: str
    model: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        if self.name == "llama.cpp":
            return [sys.executable, "-c", LLAMA_SERVER, str(self.model), str(self.port)]
        if self.name == "llama-cpp-python":
            return [
                str(llama_cpp_python()), "-m", "llama_cpp.server", "--model", str(self.model),
                "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096",
                "--n_threads", "2",
            ]  # fmt: skip
        raise ValueError(f"no such model server: {self.name}")

    def start(self, timeout: float = 120) -> ModelServer:
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited {self.process.returncode}")
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} server did not answer in {timeout} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        """Killed outright (a crash, an OOM kill) and started again on the same port."""
        self.stop(signal.SIGKILL)
        self.start()


@contextlib.contextmanager
def running(name: str, model: Path):
    server = ModelServer(name, model).start()
    try:
        yield server
    finally:
        server.stop()
