"""A small built-in tool, loaded as a plug-in by the registry test (`THREADLINE_TOOLS`).

It counts the words of a text: its call streams the text as the model writes it, and the
answer gets an annotation wherever it quotes the count.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from threadline.tools.base import (
    AnswerParts,
    BuiltinTool,
    CallResult,
    ToolContext,
    ToolParts,
    ToolRun,
)

NAME = "word_count"


class WordCountRun(ToolRun):
    def __init__(self, context: ToolContext) -> None:
        self.context = context
        self.counts: list[int] = []

    def begin_call(self, call_id: str) -> dict[str, Any]:
        return {NAME: {"text": "", "count": None}}

    def stream_call(self, call_id: str, arguments: str) -> dict[str, Any] | None:
        return {NAME: {"written": len(arguments)}}

    async def call(self, call_id: str, arguments: str) -> CallResult:
        text = json.loads(arguments).get("text", "")
        count = len(text.split())
        self.counts.append(count)
        details = {"id": call_id, "type": NAME, NAME: {"text": text, "count": count}}
        return CallResult(
            details, kept={"run": self.context.run_id}, deltas=[{NAME: {"count": count}}]
        )

    def answer(self, text: str) -> AnswerParts:
        annotations = []
        for count in self.counts:
            start = text.find(str(count))
            if start >= 0:
                annotations.append(
                    {
                        "type": "file_path",
                        "text": str(count),
                        "start_index": start,
                        "end_index": start + len(str(count)),
                        "file_path": {"file_id": "file-counted"},
                    }
                )
        return AnswerParts(annotations=annotations)


class WordCountTool(BuiltinTool):
    type = NAME
    name = NAME
    definition: ClassVar[dict[str, Any]] = {
        "type": "function",
        "function": {
            "name": NAME,
            "description": "Count the words of a text.",
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        },
    }

    @classmethod
    def create(cls, parts: ToolParts) -> WordCountTool:
        return cls()

    def start(self, context: ToolContext) -> WordCountRun:
        return WordCountRun(context)

    def restate(
        self, call: dict[str, Any], kept: dict[str, Any], memo: dict[str, Any], room: int
    ) -> tuple[str, str]:
        return json.dumps({"text": call[NAME]["text"]}), f"{call[NAME]['count']} words"
