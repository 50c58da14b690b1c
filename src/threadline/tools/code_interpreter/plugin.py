"""The `code_interpreter` tool's plug-in: its part in a run or a response
(`tools/base.py`). The interpreter itself is `tool.py`; a response's container,
`container.py`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from threadline.backends.reply_decoders import JsonStringReader
from threadline.tools.base import (
    AnswerParts,
    BuiltinTool,
    CallResult,
    ToolContext,
    ToolParts,
    ToolRun,
)
from threadline.tools.code_interpreter.container import ContainerCode, citations, data_url
from threadline.tools.code_interpreter.sandbox import Limits
from threadline.tools.code_interpreter.sessions import Sessions
from threadline.tools.code_interpreter.tool import (
    _CODE_VALUE,
    CHAT_TOOL,
    NAME,
    CodeInterpreter,
    code_of,
    file_links,
)

if TYPE_CHECKING:
    from threadline.config import Settings


class CodeInterpreterRun(ToolRun):
    """Code of one run: streamed as the model writes it, run in the thread's session;
    figures go to the next message, written files can be linked from the answer. A
    response's code runs in its container instead (`container.py`): its figures are the
    call's image outputs, and links to files it wrote are container file citations."""

    def __init__(self, interpreter: CodeInterpreter, context: ToolContext) -> None:
        self.interpreter = interpreter
        self.context = context
        self.container_id: str | None = (context.options.get(NAME) or {}).get("container_id")
        files = context.resource_list(NAME, "file_ids")
        self.file_ids = files + [f for f in context.attached.get(NAME, []) if f not in files]
        self.readers: dict[str, tuple[JsonStringReader, list[int]]] = {}
        self.images: list[str] = []
        self.produced: dict[str, str] = {}  # /mnt/data name -> file id

    def begin_call(self, call_id: str) -> dict[str, Any]:
        self.readers[call_id] = (JsonStringReader(), [0])
        return {NAME: {"input": "", "outputs": []}}

    def stream_call(self, call_id: str, arguments: str) -> dict[str, Any] | None:
        reader, forwarded = self.readers[call_id]
        if forwarded[0] == 0:
            opening = _CODE_VALUE.match(arguments)
            if opening is None:
                return None
            forwarded[0] = opening.end()
        fragment = reader.feed(arguments[forwarded[0] :])
        forwarded[0] = len(arguments)
        return {NAME: {"input": fragment}} if fragment else None

    async def call(self, call_id: str, arguments: str) -> CallResult:
        code = code_of(arguments)
        context = self.context
        container = ContainerCode(self.interpreter)
        if self.container_id is not None:  # a response's
            container_id = self.container_id
            outcome = await container.run(context.project_id, container_id, code, call_id)
        else:  # a run's, in its thread's container
            container_id = await container.thread_container(context.project_id, context.thread_id)
            outcome = await container.run(
                context.project_id, container_id, code, call_id, run_files=self.file_ids
            )
            self.images += outcome.images
        kept = {
            "container_id": container_id,
            "image_urls": {id_: data_url(png) for id_, png in outcome.figures.items()},
        }
        self.produced.update(outcome.files)
        # Deltas number each output, as the SDK merges them by index.
        outputs = [{"index": i, **output} for i, output in enumerate(outcome.outputs)]
        return CallResult(
            {"id": call_id, "type": NAME, NAME: {"input": code, "outputs": outcome.outputs}},
            kept={"output": outcome.text, **kept},
            deltas=[{NAME: {"outputs": outputs}}],
        )

    def answer(self, text: str) -> AnswerParts:
        if self.container_id is not None:
            return AnswerParts(cited=citations(text, self.container_id, self.produced))
        images, self.images = self.images, []
        return AnswerParts(
            content=[
                {"type": "image_file", "image_file": {"file_id": image, "detail": "auto"}}
                for image in images
            ],
            annotations=file_links(text, self.produced),
        )


def limits_of(settings: Settings) -> Limits:
    mib = 1024 * 1024
    return Limits(
        wall_seconds=settings.code_wall_seconds,
        cpu_seconds=settings.code_cpu_seconds,
        memory_bytes=settings.code_memory_mb * mib,
        processes=settings.code_processes,
        disk_bytes=settings.code_disk_mb * mib,
        file_bytes=settings.code_file_mb * mib,
        session_memory_bytes=settings.code_session_memory_mb * mib,
        output_bytes=settings.code_output_mb * mib,
        cgroup=settings.code_cgroup,
    )


class CodeInterpreterTool(BuiltinTool):
    type = NAME
    name = NAME
    definition = CHAT_TOOL

    def __init__(self, interpreter: CodeInterpreter) -> None:
        self.interpreter = interpreter

    @classmethod
    def create(cls, parts: ToolParts) -> CodeInterpreterTool:
        settings = parts.settings
        sessions = Sessions(limits_of(settings), settings.code_idle_seconds)
        return cls(CodeInterpreter(parts.db, parts.storage, sessions))

    def start(self, context: ToolContext) -> CodeInterpreterRun:
        return CodeInterpreterRun(self.interpreter, context)

    def restate(
        self, call: dict[str, Any], kept: dict[str, Any], memo: dict[str, Any], room: int
    ) -> tuple[str, str]:
        details = call[NAME]
        logs = "".join(o["logs"] for o in details["outputs"] if o["type"] == "logs")
        return json.dumps({"code": details["input"]}), kept.get("output") or logs

    async def aclose(self) -> None:
        await self.interpreter.sessions.aclose()
