"""Imports every table so that `Base.metadata` knows them all (Alembic, tests)."""

from threadline.assistants import models as assistants
from threadline.db.base import Base
from threadline.files import models as files
from threadline.projects import models as projects
from threadline.runs import models as runs
from threadline.threads import models as threads

__all__ = ["Base", "assistants", "files", "projects", "runs", "threads"]
