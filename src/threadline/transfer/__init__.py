"""Moving one project between deployments: `threadline export` and `threadline import`.

A unit of its own, above the domains it reads and writes (projects, files, vector stores,
assistants, threads, runs): those import projects, so living there would make a cycle."""
