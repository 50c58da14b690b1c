"""The web console, driven in a real headless Chromium against a real server whose model is
the scripted backend: signing in, building an assistant, chatting with it (a streamed answer,
a function output typed in), reading every step of a run, threads, files and vector stores;
conversations and responses (one followed live), and chatting through the Responses API.

The playground's, the run inspector's, a conversation's and a response's screenshots are
written to `$CONSOLE_SCREENSHOTS` (`make screenshots` sets it to docs/images/), or else to
the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ENGINE_ENV, make_client
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.store import create_key

# Debian's Chromium: Playwright drives it as it is, with no browser download of its own.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

LEAVE = (
    b"# Leave policy\n\nEmployees get 25 days of paid leave a year. Unused days expire at "
    b"the end of March. Sick leave is separate and unlimited with a doctor's note."
)
PLOT = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n\n"
    "days = [25, 20, 30]  # leave days by team\nprint('total', sum(days))\n"
    "plt.bar(['a', 'b', 'c'], days)\nplt.savefig('/mnt/data/leave.png')\nplt.show()\n"
)
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city"}},
    "required": ["city"],
}

expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def console_server(
    llm: ScriptedBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("console")
    server = Server(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}",
        data_dir=data_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
    ).start()
    yield server
    server.stop()


def origin(server: Server) -> str:
    return f"http://{server.host}:{server.port}"


@pytest.fixture
def key(console_server: Server) -> str:
    """A key of a project of its own (once a key exists, the server asks for one). Made on
    another thread: Playwright's event loop runs on this one while the browser is open."""
    project = f"console-{uuid.uuid4().hex[:10]}"
    with ThreadPoolExecutor(1) as other:
        return other.submit(create_key, console_server.database_url, project).result()


@pytest.fixture
def client(console_server: Server, key: str) -> Iterator[OpenAI]:
    with make_client(console_server, key) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def open_page(browser: Browser, server: Server, **options) -> tuple[Page, list[str]]:
    context = browser.new_context(base_url=origin(server), viewport=LAPTOP, **options)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


@pytest.fixture
def page(browser: Browser, console_server: Server) -> Iterator[Page]:
    page, problems = open_page(browser, console_server)
    yield page
    page.context.close()
    assert problems == []  # no script error on any page the test went through


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page: Page, key: str, path: str = "/assistants") -> None:
    page.goto(path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_have_count(0)


# -- serving ----------------------------------------------------------------------------------


def test_pages_assets_and_the_api_keep_their_addresses(console_server: Server, key: str) -> None:
    with httpx.Client(base_url=origin(console_server), timeout=30) as http:
        pages = ("/", "/assistants/asst_x", "/playground", "/threads/thread_x/runs/run_x")
        for path in (*pages, "/conversations/conv_x", "/responses", "/responses/resp_x"):
            page = http.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/console/app.js">' in page.text
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert "img-src * data:" in page.headers["content-security-policy"]
        script = http.get("/console/app.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers["cache-control"] == "no-cache"
        again = http.get("/console/app.js", headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304
        # Everything else answers as before: the API's errors in its JSON shape.
        for path in ("/console/missing.js", "/nope", "/v1/nope", "/v1/threads/thread_x/nope"):
            missing = http.get(path)
            assert missing.status_code == 404
            assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
        assert http.get("/healthz").json()["status"] == "ok"
        assert http.get("/v1/assistants").status_code == 401  # the console opens no door
    assert f"the console: {origin(console_server)}/" in console_server.log()


# -- signing in -------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_and_the_right_one_kept_for_the_tab(page: Page, key: str) -> None:
    page.goto("/threads")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill("sk-not-a-real-key-0000")
    page.get_by_role("button", name="Sign in").click()
    refused = page.get_by_role("alert")
    expect(refused).to_contain_text("Incorrect API key provided: sk-not********0000")
    assert page.evaluate("sessionStorage.length") == 0

    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Threads")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('threadline.api_key')") == key
    assert page.evaluate("localStorage.length + document.cookie.length") == 0
    page.reload()  # the same tab keeps its key
    expect(page.get_by_role("heading", name="Threads")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_local_mode_needs_no_key(browser: Browser, llm: ScriptedBackend, tmp_path: Path) -> None:
    server = Server(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}",
        data_dir=tmp_path,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
    ).start()
    try:
        with make_client(server, "anything") as local:
            local.beta.assistants.create(model="m", name="Local helper")
        page, problems = open_page(browser, server)
        page.goto("/")
        expect(page.get_by_role("link", name="Local helper")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
        assert problems == []
        page.context.close()
    finally:
        server.stop()


# -- assistants -------------------------------------------------------------------------------


def test_create_an_assistant_with_a_function_tool(page: Page, key: str, client: OpenAI) -> None:
    sign_in(page, key)
    page.get_by_role("link", name="New assistant").click()
    page.get_by_label("Name", exact=True).fill("Weather helper")
    page.get_by_label("Model").fill("scripted-weather")
    page.get_by_label("Instructions").fill("Answer with the weather.")
    page.get_by_label("Temperature").fill("0.4")
    page.get_by_role("button", name="Add function").click()
    function = page.locator("fieldset.function")
    function.get_by_label("Name").fill("get_weather")
    function.get_by_label("Description").fill("The weather in a city")
    parameters = function.get_by_label("Parameters (JSON schema)")
    parameters.fill('{"type": "object", "properties": ')
    page.get_by_role("button", name="Create assistant").click()
    expect(page.get_by_role("alert").first).to_contain_text("is not valid JSON")
    assert client.beta.assistants.list().data == []  # nothing was sent

    parameters.fill(json.dumps(WEATHER))
    expect(function.get_by_role("alert")).to_have_count(0)  # checked as it is typed
    page.get_by_role("button", name="Create assistant").click()
    expect(page.get_by_role("status")).to_have_text("Assistant created.")
    expect(page).to_have_url(re.compile(r"/assistants/asst_\w+$"))
    [assistant] = client.beta.assistants.list().data
    assert page.url.endswith(f"/assistants/{assistant.id}")
    assert assistant.name == "Weather helper" and assistant.model == "scripted-weather"
    assert assistant.instructions == "Answer with the weather." and assistant.temperature == 0.4
    [tool] = assistant.tools
    assert tool.type == "function" and tool.function.name == "get_weather"
    assert tool.function.parameters == WEATHER

    page.reload()  # the assistant's own address shows it again
    expect(page.get_by_label("Name", exact=True).first).to_have_value("Weather helper")
    page.get_by_label("Temperature").fill("1")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert client.beta.assistants.retrieve(assistant.id).temperature == 1.0

    page.get_by_role("link", name="Assistants").click()
    expect(page.get_by_role("link", name="Weather helper")).to_be_visible()
    page.get_by_role("link", name="Weather helper").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Really delete?").click()
    expect(page.get_by_text("No assistants yet")).to_be_visible()
    assert client.beta.assistants.list().data == []


# -- the playground ---------------------------------------------------------------------------

# Every change of a streaming answer's text, as the page shows it.
RECORD_STREAMED_TEXT = """() => {
  window.streamed = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('.streaming')) window.streamed.push(el.textContent);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_chat_streams_and_a_function_output_is_typed_in(
    page: Page, key: str, client: OpenAI, llm: ScriptedBackend, screenshots: Path, tmp_path: Path
) -> None:
    answer = "It is sunny in Paris today, 21 degrees and a light breeze from the west."
    model = llm.model(
        ToolCalls([("get_weather", '{"city": "Paris"}')]),
        Text(answer, chunks=16, chunk_delay=0.05),
    )
    assistant = client.beta.assistants.create(
        model=model,
        name="Weather helper",
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
    )
    notes = tmp_path / "trip.txt"
    notes.write_text("Paris, three days in June.")
    sign_in(page, key, f"/playground?assistant={assistant.id}")
    page.evaluate(RECORD_STREAMED_TEXT)
    page.get_by_placeholder("Write a message…").fill("What is the weather in Paris?")
    page.get_by_label("Attach files").set_input_files(notes)
    page.get_by_role("button", name="Send").click()

    needed = page.locator("form.tool-outputs")
    expect(needed.locator(".function-name")).to_have_text("get_weather")
    expect(needed.locator(".arguments")).to_contain_text('"city": "Paris"')
    expect(page.locator(".live-step").first).to_contain_text("function get_weather")
    expect(page.locator(".live-step").first).to_contain_text("in progress")
    needed.get_by_label("Output").fill('{"sky": "sunny", "celsius": 21}')
    needed.get_by_role("button", name="Submit output").click()

    expect(page.locator(".message.role-assistant .text")).to_have_text(answer)
    steps = page.locator(".live-step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("completed")
    expect(steps.nth(1)).to_contain_text("Message creation")
    expect(steps.nth(1)).to_contain_text("completed")
    streamed = page.evaluate("window.streamed")
    partial = [text for text in streamed if text and text != answer]
    assert partial and all(answer.startswith(text) for text in partial), streamed

    thread_id = re.search(r"thread=(thread_\w+)", page.url).group(1)
    [run] = client.beta.threads.runs.list(thread_id).data
    assert run.status == "completed"
    call = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data[0]
    assert call.step_details.tool_calls[0].function.output == '{"sky": "sunny", "celsius": 21}'
    question = client.beta.threads.messages.list(thread_id, order="asc").data[0]
    [attached] = question.attachments
    assert client.files.retrieve(attached.file_id).filename == "trip.txt"
    expect(page.locator(f'.message.role-user a[data-file-id="{attached.file_id}"]')).to_have_text(
        "trip.txt"
    )
    page.screenshot(path=screenshots / "console-playground.png")

    page.reload()  # the playground's address brings the thread back
    expect(page.locator(".message.role-assistant .text")).to_have_text(answer)
    expect(page.locator(".live-step")).to_have_count(2)


# -- the run inspector ------------------------------------------------------------------------


def test_the_run_inspector_opens_every_step(
    page: Page, key: str, client: OpenAI, llm: ScriptedBackend, screenshots: Path
) -> None:
    answer = "You get 25 days of paid leave a year; the chart shows them by team."
    model = llm.model(
        ToolCalls([("file_search", '{"query": "paid leave days"}')]),
        ToolCalls([("code_interpreter", json.dumps({"code": PLOT}))]),
        Text(answer),
    )
    leave = client.files.create(file=("leave.md", LEAVE), purpose="assistants")
    assistant = client.beta.assistants.create(
        model=model,
        tools=[{"type": "file_search"}, {"type": "code_interpreter"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [leave.id]}]}},
        temperature=0.3,
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "How many leave days? Plot them."}]},
    )
    assert run.status == "completed", run.last_error

    sign_in(page, key, f"/threads/{run.thread_id}")
    expect(page.locator(".message.role-assistant")).to_contain_text(answer)
    page.locator(".message.role-assistant .run-link").click()
    expect(page).to_have_url(re.compile(f"/threads/{run.thread_id}/runs/{run.id}$"))

    summary = page.locator(".run-summary")
    expect(summary.locator(".run-model")).to_have_text(model)
    expect(summary).to_contain_text("completed")
    total = run.usage.total_tokens
    expect(summary.locator(".run-usage")).to_contain_text(f"{total} total")
    steps = page.locator("details.step")
    expect(steps).to_have_count(3)
    search, code, written = steps.nth(0), steps.nth(1), steps.nth(2)
    for step in (search, code, written):
        expect(step.locator(".status")).to_have_text("completed")

    search.locator("summary").click()
    result = search.locator(".result").first
    expect(result.locator(".file-name")).to_have_text("leave.md")
    expect(result.locator(".score")).to_contain_text(re.compile(r"score \d\.\d{4}"))
    expect(result.locator(".chunk").first).to_contain_text("25 days of paid leave")
    expect(search.locator(".ranking")).to_contain_text("default_2024_08_21")
    expect(search.locator(".query")).to_have_text("paid leave days")

    code.locator("summary").click()
    expect(code.locator("pre.code")).to_contain_text("plt.bar(['a', 'b', 'c'], days)")
    expect(code.locator("pre.code .tok-keyword").first).to_have_text("import")
    expect(code.locator(".logs")).to_contain_text("total 75")
    image = code.locator(".images img")
    expect(image).to_have_count(1)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )

    written.locator("summary").click()
    expect(written.locator(".message .text")).to_have_text(answer)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top of the picture
    page.screenshot(path=screenshots / "console-run-inspector.png", full_page=True)

    page.set_viewport_size(PHONE)  # a phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_run_in_progress_updates_the_inspector_live(
    page: Page, key: str, client: OpenAI, llm: ScriptedBackend
) -> None:
    text = "A long answer that the model writes slowly, one character after another. " * 3
    model = llm.model(Text(text, per_char=True, chunk_delay=0.2))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Talk."}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)

    sign_in(page, key, f"/threads/{thread.id}/runs/{run.id}")
    expect(page.locator(".live")).to_be_visible()
    step = page.locator("details.step")
    expect(step.locator(".status")).to_have_text("in progress")
    step.locator("summary").click()
    streaming = step.locator(".streaming")
    expect(streaming).to_have_text(re.compile(r"^A long"))

    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    expect(page.locator(".run-summary .status").first).to_have_text("cancelled")
    expect(step.locator("summary .status")).to_have_text("cancelled")
    expect(page.locator(".live")).to_have_count(0)


# -- threads, files and vector stores ---------------------------------------------------------


def test_threads_are_searched_by_metadata_and_id(page: Page, key: str, client: OpenAI) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    mine = client.beta.threads.create(
        metadata={"team": team}, messages=[{"role": "user", "content": "Hello from the team"}]
    )
    other = client.beta.threads.create(metadata={"team": "another"})
    sign_in(page, key, "/threads")
    expect(page.locator("table.threads tbody tr")).to_have_count(2)
    expect(page.locator("table.threads tbody tr").first).to_contain_text(other.id)  # newest first

    page.get_by_label("Metadata").fill(f"team={team}")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/threads\?metadata=team%3D"))
    expect(page.locator("table.threads tbody tr")).to_have_count(1)
    page.reload()
    expect(page.locator("table.threads tbody tr")).to_have_count(1)
    page.get_by_role("link", name=mine.id).click()
    expect(page.locator(".message.role-user")).to_contain_text("Hello from the team")

    page.goto(f"/threads?id={other.id[:-3]}")  # ids begin alike: a long prefix
    expect(page.locator("table.threads tbody tr")).to_have_count(1)
    expect(page.locator("table.threads tbody")).to_contain_text(other.id)


def test_files_and_a_vector_store_searched(page: Page, key: str, client: OpenAI, tmp_path: Path):
    handbook = tmp_path / "handbook.md"
    handbook.write_bytes(LEAVE)
    sign_in(page, key, "/files")
    page.get_by_label("File", exact=True).set_input_files(handbook)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("link", name="handbook.md")).to_be_visible()
    [uploaded] = client.files.list().data
    assert uploaded.filename == "handbook.md" and uploaded.purpose == "assistants"

    page.get_by_role("link", name="Vector stores").click()
    page.get_by_label("Name").fill("Handbook")
    page.get_by_label(re.compile("handbook.md")).check()
    page.get_by_role("button", name="Create vector store").click()
    expect(page.get_by_role("heading", name="Handbook")).to_be_visible()
    row = page.locator(f'tr[data-file-id="{uploaded.id}"]')
    expect(row.locator(".status")).to_have_text("completed")

    page.get_by_placeholder("What to look for").fill("paid leave days")
    page.get_by_role("button", name="Search", exact=True).click()
    result = page.locator(".search-results .result").first
    expect(result.locator(".file-name")).to_have_text("handbook.md")
    expect(result.locator(".score")).to_contain_text("score ")
    expect(result.locator(".chunk").first).to_contain_text("25 days of paid leave")

    page.get_by_role("link", name="Files").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Really delete?").click()
    expect(page.get_by_text("No files yet.")).to_be_visible()
    assert client.files.list().data == []


# -- conversations and responses --------------------------------------------------------------


def test_a_conversation_and_its_response_show_every_item(
    page: Page, key: str, client: OpenAI, llm: ScriptedBackend, screenshots: Path
) -> None:
    leave = client.files.create(file=("leave.md", LEAVE), purpose="assistants")
    store = client.vector_stores.create(name="Handbook")
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=leave.id)
    answer = (
        "You get 25 days of paid leave a year 【0†leave.md】. The chart shows them by team: "
        "[leave.png](sandbox:/mnt/data/leave.png)."
    )
    model = llm.model(
        ToolCalls([("file_search", '{"query": "paid leave days"}')]),
        ToolCalls([("code_interpreter", json.dumps({"code": PLOT}))]),
        Text(answer),
    )
    conversation = client.conversations.create(metadata={"topic": "leave"})
    response = client.responses.create(
        model=model,
        conversation=conversation.id,
        input="How many leave days? Plot them.",
        tools=[
            {"type": "file_search", "vector_store_ids": [store.id]},
            {"type": "code_interpreter", "container": {"type": "auto"}},
        ],
    )
    assert response.status == "completed", response.error
    # A response of its own keeps its items on a hidden thread: no conversation.
    alone = client.responses.create(model=llm.model(Text("Alone.")), input="Just this.")

    sign_in(page, key, "/conversations")
    rows = page.locator("table.conversations tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name=conversation.id)).to_be_visible()
    expect(rows.first).to_contain_text("topic=leave")
    page.get_by_label("Conversation ID").fill(conversation.id)
    page.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(f"/conversations/{conversation.id}$"))

    items = page.locator(".conversation-items > *")
    expect(items).to_have_count(4)
    question, search, code, written = (items.nth(i) for i in range(4))
    expect(question).to_have_class(re.compile(r"\brole-user\b"))
    expect(question.locator(".text")).to_have_text("How many leave days? Plot them.")
    expect(search).to_have_attribute("data-item-type", "file_search_call")
    expect(search.locator(".query")).to_have_text("paid leave days")
    result = search.locator(".result").first
    expect(result.locator(".file-name")).to_have_text("leave.md")
    expect(result.locator(".file-name")).to_have_attribute("href", f"/files/{leave.id}")
    expect(result.locator(".score")).to_contain_text(re.compile(r"score \d\.\d{4}"))
    expect(result.locator(".chunk")).to_contain_text("25 days of paid leave")
    expect(code).to_have_attribute("data-item-type", "code_interpreter_call")
    expect(code.locator("pre.code")).to_contain_text("plt.bar(['a', 'b', 'c'], days)")
    expect(code.locator("pre.code .tok-keyword").first).to_have_text("import")
    expect(code.locator(".logs")).to_contain_text("total 75")
    image = code.locator(".images img")
    expect(image).to_have_count(1)
    assert (image.get_attribute("src") or "").startswith("data:image/png;base64,")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    expect(written).to_have_class(re.compile(r"\brole-assistant\b"))
    expect(written.locator(".text")).to_have_text(answer)
    citation = written.locator("a.citation")
    expect(citation).to_have_text("【0†leave.md】")
    expect(citation).to_have_attribute("href", f"/files/{leave.id}")
    chart = written.locator("a.container-file")
    expect(chart).to_have_text("sandbox:/mnt/data/leave.png")
    with page.expect_download() as download:
        chart.click()
    assert download.value.suggested_filename == "leave.png"
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "console-conversation.png", full_page=True)

    page.locator("#nav").get_by_role("link", name="Responses").click()
    rows = page.locator("table.responses tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(alone.id)  # newest first
    expect(rows.nth(1)).to_contain_text(conversation.id)
    rows.nth(1).get_by_role("link", name=response.id).click()
    expect(page).to_have_url(re.compile(f"/responses/{response.id}$"))
    summary = page.locator(".response-summary")
    expect(summary.locator(".status").first).to_have_text("completed")
    expect(summary.locator(".response-model")).to_have_text(model)
    expect(summary.locator(".response-usage")).to_contain_text(
        f"{response.usage.total_tokens} total"
    )
    expect(summary.get_by_role("link", name=conversation.id)).to_be_visible()
    expect(page.locator(".input-items > *")).to_have_count(1)
    expect(page.locator(".input-items .text")).to_have_text("How many leave days? Plot them.")
    outputs = page.locator(".output-items > *")
    expect(outputs).to_have_count(3)
    # Asked with `include`: the results and the outputs its creation did not ask for.
    expect(outputs.nth(0).locator(".chunk").first).to_contain_text("25 days of paid leave")
    expect(outputs.nth(1).locator(".logs")).to_contain_text("total 75")
    expect(outputs.nth(2).locator(".text")).to_have_text(answer)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=outputs.nth(1).locator(".images img").element_handle(),
    )
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "console-response.png", full_page=True)

    page.set_viewport_size(PHONE)  # a phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_responses_list_pages_and_links(
    page: Page, key: str, client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(always=Text("Hello there."))
    made = [client.responses.create(model=model, input=f"Hi {n}") for n in range(3)]
    client.responses.create(model=model, input="Forget me.", store=False)
    sign_in(page, key, "/responses")
    rows = page.locator("table.responses tbody tr")
    expect(rows).to_have_count(3)  # a response not stored is not listed
    for row, response in zip(rows.all(), reversed(made), strict=True):  # newest first
        expect(row).to_have_attribute("data-response-id", response.id)
        expect(row.locator(".status")).to_have_text("completed")
        expect(row).to_contain_text("Hello there.")
    rows.nth(2).get_by_role("link", name=made[0].id).click()
    expect(page.get_by_role("heading", name=f"Response {made[0].id}")).to_be_visible()
    expect(page.locator(".input-items .text")).to_have_text("Hi 0")
    expect(page.locator(".output-items .text")).to_have_text("Hello there.")
    page.go_back()
    expect(rows).to_have_count(3)


def test_a_background_response_updates_its_page_live(
    page: Page, key: str, client: OpenAI, llm: ScriptedBackend
) -> None:
    text = "A long answer that the model writes slowly, one character after another. " * 2
    model = llm.model(Text(text, per_char=True, chunk_delay=0.05))
    response = client.responses.create(model=model, input="Talk.", background=True)

    sign_in(page, key, f"/responses/{response.id}")
    expect(page.locator(".live")).to_be_visible()
    streaming = page.locator(".output-items .streaming")
    expect(streaming).to_have_text(re.compile(r"^A long"))
    shown = streaming.text_content() or ""
    assert shown and text.startswith(shown) and len(shown) < len(text)
    assert client.responses.retrieve(response.id).status == "in_progress"  # before the end

    summary = page.locator(".response-summary")
    expect(summary.locator(".status").first).to_have_text("completed")
    expect(page.locator(".live")).to_have_count(0)
    expect(page.locator(".output-items .streaming")).to_have_count(0)
    expect(page.locator(".output-items .message .text")).to_have_text(text.strip())
    expect(summary.locator(".response-usage")).to_contain_text(" total")


def test_the_playground_chats_through_the_responses_api(
    page: Page, key: str, client: OpenAI, llm: ScriptedBackend
) -> None:
    answer = "Six times seven is 42: the code printed it, and the answer is always the same."
    model = llm.model(
        ToolCalls([("code_interpreter", json.dumps({"code": "print(6 * 7)"}))]),
        Text(answer, chunks=16, chunk_delay=0.05),
    )
    sign_in(page, key, "/playground")
    page.locator(".switch").get_by_role("link", name="Responses").click()
    expect(page).to_have_url(re.compile(r"/playground\?mode=responses"))
    expect(page.locator(".switch [aria-current=page]")).to_have_text("Responses")
    page.get_by_label("Model").fill(model)
    page.get_by_label("Instructions").fill("Compute with code.")
    page.get_by_label("code_interpreter").check()
    page.evaluate(RECORD_STREAMED_TEXT)
    page.get_by_placeholder("Write a message…").fill("What is six times seven?")
    page.get_by_role("button", name="Send").click()

    expect(page.locator(".chat .message.role-assistant .text")).to_have_text(answer)
    expect(page.locator(".chat .message.role-user .text")).to_have_text("What is six times seven?")
    call = page.locator(".live-items .code-call")
    expect(call).to_have_count(1)
    expect(call.locator("pre.code")).to_contain_text("print(6 * 7)")
    expect(call.locator(".logs")).to_contain_text("42")
    expect(page.locator(".response-head .status")).to_have_text("completed")
    streamed = page.evaluate("window.streamed")
    partial = [text for text in streamed if text and text != answer]
    assert partial and all(answer.startswith(text) for text in partial), streamed

    conversation_id = re.search(r"conversation=(conv_\w+)", page.url).group(1)
    items = client.conversations.items.list(conversation_id, order="asc").data
    assert [item.type for item in items] == ["message", "code_interpreter_call", "message"]
    response_id = page.locator(".response-link").text_content() or ""
    sent = client.responses.retrieve(response_id)
    assert sent.conversation.id == conversation_id and sent.instructions == "Compute with code."
    assert [tool.type for tool in sent.tools] == ["code_interpreter"]

    page.reload()  # the address brings the conversation back
    expect(page.locator(".chat .message.role-assistant .text")).to_have_text(answer)
    expect(page.locator(".chat .message.role-user .text")).to_have_text("What is six times seven?")
    expect(page.locator(".live-items .code-call .logs")).to_contain_text("42")
    expect(page.get_by_label("Model")).to_have_value(model)
    expect(page.locator(".response-link")).to_have_text(response_id)


def test_the_api_docs_render_with_nothing_from_outside(page: Page, console_server: Server) -> None:
    """/docs (Swagger UI over /openapi.json) draws every operation from the server's own
    files: any request to another host is refused."""
    outside: list[str] = []

    def only_here(route) -> None:
        if route.request.url.startswith(origin(console_server) + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_here)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Threadline")
    expect(
        page.locator(".opblock-summary-path", has_text="/v1/threads/{thread_id}/runs").first
    ).to_be_visible()
    assert outside == []
