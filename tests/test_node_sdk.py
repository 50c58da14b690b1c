"""The same flows through the official `openai` npm SDK (tests/node/flows.mjs).

The run engine does not exist yet, so the runs, run steps and run messages the script reads
are inserted into the store here. Node and `npm ci` in tests/node are required: their
absence fails this test, never skips it.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.node import run_script
from tests.support.server import Server
from tests.support.store import Run, RunStep, insert, run_fields, step_fields
from threadline import ids
from threadline.threads.models import Message

SEARCH_CONTENT = "Employees get 25 days of paid leave a year."
FILE_SEARCH_TOOL = {
    "type": "file_search",
    "file_search": {
        "max_num_results": None,
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
    },
}


def _message_row(thread_id: str, run: dict[str, Any], text: str) -> dict[str, Any]:
    message_id, created_at = ids.mint(ids.MESSAGE)
    return {
        "id": message_id,
        "thread_id": thread_id,
        "created_at": created_at,
        "role": "assistant",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "attachments": [],
        "assistant_id": run["assistant_id"],
        "run_id": run["id"],
        "status": "completed",
        "incomplete_details": None,
        "completed_at": created_at,
        "incomplete_at": None,
        "metadata_": {},
    }


def _seed(server: Server, api_key: str) -> dict[str, str]:
    """An assistant, a file and a thread holding two completed runs, the later one with three
    steps (code_interpreter, file_search, message_creation) and the message it created."""
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as http:
        assistant = http.post(
            "/assistants", json={"model": "gpt-4o", "name": "Seeded", "tools": [FILE_SEARCH_TOOL]}
        )
        assert assistant.status_code == 200, assistant.text
        upload = http.post(
            "/files",
            files={"file": ("handbook.txt", SEARCH_CONTENT.encode())},
            data={"purpose": "assistants"},
        )
        assert upload.status_code == 200, upload.text
        thread = http.post(
            "/threads",
            json={"messages": [{"role": "user", "content": "How many days of leave?"}]},
        )
        assert thread.status_code == 200, thread.text
        thread_id = thread.json()["id"]
        messages = http.get(f"/threads/{thread_id}/messages").json()["data"]
        assert len(messages) == 1, messages
    assistant_id, file_id = assistant.json()["id"], upload.json()["id"]

    earlier = run_fields(thread_id, assistant_id)
    run = run_fields(
        thread_id,
        assistant_id,
        instructions="Answer from the handbook.",
        tools=[FILE_SEARCH_TOOL],
        metadata_={"seeded": "yes"},
    )
    code_step = step_fields(
        run,
        {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": ids.new_id(ids.CALL),
                    "type": "code_interpreter",
                    "code_interpreter": {
                        "input": "print(2 + 2)",
                        "outputs": [{"type": "logs", "logs": "4"}],
                    },
                }
            ],
        },
    )
    search_step = step_fields(
        run,
        {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": ids.new_id(ids.CALL),
                    "type": "file_search",
                    "file_search": {
                        "ranking_options": {
                            "ranker": "default_2024_08_21",
                            "score_threshold": 0.0,
                        },
                        "results": [
                            {
                                "file_id": file_id,
                                "file_name": "handbook.txt",
                                "score": 0.87,
                                "content": [{"type": "text", "text": SEARCH_CONTENT}],
                            }
                        ],
                    },
                }
            ],
        },
    )
    message = _message_row(thread_id, run, "25 days a year.")
    message_step = step_fields(
        run, {"type": "message_creation", "message_creation": {"message_id": message["id"]}}
    )
    insert(
        server.database_url,
        (Run, earlier),
        (Run, run),
        (RunStep, code_step),
        (RunStep, search_step),
        (Message, message),
        (RunStep, message_step),
    )
    return {
        "THREADLINE_BASE_URL": server.base_url,
        "THREADLINE_API_KEY": api_key,
        "THREADLINE_ASSISTANT_ID": assistant_id,
        "THREADLINE_FILE_ID": file_id,
        "THREADLINE_THREAD_ID": thread_id,
        "THREADLINE_USER_MESSAGE_ID": messages[0]["id"],
        "THREADLINE_EARLIER_RUN_ID": earlier["id"],
        "THREADLINE_RUN_ID": run["id"],
        "THREADLINE_FIRST_STEP_ID": code_step["id"],
        "THREADLINE_STEP_ID": search_step["id"],
        "THREADLINE_MESSAGE_STEP_ID": message_step["id"],
        "THREADLINE_RUN_MESSAGE_ID": message["id"],
        "THREADLINE_SEARCH_CONTENT": SEARCH_CONTENT,
    }


def test_node_sdk_flows(server: Server, api_key: str) -> None:
    env = _seed(server, api_key)
    run_script("flows.mjs", server, env)
