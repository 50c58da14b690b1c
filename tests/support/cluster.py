"""Distributed mode as real processes: API replicas and workers on one PostgreSQL database
and one Redis (each cluster under a key prefix of its own), and a private Redis server
for the tests that stop it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.support.server import Server, free_port

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


@dataclass
class Cluster:
    database_url: str
    redis_url: str
    data_dir: Path
    env: dict[str, str]
    prefix: str = field(default_factory=lambda: f"tltest-{uuid.uuid4().hex[:10]}")
    apis: list[Server] = field(default_factory=list)
    workers: list[Server] = field(default_factory=list)

    def _server(self, role: str, index: int) -> Server:
        return Server(
            database_url=self.database_url,
            # One files directory for every process: file bytes are shared.
            data_dir=self.data_dir / f"{role}-{index}",
            extra_args=[
                "--role",
                role,
                "--redis-url",
                self.redis_url,
                "--files-dir",
                str(self.data_dir / "files"),
                "--log-level",
                "info",
            ],
            env={"THREADLINE_REDIS_PREFIX": self.prefix, **self.env},
        )

    def start(self, apis: int = 2, workers: int = 2) -> Cluster:
        self.apis = [self._server("api", i).start() for i in range(apis)]
        self.workers = [self._server("worker", i).start() for i in range(workers)]
        return self

    def add_worker(self) -> Server:
        worker = self._server("worker", len(self.workers)).start()
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for server in [*self.apis, *self.workers]:
            server.stop()
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(f"{self.prefix}:*"))
            if keys:
                client.delete(*keys)
        except redis.ConnectionError:
            pass
        finally:
            client.close()

    def health(self, worker: Server) -> dict:
        return httpx.get(worker.base_url.removesuffix("/v1") + "/healthz", timeout=5).json()

    def worker_holding(self, run_id: str, timeout: float = 30) -> Server:
        """The worker whose lease holds the run (its pid is in the lease's token)."""
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                holder = client.get(f"{self.prefix}:lease:{run_id}")
                if holder:
                    pid = int(holder.split("/")[0].split("-")[-2])
                    for worker in self.workers:
                        if worker.process and worker.process.pid == pid:
                            return worker
                time.sleep(0.05)
        finally:
            client.close()
        raise AssertionError(f"no worker holds run {run_id}")


def kill(server: Server) -> None:
    """kill -9: no shutdown, no goodbye."""
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


@dataclass
class PrivateRedis:
    """A Redis server of the test's own, which it may stop and start again."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
