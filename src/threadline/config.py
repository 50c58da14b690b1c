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

    role: Literal["all", "api", "worker"] = Field(
        "all",
        description="all: one process (the API, runs, upkeep); api: HTTP only; worker: runs, "
        "ingestion and upkeep only (api and worker meet on Redis and PostgreSQL)",
    )
    redis_url: str = Field(
        "", description="Redis for the run queue, run events, cancels and leases; empty: in-process"
    )
    redis_prefix: str = Field(
        "threadline", description="every Redis key of this deployment starts with it"
    )
    run_lease_seconds: float = Field(
        10.0,
        description="a worker holds a run under a lease this long, renewed while it executes; "
        "a run whose worker died is taken over once its lease lapses",
    )
    run_events_retain_seconds: float = Field(
        3600.0, description="how long a run's events stay for re-attaching after its last one"
    )
    host: str = Field("127.0.0.1", description="address to serve")
    port: int = Field(8000, description="port to serve")
    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".local/share/threadline",
        description="SQLite database, file bytes and models (default ~/.local/share/threadline)",
    )
    database_url: str = Field("", description="SQLAlchemy URL; empty: SQLite in the data dir")
    sqlite_busy_timeout_ms: int = Field(
        30000,
        ge=1,
        description="SQLite: how long a write waits for another process's write lock (a "
        "store copy holds it) before it is answered 503 store_busy",
    )
    files_dir: Path | None = Field(
        None, description="where file bytes live; empty: <data dir>/files"
    )
    insecure_no_auth: bool = Field(
        False, description="serve a non-loopback address before any API key exists"
    )
    max_json_body_bytes: int = Field(
        32 * MiB, description="largest JSON body (256k-character instructions, long threads)"
    )
    max_upload_bytes: int = Field(512 * MiB, description="largest upload (the hosted API's limit)")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="level of Threadline's and uvicorn's logs"
    )
    log_format: Literal["text", "json"] = Field("text", description="log lines as text or JSON")
    metrics_token: str = Field("", description="bearer token GET /metrics asks for; empty: open")
    llm_base_url: str = Field(
        "", description="OpenAI-compatible server for every model name no models file maps"
    )
    llm_api_key: str = Field("", description="key for THREADLINE_LLM_BASE_URL")
    models: Path | None = Field(None, description="models file (TOML or YAML): names to backends")
    llm_context_window: int = Field(16_384, description="context window of the default server")
    llm_read_timeout: float = Field(120.0, description="seconds without a byte from a backend")
    llm_max_attempts: int = Field(4, description="attempts per model call on retryable faults")
    llm_retry_base_delay: float = Field(0.5, description="first backoff delay, doubling")
    embedded: bool = Field(
        True, description="the embedded model serves when no LLM base URL is set"
    )
    model: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="the packaged embedded model (`threadline model list`)",
    )
    model_path: Path | None = Field(
        None, description="GGUF file; empty: the packaged model THREADLINE_MODEL names"
    )
    embedded_tool_prompt: Literal["scored", "native", "guided", "json"] = Field(
        "scored",
        description="how the embedded model is offered tools and decides to call: native "
        "`<tool_call>` grammar after a decision scored by the model's probability of a call "
        "and the request's relevance to the functions (scored), after its likeliest first "
        "tokens (native), the same with a guiding preamble (guided), or one JSON object (json)",
    )
    embedded_context_window: int = Field(4096, description="context window of the embedded model")
    embedded_threads: int = Field(2, description="CPU threads of the embedded models")
    embedded_max_turn_tokens: int = Field(
        1024,
        ge=1,
        description="embedded model: tokens a reply may take when the run sets no "
        "max_completion_tokens (a longer one ends incomplete)",
    )
    embeddings_base_url: str = Field(
        "", description="OpenAI-compatible /v1/embeddings; empty: the embedded THREADLINE_EMBEDDER"
    )
    embedder: Literal["all-minilm-l6-v2-int8", "multilingual-e5-small"] = Field(
        "all-minilm-l6-v2-int8",
        description="in-process embedding model of new vector stores (each store keeps the one "
        "it was made with)",
    )
    embeddings_api_key: str = Field("", description="key for THREADLINE_EMBEDDINGS_BASE_URL")
    embeddings_model: str = Field(
        "text-embedding-3-small", description="model asked of the embeddings server"
    )
    code_wall_seconds: float = Field(60.0, description="code_interpreter: wall time of one run")
    code_cpu_seconds: int = Field(600, description="code_interpreter: CPU seconds of a session")
    code_memory_mb: int = Field(2048, description="code_interpreter: address space of a process")
    code_session_memory_mb: int = Field(
        2048, description="code_interpreter: memory of a session's processes together"
    )
    code_processes: int = Field(256, description="code_interpreter: processes of a session")
    code_disk_mb: int = Field(512, description="code_interpreter: size of /mnt/data")
    code_file_mb: int = Field(256, description="code_interpreter: largest file written")
    code_output_mb: int = Field(
        64, description="code_interpreter: files and figures kept from one execution"
    )
    code_cgroup: str = Field(
        "auto",
        description="code_interpreter memory cap: auto (cgroup v2 if possible, else a "
        "watchdog), off (the watchdog), or a cgroup v2 directory",
    )
    code_idle_seconds: float = Field(600.0, description="code_interpreter: idle session lifetime")
    max_concurrent_runs: int = Field(256, description="runs executing at once in a process")
    tools: str = Field(
        "", description="built-in tools from outside Threadline: package.module:Class, ..."
    )
    poll_after_ms: int = Field(
        50, description="what run reads tell the SDK's polling helpers to wait"
    )
    run_expiry_seconds: int = Field(
        600, description="a run waiting for tool outputs expires this long after its creation"
    )
    run_expiry_sweep_seconds: float = Field(
        1.0, description="how often runs past their expiry are expired"
    )
    file_search_wait_seconds: float = Field(
        120.0, description="how long a search waits for its stores' files still being ingested"
    )
    ingestion_scan_seconds: float = Field(
        2.0, description="how often ingestion looks for waiting files besides being woken"
    )
    reap_interval_seconds: float = Field(
        60.0, description="how often expired files and vector stores are removed"
    )
    llm_max_connections: int = Field(
        512, description="connections to each OpenAI-compatible backend (more calls wait)"
    )
    max_image_mb: int = Field(20, description="largest image file a prompt carries")
    worker_drain_seconds: float = Field(
        20.0, description="a stopping worker lets its runs finish this long"
    )
    sse_keep_alive_seconds: float = Field(
        15.0, description="a quiet event stream gets a comment line this often (for proxies)"
    )
    backup_warn_hours: float = Field(
        26.0, description="`threadline doctor` warns when the last backup is older (or none)"
    )

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


def settings_table() -> str:
    """Every setting as a Markdown table: the README's configuration table is this."""
    prefix = Settings.model_config.get("env_prefix", "").upper()
    rows = ["| environment | default | what |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "(see what)"
        elif field.default in ("", None):
            default = "none"
        else:
            default = f"`{field.default}`"
        rows.append(f"| `{prefix}{name.upper()}` | {default} | {field.description or ''} |")
    return "\n".join(rows)


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
