"""What a process runs, by its role, and how its parts are put together.

- `all` (the default): one process serves the API and executes runs, ingestion and upkeep.
  Without Redis its run queue and event bus are in-process; with Redis they are Redis's
  (then it is an API process and a worker in one).
- `api`: serves HTTP and executes nothing; runs go to the Redis run queue, their events
  come from Redis.
- `worker`: serves no API (only `/healthz`); executes runs from the Redis queue, ingests
  files, expires runs and files, and reconciles Redis with PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from typing import Any

from sqlalchemy import and_, select

from threadline.backends.embedder_choice import Embedders
from threadline.backends.registry import build_registry
from threadline.cluster import ingestion as cluster_ingestion
from threadline.cluster.bus import RedisBus
from threadline.cluster.keys import Keys, connect
from threadline.cluster.queue import RedisRunQueue
from threadline.cluster.reconciler import Reconciler
from threadline.cluster.worker import RunWorker
from threadline.config import MiB, Settings, unknown_variable_problem
from threadline.containers import service as containers_service
from threadline.db.engine import Database
from threadline.engine.engine import Engine, read_file
from threadline.engine.loop import TokenCounter
from threadline.engine.model_call import RetrySettings
from threadline.events.bus import EventBus, InProcessBus
from threadline.events.observers import ObservedBus, RunLog
from threadline.files import service as files_service
from threadline.files.storage import FileStorage
from threadline.http.auth import Authenticator
from threadline.metrics import RunMetrics
from threadline.projects import service as projects
from threadline.projects.models import ApiKey, Project
from threadline.ratelimit.buckets import Buckets, MemoryBuckets, RedisBuckets
from threadline.ratelimit.limiter import RateLimiter, Subject
from threadline.responses.input_tokens import PromptParts
from threadline.runs.channels import RunChannels
from threadline.threads.models import Thread
from threadline.tools.base import ToolParts
from threadline.tools.registry import build_tools
from threadline.vector_stores import service as vector_stores_service
from threadline.vector_stores.index import ChunkIndex, make_index
from threadline.vector_stores.ingestion.worker import IngestionWorker

log = logging.getLogger("threadline")

REAP_INTERVAL_SECONDS = 60


class RoleError(RuntimeError):
    """The settings do not let this role start."""


def file_deletion_hooks(index: ChunkIndex) -> files_service.DeletionHooks:
    """What goes with a deleted (or expired) file: it leaves every vector store it was in."""
    hooks = files_service.DeletionHooks()
    hooks.register(
        lambda session, file_id: vector_stores_service.forget_file_everywhere(
            session, index, file_id
        )
    )
    return hooks


async def _reap_forever(
    db: Database,
    storage: FileStorage,
    hooks: files_service.DeletionHooks,
    index: ChunkIndex,
    every: float = REAP_INTERVAL_SECONDS,
) -> None:
    """Expired files, vector stores, and the files of expired containers."""
    while True:
        try:
            await files_service.reap_expired(db, storage, hooks)
            await vector_stores_service.expire_overdue(db, index)
            await containers_service.drop_expired_files(db, storage)
        except Exception:
            log.exception("reaping expired objects failed")
        await asyncio.sleep(every)


# How long the token counter trusts what it read of a project's limits.
LIMITS_CACHE_SECONDS = 2.0


def token_counter(db: Database, limiter: RateLimiter) -> TokenCounter:
    """What the engine tells the tokens of each model call: counted against the tokens
    limits of the run's project and of the key that started it, when they have one."""
    known: dict[tuple[str, str | None], tuple[float, tuple[Subject, ...]]] = {}

    async def subjects_of(thread_id: str, key_id: str | None) -> tuple[Subject, ...]:
        found = known.get((thread_id, key_id))
        if found is not None and time.monotonic() - found[0] < LIMITS_CACHE_SECONDS:
            return found[1]
        async with db.read() as session:  # one query: the thread's project, and the key
            row = (
                await session.execute(
                    select(
                        Project.id,
                        Project.requests_per_minute,
                        Project.tokens_per_minute,
                        ApiKey.requests_per_minute,
                        ApiKey.tokens_per_minute,
                    )
                    .select_from(Thread)
                    .join(Project, Project.id == Thread.project_id)
                    .outerjoin(ApiKey, and_(ApiKey.id == key_id, ApiKey.project_id == Project.id))
                    .where(Thread.id == thread_id)
                )
            ).first()
        subjects = (
            projects.subjects(row[0], (row[1], row[2]), key_id, (row[3], row[4])) if row else ()
        )
        if len(known) > 10_000:
            known.clear()
        known[(thread_id, key_id)] = (time.monotonic(), subjects)
        return subjects

    async def count(thread_id: str, key_id: str | None, tokens: int) -> None:
        subjects = await subjects_of(thread_id, key_id)
        if any(subject.tokens_per_minute is not None for subject in subjects):
            await limiter.count_tokens(subjects, tokens)

    return count


async def _background(stack: contextlib.AsyncExitStack, work: Any, name: str) -> None:
    task = asyncio.create_task(work, name=name)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)


async def assemble(settings: Settings, state: Any, stack: contextlib.AsyncExitStack) -> None:
    """Start this process's parts for its role, and put what the routers use on `state`;
    `stack` stops them in reverse order."""
    problem = settings.role_problem() or unknown_variable_problem(os.environ)
    if problem:
        raise RoleError(problem)
    serves_api = settings.role in ("all", "api")
    executes = settings.role in ("all", "worker")

    db = Database(settings.resolved_database_url, settings.sqlite_busy_timeout_ms)
    stack.push_async_callback(db.dispose)
    storage = FileStorage(settings.resolved_files_dir)
    state.settings, state.db, state.storage = settings, db, storage
    state.authenticator = Authenticator(db)
    open_door = serves_api and not settings.is_loopback and not settings.insecure_no_auth
    # Every way of serving refuses an open door, not only the CLI.
    if open_door and not await state.authenticator.keys_exist():
        raise RoleError(
            f"refusing to serve {settings.host} with no API keys: anyone who can reach it "
            "could use it. Create a key first (threadline keys create --project NAME) or "
            "set THREADLINE_INSECURE_NO_AUTH."
        )
    embedders = Embedders(settings)
    stack.push_async_callback(embedders.aclose)
    index = await make_index(db)
    state.embedders, state.chunk_index = embedders, index
    state.file_deletion_hooks = hooks = file_deletion_hooks(index)
    tools = build_tools(ToolParts(settings, db, storage, index, embedders), settings.tools)

    redis = keys = None
    bus: EventBus
    # The rate limits' counters: every process's in Redis, or this process's own.
    buckets: Buckets
    if settings.distributed:
        redis, keys = connect(settings.redis_url), Keys(settings.redis_prefix)
        stack.push_async_callback(redis.aclose)
        state.redis = redis
        bus = RedisBus(redis, keys, settings.run_events_retain_seconds)
        buckets = RedisBuckets(redis, keys.rate_limits)
    else:
        bus = InProcessBus(settings.run_events_retain_seconds)
        buckets = MemoryBuckets()
    state.rate_limiter = limiter = RateLimiter(buckets)
    models = build_registry(settings) if executes else None
    backend_of = models.backend_name if models is not None else None
    bus = ObservedBus(bus, [RunLog(backend_of), RunMetrics()])

    engine = None
    if executes:
        engine = Engine(
            db,
            storage,
            models,
            tools,
            RetrySettings(
                max_attempts=settings.llm_max_attempts,
                retry_base_delay=settings.llm_retry_base_delay,
            ),
            max_concurrency=settings.max_concurrent_runs,
            bus=bus,
            token_counter=token_counter(db, limiter),
            sweep_seconds=settings.run_expiry_sweep_seconds,
            max_image_bytes=settings.max_image_mb * MiB,
        )
        stack.push_async_callback(engine.stop)
        state.engine = engine
    else:
        stack.push_async_callback(tools.aclose)

    if serves_api:
        # Input token counts build prompts as the engine does, in API processes too (an
        # `api` process asks the backends itself: an embedded model loads on its first count).
        counted_by = models
        if counted_by is None:
            counted_by = build_registry(settings)
            stack.push_async_callback(counted_by.aclose)
        read = functools.partial(read_file, db, storage, settings.max_image_mb * MiB)
        state.prompt_parts = PromptParts(counted_by, tools, read)

    if redis is not None and keys is not None:
        queue = RedisRunQueue(redis, keys, settings.run_lease_seconds)
        state.run_channels = RunChannels(bus, queue)
        if serves_api:
            stack.callback(cluster_ingestion.announce_new_files(redis, keys))
        stack.callback(cluster_ingestion.announce_settled_files(redis, keys))
    elif engine is not None:
        state.run_channels = engine.channels

    if not executes:
        return
    assert engine is not None
    claims = cluster_ingestion.RedisFileClaims(redis, keys) if redis and keys else None
    ingestion = IngestionWorker(
        db,
        storage,
        index,
        embedders,
        claims=claims,
        scan_seconds=settings.ingestion_scan_seconds,
    )
    await ingestion.start()
    stack.push_async_callback(ingestion.stop)
    await engine.start(recover_unfinished=redis is None)
    reaping = _reap_forever(db, storage, hooks, index, settings.reap_interval_seconds)
    await _background(stack, reaping, "reaper")
    if redis is not None and keys is not None:
        worker = RunWorker(
            redis,
            keys,
            engine,
            settings.run_lease_seconds,
            settings.max_concurrent_runs,
            settings.worker_drain_seconds,
        )
        await worker.start()
        stack.push_async_callback(worker.stop)
        state.run_worker = worker
        reconciler = Reconciler(db, redis, keys, queue, every=settings.run_lease_seconds / 2)
        reconciler.start()
        stack.push_async_callback(reconciler.stop)
        await _background(stack, cluster_ingestion.listen_for_files(redis, keys), "ingest")
