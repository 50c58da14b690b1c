"""A response's input, added to its thread; and the rule that every function call a response
made is answered before the next one runs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.conversations import service as conversations
from threadline.conversations.models import ConversationItem
from threadline.conversations.schemas import FunctionCallOutputParam, MessageItemParam
from threadline.errors import invalid
from threadline.responses.schemas import CreateResponseRequest
from threadline.runs.models import Run
from threadline.threads.models import Thread


async def add_input(
    session: AsyncSession, project_id: str, thread: Thread, body: CreateResponseRequest
) -> list[str]:
    """Adds the response's input to its thread; the ids of the items as they were added.
    An output for a call a response made is written into that call's step, so that both
    APIs read it as the call's answer."""
    given = body.input
    if given is None:
        return []
    if isinstance(given, str):
        given = [MessageItemParam(role="user", content=given)]
    added: list[str] = []
    for index, item in enumerate(given):
        if isinstance(item, FunctionCallOutputParam):
            answered = await answer_call(session, thread.id, item)
            if answered is not None:
                added.append(answered)
                continue
        created = await conversations.add_items(session, project_id, thread, [item], "input")
        if not created:
            raise invalid(f"Invalid 'input[{index}]'.", param=f"input[{index}]")
        added.append(created[0]["id"])
    return added


async def answer_call(
    session: AsyncSession, thread_id: str, item: FunctionCallOutputParam
) -> str | None:
    """The output item's id when `item` answers a call of one of the thread's runs that
    waits for its output; None otherwise."""
    for step in await conversations.call_steps(session, thread_id):
        calls = step.step_details.get("tool_calls", [])
        for call in calls:
            function = call.get("function") or {}
            if call.get("id") == item.call_id and function.get("output") is None:
                output = (
                    item.output
                    if isinstance(item.output, str)
                    else "\n".join(getattr(part, "text", "") for part in item.output)
                )
                updated = [
                    {**c, "function": {**c["function"], "output": output}}
                    if c.get("id") == item.call_id
                    else c
                    for c in calls
                ]
                step.step_details = {**step.step_details, "tool_calls": updated}
                await session.flush()
                return ids.as_prefix(item.call_id, ids.FUNCTION_CALL_OUTPUT)
    return None


async def check_answered(session: AsyncSession, thread_id: str) -> None:
    """Every function call a response made on the thread has its output before the next
    response runs (as OpenAI requires)."""
    answered = set(
        await session.scalars(
            select(ConversationItem.call_id).where(
                ConversationItem.thread_id == thread_id,
                ConversationItem.type == "function_call_output",
            )
        )
    )
    responses = set(
        await session.scalars(
            select(Run.id).where(Run.thread_id == thread_id, Run.kind == "response")
        )
    )
    for step in await conversations.call_steps(session, thread_id):
        if step.run_id not in responses:
            continue
        for call in step.step_details.get("tool_calls", []):
            function = call.get("function") or {}
            if (
                call.get("type") == "function"
                and function.get("output") is None
                and call["id"] not in answered
            ):
                raise invalid(
                    f"No tool output found for function call {call['id']}.", param="input"
                )
