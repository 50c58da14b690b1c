"""Prompt assembly: a turn's chat-completions request from the run, its thread and its
budgets.

The run's instructions are the system message, then the thread's history (`history.py`),
truncated to what fits the context window and `max_prompt_tokens` (`truncation.py`). The
run's tools go to the model as functions; a built-in tool by the function it defines.
"""

from __future__ import annotations

from typing import Any

from threadline.backends.base import ChatRequest, Usage
from threadline.backends.registry import Route
from threadline.engine import truncation
from threadline.engine.history import History, ImageReader, system_message, thread_items
from threadline.engine.outcomes import RunFailure, RunIncomplete
from threadline.engine.tokens import CHARS_PER_TOKEN, estimate_messages, estimate_tools
from threadline.runs.models import Run
from threadline.tools.registry import ToolRegistry

# Room kept for the reply when no completion budget says otherwise.
DEFAULT_REPLY_RESERVE = 1024


def chat_tools(tools: list[dict[str, Any]], registry: ToolRegistry) -> list[dict[str, Any]]:
    """The run's tools as chat-completion tools."""
    chat = []
    for tool in tools:
        if tool["type"] == "function":
            function = {key: value for key, value in tool["function"].items() if value is not None}
            chat.append({"type": "function", "function": function})
        elif (builtin := registry.by_type(tool["type"])) is not None:
            chat.append(builtin.definition)
    return chat


def chat_tool_choice(tool_choice: Any, registry: ToolRegistry) -> Any:
    """The run's `tool_choice` as chat completions take it: a named function, or a mode.
    A built-in tool is named by its function."""
    if isinstance(tool_choice, dict) and tool_choice.get("type") != "function":
        builtin = registry.by_type(tool_choice.get("type", ""))
        if builtin is not None:
            return {"type": "function", "function": {"name": builtin.name}}
    return tool_choice


async def build_request(
    run: Run,
    route: Route,
    used: Usage,
    history: History,
    read_image: ImageReader,
    registry: ToolRegistry,
) -> ChatRequest:
    """The request of the run's next turn, given the tokens its earlier turns used."""
    max_tokens = None
    if run.max_completion_tokens is not None:
        max_tokens = run.max_completion_tokens - used.completion_tokens
        if max_tokens <= 0:
            raise RunIncomplete("max_completion_tokens")
    tools = chat_tools(run.tools, registry)
    system = system_message(run.instructions)
    fixed = estimate_messages(system) + estimate_tools(tools)
    budget = route.context_window - (max_tokens or DEFAULT_REPLY_RESERVE) - fixed
    prompt_limited = False
    if run.max_prompt_tokens is not None:
        remaining = run.max_prompt_tokens - used.prompt_tokens - fixed
        if remaining < budget:
            budget, prompt_limited = remaining, True
    # Tool outputs (search results) may fill about a third of the context.
    room = route.context_window * CHARS_PER_TOKEN // 3
    items = await thread_items(history, read_image, registry, room)
    kept = truncation.apply(items, run.truncation_strategy, budget)
    if kept is None:
        if prompt_limited:
            raise RunIncomplete("max_prompt_tokens")
        raise RunFailure(
            "invalid_prompt",
            f"The thread's latest message does not fit the context window of "
            f"'{run.model}' ({route.context_window} tokens).",
        )
    chat = [*system, *(message for item in kept for message in item.messages)]
    tool_choice = run.tool_choice
    if tool_choice not in ("none", "auto") and any(s.run_id == run.id for s in history.steps):
        # `required` or a named tool asks for a call before the answer, not forever.
        tool_choice = "auto"
    return ChatRequest(
        model=route.served_name,
        messages=chat,
        tools=tools or None,
        tool_choice=chat_tool_choice(tool_choice, registry) if tools else None,
        parallel_tool_calls=run.parallel_tool_calls if tools else None,
        response_format=run.response_format if isinstance(run.response_format, dict) else None,
        temperature=run.temperature,
        top_p=run.top_p,
        max_tokens=max_tokens,
        reasoning_effort=run.reasoning_effort,
    )
