"""Imports every table so that `Base.metadata` knows them all (Alembic, tests)."""

from threadline.assistants import models as assistants
from threadline.db.base import Base
from threadline.files import models as files
from threadline.projects import models as projects
from threadline.runs import models as runs
from threadline.threads import models as threads
from threadline.vector_stores import models as vector_stores

__all__ = ["Base", "assistants", "files", "projects", "runs", "threads", "vector_stores"]
