"""Rate limits: requests and tokens per minute, per project and per key (docs/security.md).

Each limit is a bucket that holds up to its limit and refills continuously at the limit per
minute; a request takes one from its requests buckets, a run's usage is taken from its
tokens buckets as the model reports it (a bucket may go below empty: tokens are counted
after they were used). The buckets live in this process (`MemoryBuckets`) or, shared by
every process of a deployment, in Redis (`RedisBuckets`). Nothing here knows HTTP.
"""
