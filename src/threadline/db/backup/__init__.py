"""`threadline backup DIR` and `threadline restore DIR`: a consistent snapshot of a running
deployment (database and file bytes), and that snapshot put into an empty store.

A backup directory holds the database (`threadline.db`, an SQLite file made with SQLite's
online backup API, or `threadline.dump`, `pg_dump --format=custom`), `files/` (the file
bytes) and `manifest.json` (version, schema revision, time, row counts, file count and
bytes; restore checks its result against them).

Taking one is `snapshot`, putting one back `restore`, their command line `command`; the
databases' mechanics are in `sqlite` and `postgres`, what a database holds in `contents`,
the file bytes in `files`, the manifest in `manifest`, the record of the last backup (for
`threadline doctor`) in `last_backup`, and what stops either command in `errors`.
"""
