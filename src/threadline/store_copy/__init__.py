"""`threadline store copy`: a whole deployment into another database (`copy`, with its
`rows`, `vectors`, `files`, `verify`, `digest` and `progress`), and its command line
(`command`). A unit of its own, above `db`, `tables` and `vector_stores`: it
reads every table, and `db` may not import the domains (tests/test_architecture.py)."""
