"""Tool resources: checked against the project's objects, then stored as returned."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from threadline.errors import invalid
from threadline.files.service import require_files
from threadline.tools.schemas import ToolResources, ToolResourcesWithCreate
from threadline.vector_stores import service as vector_stores
from threadline.vector_stores.schemas import chunking_to_wire


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
        store_ids = list(search.vector_store_ids or [])
        await vector_stores.require_stores(
            session,
            project_id,
            [
                (store_id, f"{section}.vector_store_ids[{i}]")
                for i, store_id in enumerate(store_ids)
            ],
        )
        for index, helper in enumerate(helpers or []):
            # A store built on the spot from the given files.
            strategy = chunking_to_wire(helper.chunking_strategy)
            store = await vector_stores.insert_store(
                session,
                project_id,
                name="",
                files=[
                    vector_stores.NewFile(
                        file_id, strategy, None, f"{section}.vector_stores[{index}].file_ids[{i}]"
                    )
                    for i, file_id in enumerate(helper.file_ids)
                ],
                metadata=helper.metadata,
            )
            store_ids.append(store.id)
        stored["file_search"] = {"vector_store_ids": store_ids}
    await require_files(session, project_id, refs)
    return stored
