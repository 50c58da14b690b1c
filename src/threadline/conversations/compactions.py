"""Compaction items: a summary the model wrote of a context (`POST /responses/compact`),
kept by Threadline and named in the item by an opaque reference.

A `compaction` item's `encrypted_content` is that reference (`tlc1.` and the summary's id,
base64url), not the summary: OpenAI's compaction items hold the context encrypted for
OpenAI's models, which Threadline cannot read, and Threadline's cannot be read by OpenAI.
The summary stays with the project that made it, with the text of the context's user
messages; an item given as input is resolved to them then, and the thread keeps them with
the item: the model reads the user's messages, then the summary.
"""

from __future__ import annotations

import base64
import binascii

from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.conversations.models import Compaction
from threadline.errors import invalid

PREFIX = "tlc1."


def reference(compaction_id: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(compaction_id.encode()).decode().rstrip("=")


def _id_of(reference: str) -> str | None:
    if not reference.startswith(PREFIX):
        return None
    body = reference[len(PREFIX) :]
    try:
        found = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return found if found.startswith(ids.COMPACTION) else None


async def summary_of(
    session: AsyncSession, project_id: str, reference: str, param: str
) -> Compaction:
    """The compaction an item's `encrypted_content` refers to; 400 for what is not one of
    the project's (an item from OpenAI's API among them, which only its models can read)."""
    compaction_id = _id_of(reference)
    row = await session.get(Compaction, compaction_id) if compaction_id else None
    if row is None or row.project_id != project_id:
        raise invalid(
            "Invalid 'encrypted_content': not a compaction made by this Threadline project "
            "(compaction items from OpenAI's API cannot be read here).",
            param=param,
        )
    return row
