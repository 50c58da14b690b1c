"""The record of the last backup, for `threadline doctor`.

The time of the last backup is kept in `LAST_BACKUP`, a small JSON file in the files
directory. The files directory is the one place besides the database that every process of
a deployment shares (the same volume for the API processes and the workers), so any
process's doctor sees it, on SQLite and PostgreSQL alike; unlike a row in a table it needs
no migration, and it never ends up inside the snapshot it dates.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from threadline.config import Settings

# In the files directory; its leading dot keeps it out of backups and emptiness checks, as
# the `.upload-*` files being written are.
LAST_BACKUP = ".last-backup.json"


def last_backup(settings: Settings) -> tuple[datetime, str] | None:
    """When the last backup of this deployment was taken, and where; None when none is
    known (for `threadline doctor`)."""
    try:
        record = json.loads((settings.resolved_files_dir / LAST_BACKUP).read_text())
        return datetime.fromisoformat(record["at"]), str(record.get("directory", "?"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def age_hours(when: datetime) -> float:
    return (time.time() - when.timestamp()) / 3600
