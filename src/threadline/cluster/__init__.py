"""Distributed mode: API processes and run workers apart, meeting on Redis.

PostgreSQL stays the durable store; Redis carries the run queue (a stream with a consumer
group), each run's events (a stream per run), cancel signals and ingestion wake-ups (pub/sub),
and the leases that say which worker executes a run. Nothing in Redis is the only copy of
anything: a reconciler puts back the runs PostgreSQL says are unfinished.
"""
