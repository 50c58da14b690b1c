"""A response's tools: as the request gives them, as its run keeps them (the shape runs
have: `{"type": "function", "function": {...}}`, `{"type": "file_search", "file_search":
{...}}`), and as the response object shows them again.

Built-in tools run through the same plug-ins as a run's (`tools/`): a response's
`file_search` names its vector stores and options in the tool itself; its
`code_interpreter` names a container, or asks for one (`{"type": "auto"}`), made here in
the response's own transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from threadline.containers import service as containers
from threadline.errors import NotFound, invalid
from threadline.files.storage import FileStorage
from threadline.responses.schemas import (
    AutoContainerParam,
    CodeInterpreterToolParam,
    FileSearchToolParam,
    FunctionChoice,
    FunctionToolParam,
    HostedChoice,
)
from threadline.vector_stores import service as vector_stores

SEARCH = "file_search"
CODE = "code_interpreter"


async def tools_in(
    session: AsyncSession,
    storage: FileStorage,
    project_id: str,
    response_id: str,
    tools: list[Any],
) -> list[dict[str, Any]]:
    """The request's tools as the run keeps them, every reference checked (and an `auto`
    container made)."""
    kept = []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if isinstance(tool, FunctionToolParam):
            kept.append(_function(tool))
        elif isinstance(tool, FileSearchToolParam):
            kept.append(await _file_search(session, project_id, tool, param))
        elif isinstance(tool, CodeInterpreterToolParam):
            kept.append(
                await _code_interpreter(session, storage, project_id, response_id, tool, param)
            )
    types = [tool["type"] for tool in kept if tool["type"] != "function"]
    for kind in set(types):
        if types.count(kind) > 1:
            raise invalid(f"Invalid 'tools': at most one '{kind}' tool.", param="tools")
    return kept


def _function(tool: FunctionToolParam) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    function["strict"] = tool.strict
    return {"type": "function", "function": function}


async def _file_search(
    session: AsyncSession, project_id: str, tool: FileSearchToolParam, param: str
) -> dict[str, Any]:
    await vector_stores.require_stores(
        session,
        project_id,
        [
            (store_id, f"{param}.vector_store_ids[{i}]")
            for i, store_id in enumerate(tool.vector_store_ids)
        ],
    )
    options: dict[str, Any] = {"vector_store_ids": list(tool.vector_store_ids)}
    if tool.max_num_results is not None:
        options["max_num_results"] = tool.max_num_results
    if tool.ranking_options is not None:
        options["ranking_options"] = tool.ranking_options.model_dump(exclude_none=True)
    if tool.filters is not None:
        options["filters"] = tool.filters.model_dump(exclude_none=True)
    return {"type": SEARCH, SEARCH: options}


async def _code_interpreter(
    session: AsyncSession,
    storage: FileStorage,
    project_id: str,
    response_id: str,
    tool: CodeInterpreterToolParam,
    param: str,
) -> dict[str, Any]:
    given = tool.container
    if isinstance(given, str):
        try:
            container = await containers.get_container(session, project_id, given)
        except NotFound:
            raise invalid(
                f"No container found with id '{given}'.", param=f"{param}.container"
            ) from None
        containers.require_running(container, f"{param}.container")
        return {"type": CODE, CODE: {"container": given, "container_id": container.id}}
    assert isinstance(given, AutoContainerParam)
    if given.network_policy is not None and given.network_policy.type != "disabled":
        raise invalid(
            "Threadline's code sandbox has no network access: network_policy can only be "
            "'disabled'.",
            param=f"{param}.container.network_policy",
        )
    container = await containers.create_container(
        session,
        storage,
        project_id,
        name=f"Container for {response_id}",
        file_ids=list(given.file_ids or []),
        memory_limit=given.memory_limit or "1g",
        param=f"{param}.container.file_ids",
    )
    echoed = given.model_dump(exclude_none=True)
    return {"type": CODE, CODE: {"container": echoed, "container_id": container.id}}


def tool_choice_in(tool_choice: Any, tools: list[dict[str, Any]]) -> Any:
    """`tool_choice` as the run keeps it; a named function or tool must be among the
    response's tools."""
    if isinstance(tool_choice, FunctionChoice):
        if tool_choice.name not in {t["function"]["name"] for t in tools if "function" in t}:
            raise invalid(
                f"Invalid 'tool_choice': no function named '{tool_choice.name}' among the "
                "response's tools.",
                param="tool_choice.name",
            )
        return {"type": "function", "function": {"name": tool_choice.name}}
    if isinstance(tool_choice, HostedChoice):
        if tool_choice.type not in {tool["type"] for tool in tools}:
            raise invalid(
                f"Invalid 'tool_choice': the response has no '{tool_choice.type}' tool.",
                param="tool_choice.type",
            )
        return {"type": tool_choice.type}
    return tool_choice or "auto"


def tool_choice_out(tool_choice: Any) -> Any:
    if isinstance(tool_choice, dict) and "function" in tool_choice:
        return {"type": "function", "name": tool_choice["function"]["name"]}
    if isinstance(tool_choice, dict):
        return {"type": tool_choice["type"]}
    return tool_choice or "auto"


def tool_out(tool: dict[str, Any]) -> dict[str, Any]:
    """A run's tool as the response object shows it."""
    kind = tool["type"]
    if kind == SEARCH:
        return {"type": SEARCH, **tool[SEARCH]}
    if kind == CODE:
        return {"type": CODE, "container": tool[CODE]["container"]}
    function = tool["function"]
    out = {
        "type": "function",
        "name": function["name"],
        "parameters": function.get("parameters"),
        "strict": function.get("strict"),
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def container_of(run_tools: list[dict[str, Any]]) -> str | None:
    """The container of a run's code_interpreter tool, if it has one."""
    for tool in run_tools:
        if tool["type"] == CODE:
            return tool[CODE].get("container_id")
    return None
