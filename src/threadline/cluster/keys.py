"""The Redis client of a deployment and the names of its keys, all under one prefix (so that
deployments, and tests, can share a Redis)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

WORKERS_GROUP = "workers"


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def queue(self) -> str:
        """The run queue: a stream of run ids, read by the workers' consumer group."""
        return f"{self.prefix}:runs"

    @property
    def cancel(self) -> str:
        """Pub/sub channel: a run to stop wherever it executes."""
        return f"{self.prefix}:cancel"

    @property
    def ingest(self) -> str:
        """Pub/sub channel: files were added to vector stores."""
        return f"{self.prefix}:ingest"

    @property
    def ingested(self) -> str:
        """Pub/sub channel: a file left `in_progress` (searches waiting for it look again)."""
        return f"{self.prefix}:ingested"

    @property
    def rate_limits(self) -> str:
        """Prefix of the rate limits' buckets (`ratelimit/buckets.py`)."""
        return f"{self.prefix}:ratelimit"

    @property
    def reconciler(self) -> str:
        return f"{self.prefix}:reconciler"

    def events(self, run_id: str) -> str:
        return f"{self.prefix}:events:{run_id}"

    def lease(self, run_id: str) -> str:
        return f"{self.prefix}:lease:{run_id}"

    def submitted(self, run_id: str) -> str:
        """Set while a submitted run waits for a worker."""
        return f"{self.prefix}:submitted:{run_id}"

    def file_claim(self, store_id: str, file_id: str) -> str:
        return f"{self.prefix}:ingesting:{store_id}:{file_id}"


# Each open run stream holds a connection in a blocking read: room for many.
MAX_CONNECTIONS = 10_000


def connect(url: str) -> Redis:
    """A client that rides out a Redis restart: commands are retried with backoff."""
    return Redis.from_url(
        url,
        decode_responses=True,
        max_connections=MAX_CONNECTIONS,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 8),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )
