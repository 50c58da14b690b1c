"""The Responses API over the run engine and the threads store: a response is a run of its
own kind, its input and output are items of a thread (its conversation's, or its own)."""

from __future__ import annotations

import base64
import time

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls, texts

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}
CALL = ToolCalls([("get_weather", '{"city": "Paris"}')])


def sent(llm: ScriptedBackend, model: str, index: int = -1) -> list[dict]:
    return llm.received(model)[index]["messages"]


def test_a_response_and_its_reads(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Hello there!"))
    response = client.responses.create(
        model=model, input="Hi", instructions="Be brief.", metadata={"k": "v"}, temperature=0.5
    )
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.output_text == "Hello there!"
    assert response.instructions == "Be brief." and response.metadata == {"k": "v"}
    assert response.model == model and response.temperature == 0.5
    assert response.usage.input_tokens == 20 and response.usage.output_tokens == 10
    assert response.usage.total_tokens == 30
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.status == "completed" and message.content[0].type == "output_text"
    assert response.conversation is None and response.previous_response_id is None
    assert response.text.format.type == "text" and response.truncation == "disabled"
    assert client.responses.retrieve(response.id) == response
    items = client.responses.input_items.list(response.id)
    assert [item.content[0].text for item in items.data] == ["Hi"]
    assert sent(llm, model) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_a_function_round_trip_through_previous_response_id(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(CALL, Text("It is 22C in Paris."))
    first = client.responses.create(
        model=model, input="Weather in Paris?", tools=[WEATHER], instructions="Use tools."
    )
    # A response that calls functions is complete: the calls are its output.
    assert first.status == "completed"
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.arguments == '{"city": "Paris"}' and call.id.startswith("fc_")
    assert first.tools[0].name == "get_weather"
    second = client.responses.create(
        model=model,
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22C"}],
    )
    assert second.status == "completed" and second.output_text == "It is 22C in Paris."
    assert second.previous_response_id == first.id
    history = sent(llm, model)
    # The whole context, the call and its output included; not the earlier instructions.
    assert history[0] == {"role": "user", "content": "Weather in Paris?"}
    assert history[1]["tool_calls"][0]["id"] == call.call_id
    assert history[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "22C"}
    assert not any(m["role"] == "system" for m in history)
    (output_item,) = client.responses.input_items.list(second.id).data
    assert output_item.type == "function_call_output" and output_item.output == "22C"


def test_a_call_must_be_answered_before_going_on(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(CALL, Text("unused"))
    first = client.responses.create(model=model, input="Weather?", tools=[WEATHER])
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model=model, previous_response_id=first.id, input="Well?")
    assert error.value.body["message"] == (
        f"No tool output found for function call {first.output[0].call_id}."
    )
    assert len(llm.received(model)) == 1


def test_a_conversation_accumulates_items(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(CALL, Text("It is 22C."), Text("You are welcome."))
    conversation = client.conversations.create()
    first = client.responses.create(
        model=model, conversation=conversation.id, input="Weather in Paris?", tools=[WEATHER]
    )
    assert first.conversation.id == conversation.id
    call = first.output[0]
    client.responses.create(
        model=model,
        conversation={"id": conversation.id},
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22C"}],
    )
    client.responses.create(model=model, conversation=conversation.id, input="Thanks!")
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
        "message",
    ]
    assert [m["role"] for m in sent(llm, model)] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(
            model=model, conversation=conversation.id, previous_response_id=first.id, input="x"
        )
    assert error.value.body["param"] == "previous_response_id"


def test_branching_off_an_earlier_response(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("A."), Text("B."), Text("C."))
    root = client.responses.create(model=model, input="Start")
    left = client.responses.create(model=model, previous_response_id=root.id, input="Left")
    right = client.responses.create(model=model, previous_response_id=root.id, input="Right")
    assert texts(sent(llm, model, 1)) == ["Start", "A.", "Left"]
    assert texts(sent(llm, model, 2)) == ["Start", "A.", "Right"]
    assert left.output_text == "B." and right.output_text == "C."


def test_a_thread_goes_on_in_both_apis(client: OpenAI, llm: ScriptedBackend) -> None:
    """Started with Assistants, continued with Responses through its conversation, then run
    again with Assistants: each sees the other's messages and calls."""
    model = llm.model(Text("From a run."), CALL, Text("From a response."), Text("Run again."))
    assistant = client.beta.assistants.create(model=model)
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "One"}]}
    )
    conversation_id = "conv_" + run.thread_id.removeprefix("thread_")
    called = client.responses.create(
        model=model, conversation=conversation_id, input="Two", tools=[WEATHER]
    )
    client.responses.create(
        model=model,
        conversation=conversation_id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": called.output[0].call_id,
                "output": "sunny"}],
    )  # fmt: skip
    assert texts(sent(llm, model, 1)) == ["One", "From a run.", "Two"]
    again = client.beta.threads.runs.create_and_poll(
        thread_id=run.thread_id, assistant_id=assistant.id
    )
    assert again.status == "completed"
    history = sent(llm, model)
    assert texts(history) == ["One", "From a run.", "Two", "sunny", "From a response."]
    # The Assistants side lists its messages and its own runs only.
    messages = client.beta.threads.messages.list(run.thread_id, order="asc").data
    assert [m.content[0].text.value for m in messages] == [
        "One", "From a run.", "Two", "From a response.", "Run again.",
    ]  # fmt: skip
    runs = client.beta.threads.runs.list(run.thread_id).data
    assert [r.id for r in runs] == [again.id, run.id]


def test_store_false_keeps_nothing(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Ephemeral."))
    response = client.responses.create(model=model, input="Hi", store=False)
    assert response.status == "completed" and response.output_text == "Ephemeral."
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model=model, previous_response_id=response.id, input="More")
    assert error.value.body["param"] == "previous_response_id"


def test_background_poll_and_cancel(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Done in the background."), Text("never", first_delay=5))
    response = client.responses.create(model=model, input="Go", background=True)
    assert response.status in ("queued", "in_progress") and response.background
    deadline = time.monotonic() + 20
    while (response := client.responses.retrieve(response.id)).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert response.output_text == "Done in the background."
    slow = client.responses.create(model=model, input="Slow", background=True)
    cancelled = client.responses.cancel(slow.id)
    while cancelled.status != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.05)
        cancelled = client.responses.retrieve(slow.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(client.responses.create(model=model, input="x").id)


def test_an_assistant_as_the_prompt(client: OpenAI, llm: ScriptedBackend) -> None:
    """Threadline's extension: `prompt.id` names an assistant whose model, instructions and
    function tools the response takes."""
    model = llm.model(CALL)
    assistant = client.beta.assistants.create(
        model=model,
        instructions="You are the weather desk.",
        tools=[{"type": "function", "function": {"name": "get_weather",
                                                 "parameters": WEATHER["parameters"]}}],
    )  # fmt: skip
    response = client.responses.create(prompt={"id": assistant.id}, input="Paris?")
    assert response.model == model and response.instructions == "You are the weather desk."
    assert response.output[0].name == "get_weather"
    assert sent(llm, model)[0] == {"role": "system", "content": "You are the weather desk."}


def test_text_format_and_bounds_reach_the_backend(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text('{"a": 1}'), Text("cut", finish="length"))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    response = client.responses.create(
        model=model,
        input="JSON please",
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}},
    )
    assert response.text.format.type == "json_schema" and response.text.format.name == "thing"
    assert llm.received(model)[0]["response_format"]["json_schema"]["schema"] == schema
    cut = client.responses.create(model=model, input="Long", max_output_tokens=16)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert llm.received(model)[1]["max_tokens"] == 16


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m", "input": "x", "previous_response_id": "resp_missing"},
         "previous_response_id"),
        ({"model": "m", "input": "x", "conversation": "conv_missing"}, None),
        ({"model": "m", "input": "x", "tools": [WEATHER],
          "tool_choice": {"type": "function", "name": "other"}}, "tool_choice.name"),
        ({"model": "m", "input": "x", "background": True, "store": False}, "store"),
        ({"model": "m", "input": [{"type": "nonsense"}]}, "input[0].type"),
        ({"model": "m", "input": "x", "max_output_tokens": 15}, "max_output_tokens"),
        ({"model": "m", "input": "x", "prompt": {"id": "pmpt_123"}}, "prompt.id"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused(http: httpx.Client, body: dict, param: str | None) -> None:
    response = http.post("/responses", json=body)
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error


def test_unknown_responses_are_404(client: OpenAI) -> None:
    for call in (
        lambda: client.responses.retrieve("resp_missing"),
        lambda: client.responses.delete("resp_missing"),
        lambda: client.responses.input_items.list("resp_missing"),
    ):
        with pytest.raises(openai.NotFoundError):
            call()


def test_delete(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Bye."))
    response = client.responses.create(model=model, input="Hi")
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


TEXT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_the_stream_of_a_text_answer(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Hello there, friend!", chunks=3))
    with client.responses.stream(model=model, input="Hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [event.type for event in events] == TEXT_ORDER
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas == final.output_text == "Hello there, friend!"
    item_id = events[2].item.id
    assert all(getattr(event, "item_id", item_id) == item_id for event in events)
    assert events[0].response.status == "queued" and events[-1].response.status == "completed"
    assert client.responses.retrieve(final.id).output_text == deltas


def test_the_stream_of_a_function_call(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(ToolCalls([("get_weather", '{"city": "Paris"}')]))
    events = list(client.responses.create(model=model, input="W?", tools=[WEATHER], stream=True))
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 3,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added, done = events[2].item, events[-2].item
    assert added.type == done.type == "function_call" and added.id == done.id
    assert events[-3].arguments == '{"city": "Paris"}' and done.status == "completed"


def test_a_background_stream_resumes_after_a_sequence_number(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    text = "A long answer, one character at a time."
    model = llm.model(Text(text, per_char=True, chunk_delay=0.02))
    seen = []
    stream = client.responses.create(model=model, input="Go", background=True, stream=True)
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta" and len(seen) > 8:
            break  # the connection drops
    stream.close()
    assert seen[0].type == "response.created" and seen[1].type == "response.queued"
    response_id = seen[0].response.id
    rest = list(
        client.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number)
    )
    numbers = [event.sequence_number for event in seen + rest]
    assert numbers == list(range(len(numbers)))
    deltas = [e.delta for e in seen + rest if e.type == "response.output_text.delta"]
    assert "".join(deltas) == text and rest[-1].type == "response.completed"
    # From the start, once it has ended: the same events, numbered the same.
    again = list(client.responses.retrieve(response_id, stream=True))
    assert [(e.type, e.sequence_number) for e in again] == [
        (e.type, e.sequence_number) for e in seen + rest
    ]


def test_a_stream_with_store_false_leaves_nothing(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Gone after."))
    events = list(client.responses.create(model=model, input="Hi", stream=True, store=False))
    assert events[-1].type == "response.completed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(events[0].response.id)


def test_input_files_are_read_to_the_model(client: OpenAI, llm: ScriptedBackend) -> None:
    """An `input_file` (uploaded, or inline as `file_data`) is given to the model as its
    text; one by URL is refused (this server fetches nothing)."""
    model = llm.model(always=Text("Read."))
    uploaded = client.files.create(
        file=("policy.md", b"# Policy\n\nEmployees get 25 days of leave."), purpose="user_data"
    )
    inline = base64.b64encode(b"Trains are refunded in full.").decode()
    response = client.responses.create(
        model=model,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Summarize these."},
                    {"type": "input_file", "file_id": uploaded.id},
                    {"type": "input_file", "filename": "travel.txt",
                     "file_data": f"data:text/plain;base64,{inline}"},
                ],
            }
        ],
    )  # fmt: skip
    assert response.status == "completed"
    (question,) = [m for m in sent(llm, model) if m["role"] == "user"]
    assert question["content"].startswith("Summarize these.")
    assert "[File: policy.md]" in question["content"] and "25 days" in question["content"]
    assert "[File: travel.txt]" in question["content"] and "refunded" in question["content"]
    kept = client.responses.input_items.list(response.id).data[0].content
    assert [part.type for part in kept] == ["input_text", "input_file", "input_file"]
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(
            model=model,
            input=[{"role": "user", "content": [
                {"type": "input_file", "file_url": "https://example.com/a.pdf"}]}],
        )  # fmt: skip
    assert error.value.body["param"] == "input[0].content[0].file_url"
