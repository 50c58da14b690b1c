"""Server settings, read from `THREADLINE_*` environment variables and CLI flags.

This module imports nothing else of Threadline: what a setting means to a part (which model
file the embedded backend runs, say) is worked out in that part.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="ignore")

    # all: one process (the API, runs, upkeep); api: HTTP only; worker: runs, ingestion and
    # upkeep only. api and worker meet on Redis and PostgreSQL (docs/deployment.md).
    role: Literal["all", "api", "worker"] = "all"
    # Redis for the run queue, run events, cancels and leases; empty: in-process.
    redis_url: str = ""
    # Every Redis key of this deployment starts with it.
    redis_prefix: str = "threadline"
    # A worker holds a run under a lease this long, renewed while it executes; a run whose
    # worker died is taken over once its lease lapses.
    run_lease_seconds: float = 10.0
    # How long a run's events stay for re-attaching after its last one.
    run_events_retain_seconds: float = 3600.0
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".local/share/threadline")
    # Empty means SQLite in the data dir.
    database_url: str = ""
    # Where uploaded file bytes live; empty means `<data_dir>/files`.
    files_dir: Path | None = None
    insecure_no_auth: bool = False
    # JSON bodies: generous enough for 256k-character instructions and long threads.
    max_json_body_bytes: int = 32 * MiB
    # Uploads: the hosted API's per-file limit.
    max_upload_bytes: int = 512 * MiB
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # Log lines as readable text, or as JSON lines.
    log_format: Literal["text", "json"] = "text"
    # `GET /metrics` asks for this bearer token when set; open otherwise.
    metrics_token: str = ""

    # Model backends: a default OpenAI-compatible server, and a models file that maps
    # model names to backends (TOML or YAML, see threadline.backends.registry).
    llm_base_url: str = ""
    llm_api_key: str = ""
    models: Path | None = None
    llm_context_window: int = 16_384
    llm_read_timeout: float = 120.0
    # Backend faults: attempts per model call, and the first backoff delay (doubling).
    llm_max_attempts: int = 4
    llm_retry_base_delay: float = 0.5
    # The embedded model: the default backend when no LLM base URL is set.
    embedded: bool = True
    model_path: Path | None = None  # a GGUF file; empty means the packaged default
    embedded_context_window: int = 4096
    embedded_threads: int = 2
    # Embeddings (file_search): the embedded multilingual-e5-small unless a server is given.
    embeddings_base_url: str = ""
    embeddings_api_key: str = ""
    embeddings_model: str = "text-embedding-3-small"
    # code_interpreter sandboxes (see docs/security.md).
    code_wall_seconds: float = 60.0
    code_cpu_seconds: int = 600
    code_memory_mb: int = 2048  # address space of each process
    code_session_memory_mb: int = 2048  # all the processes of a session together
    code_processes: int = 256
    code_disk_mb: int = 512
    code_file_mb: int = 256
    code_output_mb: int = 64  # files and figures kept from one execution, in all
    # How the session memory cap is held: auto (cgroup v2 if the server can make one, else
    # a watchdog), off (the watchdog), or a cgroup v2 directory's path.
    code_cgroup: str = "auto"
    code_idle_seconds: float = 600.0
    max_concurrent_runs: int = 256
    # Built-in tools from outside Threadline: `package.module:Class`, comma-separated
    # (see threadline.tools.registry).
    tools: str = ""
    # What run reads tell the SDK's polling helpers to wait before reading again.
    poll_after_ms: int = 50

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'threadline.db'}"

    @property
    def resolved_files_dir(self) -> Path:
        return self.files_dir or self.data_dir / "files"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)

    def role_problem(self) -> str | None:
        """Why this role cannot start with these settings, in a line; None when it can."""
        sqlite = self.resolved_database_url.startswith("sqlite")
        if self.role != "all" and not self.redis_url:
            return (
                f"--role {self.role} needs --redis-url (THREADLINE_REDIS_URL): API processes "
                "and workers meet on Redis"
            )
        if self.redis_url and sqlite:
            return (
                "Redis mode needs PostgreSQL (--database-url postgresql+asyncpg://...): "
                "SQLite serves one process"
            )
        return None


def unknown_variable_problem(environ: Mapping[str, str]) -> str | None:
    """A `THREADLINE_*` variable that no setting reads (a misspelling would otherwise be
    ignored), with the closest known name; None when there is none."""
    prefix = Settings.model_config.get("env_prefix", "")
    known = {f"{prefix}{name}".upper() for name in Settings.model_fields}
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith(prefix.upper()) and upper not in known:
            close = difflib.get_close_matches(upper, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            return f"unknown setting {name}{hint}"
    return None


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
