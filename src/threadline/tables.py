"""Imports every table so that `Base.metadata` knows them all (Alembic, tests).

It sits above the domains, not in `db/`: every domain's models build on `db.base`, so a
`db` that imported them all would make each domain and `db` depend on each other.
"""

from threadline.assistants import models as assistants
from threadline.containers import models as containers
from threadline.conversations import models as conversations
from threadline.db.base import Base
from threadline.files import models as files
from threadline.projects import models as projects
from threadline.responses import models as responses
from threadline.runs import models as runs
from threadline.threads import models as threads
from threadline.vector_stores import models as vector_stores

__all__ = [
    "Base",
    "assistants",
    "containers",
    "conversations",
    "files",
    "projects",
    "responses",
    "runs",
    "threads",
    "vector_stores",
]
