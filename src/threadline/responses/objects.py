"""The response object, from a response's row, its run and the items its run made."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.conversations import items as mapping
from threadline.responses import tools
from threadline.responses.models import Response
from threadline.run_status import TERMINAL_STATUSES
from threadline.runs import announce
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message


async def response_object(
    session: AsyncSession, row: Response, include: frozenset[str] | None = None
) -> dict[str, Any]:
    run = await session.get(Run, row.run_id, populate_existing=True)
    assert run is not None
    if include is None:
        include = frozenset(row.options.get("include") or ())
    return shape(row, announce.record(run), await output_items(session, run, include))


def shape(row: Response, run: dict[str, Any], output: list[dict[str, Any]]) -> dict[str, Any]:
    """The response object, from its row, its run's columns and its output items."""
    options = row.options
    status = run["status"]
    usage = run["usage"] if status in TERMINAL_STATUSES else None
    found: dict[str, Any] = {
        "id": row.id,
        "object": "response",
        "created_at": row.created_at,
        "status": _status(status),
        "completed_at": run["completed_at"],
        "error": run["last_error"] if status == "failed" else None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": row.instructions,
        "max_output_tokens": run["max_completion_tokens"],
        "max_tool_calls": options.get("max_tool_calls"),
        "model": run["model"],
        "output": output,
        "parallel_tool_calls": run["parallel_tool_calls"],
        "previous_response_id": row.previous_response_id,
        "reasoning": options.get("reasoning"),
        "background": row.background,
        "temperature": run["temperature"],
        "text": options.get("text") or {"format": {"type": "text"}},
        "tool_choice": tools.tool_choice_out(run["tool_choice"]),
        "tools": [tools.tool_out(tool) for tool in run["tools"]],
        "top_p": run["top_p"],
        "top_logprobs": options.get("top_logprobs"),
        "truncation": options.get("truncation", "disabled"),
        "conversation": {"id": row.conversation_id} if row.conversation_id else None,
        "metadata": run["metadata_"] or {},
    }
    if status == "expired":
        found["error"] = {"code": "server_error", "message": "The response expired."}
    if usage:
        found["usage"] = usage_object(usage)
    for key in ("user", "safety_identifier", "prompt_cache_key", "service_tier"):
        if options.get(key) is not None:
            found[key] = options[key]
    return found


def usage_object(usage: dict[str, Any]) -> dict[str, Any]:
    """A run's usage as a response's."""
    return {
        "input_tokens": usage.get("prompt_tokens", 0),
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.get("completion_tokens", 0),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.get("total_tokens", 0),
    }


def _status(run_status: str) -> str:
    return {
        "cancelling": "in_progress",
        "requires_action": "completed",
        "expired": "failed",
    }.get(run_status, run_status)


async def output_items(
    session: AsyncSession, run: Run, include: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The items the response's run made, in their order."""
    messages = list(await session.scalars(select(Message).where(Message.run_id == run.id)))
    steps = list(
        await session.scalars(
            select(RunStep).where(RunStep.run_id == run.id, RunStep.type == "tool_calls")
        )
    )
    placed = [(mapping.position(m.id), mapping.message_item(m, {})) for m in messages]
    for step in steps:
        placed += [
            (place, item)
            for place, item in mapping.step_items(step, include)
            if item["type"] != "function_call_output"
        ]
    placed.sort(key=lambda entry: entry[0])
    return [item for _, item in placed]
