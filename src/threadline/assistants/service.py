"""Assistants: the rules for creating, changing, listing and deleting them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.assistants.models import Assistant
from threadline.assistants.schemas import (
    CreateAssistantRequest,
    ModifyAssistantRequest,
    response_format_to_wire,
)
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.tools import resources
from threadline.tools.schemas import tool_to_wire

# The hosted API's defaults, returned when a request leaves them out.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0


async def get(session: AsyncSession, project_id: str, assistant_id: str) -> Assistant:
    return await owned(session, Assistant, assistant_id, "assistant", project_id=project_id)


async def create(db: Database, project_id: str, body: CreateAssistantRequest) -> Assistant:
    assistant_id, created_at = ids.mint(ids.ASSISTANT)
    async with db.write() as session:
        row = Assistant(
            id=assistant_id,
            project_id=project_id,
            created_at=created_at,
            model=body.model,
            name=body.name,
            description=body.description,
            instructions=body.instructions,
            tools=[tool_to_wire(tool) for tool in body.tools or []],
            tool_resources=await resources.resolve(session, project_id, body.tool_resources),
            metadata_=body.metadata or {},
            temperature=DEFAULT_TEMPERATURE if body.temperature is None else body.temperature,
            top_p=DEFAULT_TOP_P if body.top_p is None else body.top_p,
            response_format=response_format_to_wire(body.response_format),
            reasoning_effort=body.reasoning_effort,
        )
        session.add(row)
    return row


async def retrieve(db: Database, project_id: str, assistant_id: str) -> Assistant:
    async with db.read() as session:
        return await get(session, project_id, assistant_id)


async def modify(
    db: Database, project_id: str, assistant_id: str, body: ModifyAssistantRequest
) -> Assistant:
    changes = body.given()
    async with db.write() as session:
        row = await get(session, project_id, assistant_id)
        for field in ("model", "name", "description", "instructions", "temperature", "top_p"):
            if field in changes:
                setattr(row, field, changes[field])
        if "reasoning_effort" in changes:
            row.reasoning_effort = body.reasoning_effort
        if "tools" in changes:
            row.tools = [tool_to_wire(tool) for tool in body.tools or []]
        if "tool_resources" in changes:
            # Each tool's resources are replaced when given and kept when left out.
            given = await resources.resolve(session, project_id, body.tool_resources)
            row.tool_resources = {**row.tool_resources, **given}
        if "metadata" in changes:
            row.metadata_ = body.metadata or {}
        if "response_format" in changes:
            row.response_format = response_format_to_wire(body.response_format)
    return row


async def delete(db: Database, project_id: str, assistant_id: str) -> None:
    async with db.write() as session:
        await session.delete(await get(session, project_id, assistant_id))


async def list_assistants(
    db: Database, project_id: str, page: PageQuery
) -> tuple[list[Assistant], bool]:
    async with db.read() as session:
        return await fetch_page(session, Assistant, [Assistant.project_id == project_id], page)


async def exists(session: AsyncSession, project_id: str, assistant_id: str) -> bool:
    found = await session.scalar(
        select(Assistant.id).where(Assistant.id == assistant_id, Assistant.project_id == project_id)
    )
    return found is not None
