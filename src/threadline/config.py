"""Server settings, read from `THREADLINE_*` environment variables and CLI flags."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="ignore")

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
    log_level: str = "info"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'threadline.db'}"

    @property
    def resolved_files_dir(self) -> Path:
        return self.files_dir or self.data_dir / "files"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
