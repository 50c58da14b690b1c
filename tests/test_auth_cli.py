"""Keys and projects end to end: the CLI, local mode, revocation, refusing open binds."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from tests.conftest import own_database
from tests.support import store
from tests.support.server import Server, free_port
from tests.support.wire import HOOKS, check_response
from threadline.projects.models import ApiKey


@pytest.fixture
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    with own_database(backend, tmp_path) as url:
        yield url


def cli(database_url: str, *args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "threadline", *args, "--database-url", database_url]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def created_key(result: subprocess.CompletedProcess) -> tuple[str, str]:
    assert result.returncode == 0, result.stderr
    first, secret = result.stdout.strip().splitlines()
    return first.split()[2], secret


def test_db_upgrade_creates_the_schema_and_is_idempotent(empty_database: str) -> None:
    for _ in range(2):
        result = cli(empty_database, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout

    async def tables(db) -> set[str]:
        async with db.read() as session:
            if db.is_sqlite:
                rows = await session.execute(text("SELECT name FROM sqlite_master"))
            else:
                rows = await session.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            return {row[0] for row in rows}

    found = store.with_db(empty_database, tables)
    expected = {"projects", "api_keys", "assistants", "threads", "messages", "runs", "run_steps"}
    assert expected | {"files", "alembic_version"} <= found


def test_keys_create_list_revoke(empty_database: str) -> None:
    key_id, secret = created_key(cli(empty_database, "keys", "create", "--project", "alpha"))
    assert key_id.startswith("key_") and secret.startswith("sk-tl-")
    _, second = created_key(cli(empty_database, "keys", "create", "--project", "beta"))

    listing = cli(empty_database, "keys", "list")
    assert listing.returncode == 0
    lines = listing.stdout.strip().splitlines()
    assert len(lines) == 3  # header and two keys
    assert key_id in lines[1] and "alpha" in lines[1] and lines[1].rstrip().endswith("-")
    assert secret not in listing.stdout and second not in listing.stdout

    revoked = cli(empty_database, "keys", "revoke", key_id)
    assert revoked.returncode == 0 and key_id in revoked.stdout
    assert not cli(empty_database, "keys", "list").stdout.splitlines()[1].rstrip().endswith(" -")
    missing = cli(empty_database, "keys", "revoke", "key_missing")
    assert missing.returncode == 1 and "no key" in missing.stderr

    async def stored(db) -> list[ApiKey]:
        async with db.read() as session:
            return list(await session.scalars(select(ApiKey)))

    rows = store.with_db(empty_database, stored)
    # Only hashes are kept.
    assert {row.key_hash for row in rows} == {
        hashlib.sha256(s.encode()).hexdigest() for s in (secret, second)
    }
    assert all(secret not in (row.redacted, row.key_hash) for row in rows)


def test_local_mode_until_a_key_exists(empty_database: str, tmp_path: Path) -> None:
    server = Server(database_url=empty_database, data_dir=tmp_path / "srv").start()
    try:
        with httpx.Client(base_url=server.base_url, event_hooks=HOOKS) as anonymous:
            made = anonymous.post("/assistants", json={"model": "m"})
            assert made.status_code == 200
            any_key = {"Authorization": "Bearer whatever"}
            assert (
                anonymous.get("/assistants", headers=any_key).json()["data"][0]["id"]
                == (made.json()["id"])
            )

            _, secret = created_key(cli(empty_database, "keys", "create", "--project", "default"))
            error = anonymous.get("/assistants").json()["error"]
            assert error["message"].startswith("You didn't provide an API key")
            response = anonymous.get("/assistants", headers=any_key)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"
            assert "whatever" not in response.json()["error"]["message"]

            owner = {"Authorization": f"Bearer {secret}"}
            # Objects made in local mode belong to the default project.
            listed = anonymous.get("/assistants", headers=owner).json()["data"]
            assert [a["id"] for a in listed] == [made.json()["id"]]

            key_id, other = created_key(cli(empty_database, "keys", "create", "--project", "p2"))
            assert anonymous.get("/assistants", headers={
                "Authorization": f"Bearer {other}"}).json()["data"] == []  # fmt: skip
            assert cli(empty_database, "keys", "revoke", key_id).returncode == 0
            revoked = anonymous.get("/assistants", headers={"Authorization": f"Bearer {other}"})
            assert revoked.status_code == 401
            # Revoking every key does not reopen local mode.
            default_id = cli(empty_database, "keys", "list").stdout.splitlines()[1].split()[0]
            assert cli(empty_database, "keys", "revoke", default_id).returncode == 0
            assert anonymous.get("/assistants", headers=owner).status_code == 401
            assert anonymous.get("/assistants").status_code == 401
    finally:
        server.stop()


def test_open_address_without_keys_is_refused(empty_database: str, tmp_path: Path) -> None:
    port = str(free_port())
    refused = cli(empty_database, "serve", "--host", "0.0.0.0", "--port", port,
                  data_dir=tmp_path)  # fmt: skip
    assert refused.returncode == 2
    assert "--insecure-no-auth" in refused.stderr

    insecure = Server(
        database_url=empty_database,
        data_dir=tmp_path / "insecure",
        host="0.0.0.0",
        extra_args=["--insecure-no-auth"],
    )
    insecure.start()
    try:
        local = httpx.get(f"http://127.0.0.1:{insecure.port}/v1/assistants")
        assert local.status_code == 200
        check_response(local)
    finally:
        insecure.stop()

    created_key(cli(empty_database, "keys", "create", "--project", "ops"))
    keyed = Server(database_url=empty_database, data_dir=tmp_path / "keyed", host="0.0.0.0")
    keyed.start()
    try:
        assert httpx.get(f"http://127.0.0.1:{keyed.port}/v1/assistants").status_code == 401
    finally:
        keyed.stop()


def test_projects_and_keys_limits(empty_database: str, tmp_path: Path) -> None:
    shown = cli(empty_database, "projects", "limits", "alpha")
    assert shown.returncode == 1 and "no project named 'alpha'" in shown.stderr

    set_ = cli(empty_database, "projects", "limits", "alpha", "--rpm", "600", "--tpm", "100000",
               "--max-file-bytes", "10M", "--max-vector-stores", "5")  # fmt: skip
    assert set_.returncode == 0, set_.stderr
    assert "requests per minute  600" in set_.stdout
    assert "tokens per minute    100000" in set_.stdout
    assert "max file bytes       10485760 bytes (10.0 MiB); 0 bytes used" in set_.stdout
    assert "max vector stores    5; 0 used" in set_.stdout
    # Only what is given changes; `off` removes a limit.
    cli(empty_database, "projects", "limits", "alpha", "--tpm", "off")
    shown = cli(empty_database, "projects", "limits", "alpha")
    assert "requests per minute  600" in shown.stdout and "tokens per minute    off" in shown.stdout
    for bad in (["--rpm", "0"], ["--max-file-bytes", "lots"], ["--max-vector-stores", "-1"]):
        refused = cli(empty_database, "projects", "limits", "alpha", *bad)
        assert refused.returncode == 2 and bad[0] in refused.stderr

    key_id, secret = created_key(
        cli(empty_database, "keys", "create", "--project", "alpha", "--rpm", "60")
    )
    created_key(cli(empty_database, "keys", "create", "--project", "beta"))
    listing = cli(empty_database, "projects", "list").stdout.splitlines()
    assert listing[1].split()[0] == "alpha" and listing[1].split()[2:] == [
        "600", "off", "10485760", "5"]  # fmt: skip
    assert listing[2].split()[0] == "beta" and listing[2].split()[2:] == ["off"] * 4
    keys = cli(empty_database, "keys", "list").stdout.splitlines()
    assert "60 rpm" in keys[1] and keys[2].split()[-2:] == ["-", "-"]
    changed = cli(empty_database, "keys", "limits", key_id, "--tpm", "5000", "--rpm", "off")
    assert changed.returncode == 0
    assert "requests per minute  off" in changed.stdout
    assert "tokens per minute    5000" in changed.stdout
    assert cli(empty_database, "keys", "limits", "key_missing").returncode == 1

    # The server applies them: the tighter of the key's own 30 requests a minute and the
    # project's 600, and the key's 5000 tokens (the project has none).
    cli(empty_database, "keys", "limits", key_id, "--rpm", "30")
    server = Server(database_url=empty_database, data_dir=tmp_path / "srv").start()
    try:
        answer = httpx.get(f"{server.base_url}/assistants",
                           headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
        assert answer.status_code == 200
        check_response(answer)
        assert answer.headers["x-ratelimit-limit-requests"] == "30"
        assert answer.headers["x-ratelimit-remaining-requests"] == "29"
        assert answer.headers["x-ratelimit-limit-tokens"] == "5000"
        assert answer.headers["x-ratelimit-reset-tokens"] == "0s"
    finally:
        server.stop()
