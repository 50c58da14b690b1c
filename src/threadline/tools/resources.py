"""Tool resources: checked against the project's objects, then stored as returned."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from threadline.files.service import require_files
from threadline.http.errors import invalid
from threadline.tools.schemas import ToolResources, ToolResourcesWithCreate


async def resolve(
    session: AsyncSession,
    project_id: str,
    resources: ToolResources | ToolResourcesWithCreate | None,
    param: str = "tool_resources",
) -> dict[str, Any]:
    """The stored form of `resources`: only the sections given, every reference checked."""
    if resources is None:
        return {}
    stored: dict[str, Any] = {}
    refs: list[tuple[str, str]] = []
    if resources.code_interpreter is not None:
        file_ids = list(resources.code_interpreter.file_ids)
        refs += [
            (file_id, f"{param}.code_interpreter.file_ids[{index}]")
            for index, file_id in enumerate(file_ids)
        ]
        stored["code_interpreter"] = {"file_ids": file_ids}
    search = resources.file_search
    if search is not None:
        section = f"{param}.file_search"
        helpers = getattr(search, "vector_stores", None)
        if search.vector_store_ids is not None and helpers is not None:
            raise invalid(
                f"Invalid '{section}': give either 'vector_store_ids' or 'vector_stores', "
                "not both.",
                param=section,
            )
        if helpers:
            # Building a store from files needs the vector-store ingestion pipeline.
            raise invalid(
                f"Invalid '{section}.vector_stores': creating vector stores is not "
                "available on this server yet.",
                param=f"{section}.vector_stores",
            )
        for index, store_id in enumerate(search.vector_store_ids or []):
            # No vector store exists on this server yet, so every reference is unknown.
            raise invalid(
                f"No vector store found with id '{store_id}'.",
                param=f"{section}.vector_store_ids[{index}]",
            )
        stored["file_search"] = {"vector_store_ids": []}
    await require_files(session, project_id, refs)
    return stored
