"""Token budgets and truncation: what the model is sent, and runs that run out."""

from __future__ import annotations

from openai import OpenAI

from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls, texts
from tests.test_runs import WEATHER


def long_thread(client: OpenAI, count: int, size: int = 300):
    return client.beta.threads.create(
        messages=[
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i} " + "x" * size}
            for i in range(count)
        ]
    )


def test_last_messages_keeps_only_the_newest(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("ok"))
    assistant = client.beta.assistants.create(model=model, instructions="Sys.")
    thread = long_thread(client, 6, size=10)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
    )
    assert run.status == "completed"
    sent = texts(llm.received(model)[0]["messages"])
    assert sent[0] == "Sys."
    assert [t.split()[0] for t in sent[1:]] == ["m4", "m5"]


def test_auto_truncation_drops_from_the_middle(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("ok"))
    assistant = client.beta.assistants.create(model=model)
    thread = long_thread(client, 20)  # about 100 tokens each
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=700
    )
    assert run.status == "completed"
    kept = [t.split()[0] for t in texts(llm.received(model)[0]["messages"])]
    assert kept[0] == "m0"  # the opening stays
    assert kept[-1] == "m19"  # the newest stays
    assert 2 < len(kept) < 20
    assert kept[1:] == [f"m{i}" for i in range(20 - len(kept) + 1, 20)]  # newest, contiguous


def test_prompt_budget_that_cannot_be_met(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("never"))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "y" * 5000}]  # far over 256 tokens
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=256
    )
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert llm.received(model) == []


def test_completion_budget_cuts_the_message(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("A long story that was cut", finish="length", usage=(50, 300)))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Story"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=300
    )
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 300
    assert llm.received(model)[0]["max_tokens"] == 300
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "max_tokens"
    assert message.content[0].text.value == "A long story that was cut"


def test_budgets_span_the_runs_turns(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(
        ToolCalls([("get_weather", '{"city": "Oslo"}')], usage=(100, 280)),
        Text("never sent"),
    )
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=280
    )
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "1"}]
    )
    # The first turn spent the whole completion budget: no second model call.
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert len(llm.received(model)) == 1
    assert run.usage.total_tokens == 380


def test_a_reply_the_backend_cut_ends_incomplete(client: OpenAI, llm: ScriptedBackend) -> None:
    """No budget, but the backend stopped the reply at a bound of its own (the embedded
    model's reply bound or its stop at a loop, a server's context): the same ending."""
    model = llm.model(Text("Again and again and again", finish="length", usage=(40, 1024)))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go on"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.max_completion_tokens is None
    assert run.usage.completion_tokens == 1024
    assert "max_tokens" not in llm.received(model)[0]
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "max_tokens"
    assert message.content[0].text.value == "Again and again and again"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [step.status for step in steps] == ["completed"]
