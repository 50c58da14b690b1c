"""Wire models of runs and run steps (field-exact with RunObject and RunStepObject)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from threadline.wire import Metadata, Request, Wire

FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
Include = Literal["step_details.tool_calls[*].file_search.results[*].content"]


class ModifyRunRequest(Request):
    metadata: Metadata | None = None


class RunObject(Wire):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: Literal[
        "queued",
        "in_progress",
        "requires_action",
        "cancelling",
        "cancelled",
        "failed",
        "completed",
        "incomplete",
        "expired",
    ]
    required_action: dict[str, Any] | None
    last_error: dict[str, Any] | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: dict[str, Any] | None
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    metadata: dict[str, str] | None = Field(validation_alias="metadata_")
    usage: dict[str, int] | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any] | None
    tool_choice: Any
    parallel_tool_calls: bool
    response_format: Any


class RunStepObject(Wire):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: Literal["in_progress", "cancelled", "failed", "completed", "expired"]
    step_details: dict[str, Any]
    last_error: dict[str, Any] | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str] | None = Field(validation_alias="metadata_")
    usage: dict[str, int] | None


def step_details_to_wire(details: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
    """Step details as returned: file search result `content` only when `include[]` asks."""
    if details.get("type") != "tool_calls" or FILE_SEARCH_CONTENT in include:
        return details
    calls = []
    for call in details.get("tool_calls", []):
        if call.get("type") == "file_search" and "results" in call.get("file_search", {}):
            search = call["file_search"]
            results = [
                {key: value for key, value in result.items() if key != "content"}
                for result in search["results"]
            ]
            call = {**call, "file_search": {**search, "results": results}}
        calls.append(call)
    return {**details, "tool_calls": calls}
