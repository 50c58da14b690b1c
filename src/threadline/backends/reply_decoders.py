"""Reading the embedded model's output as it streams: the answer's text, and the calls it
wrote (as Qwen's `<tool_call>` blocks after deciding first, or as the older grammar's JSON
object, whose reply string is decoded as it arrives)."""

from __future__ import annotations

import json
import re

from threadline.backends.base import Chunk, TextDelta, ToolCallDelta
from threadline.backends.tool_parsing import ParsedCall, kept, parse

_HEAD = re.compile(r'\s*\{\s*"(reply|name)"')
_REPLY_VALUE = re.compile(r'\s*\{\s*"reply"\s*:\s*"')


class JsonStringReader:
    """Decodes a JSON string value as its characters arrive (after the opening quote)."""

    def __init__(self) -> None:
        self.pending = ""
        self.done = False

    def feed(self, text: str) -> str:
        out: list[str] = []
        self.pending += text
        i = 0
        pending = self.pending
        while i < len(pending) and not self.done:
            char = pending[i]
            if char == '"':
                self.done = True
                i += 1
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(pending):
                break  # wait for the escaped character
            kind = pending[i + 1]
            if kind == "u":
                # A surrogate pair is two escapes that decode together.
                size = 12 if pending[i + 2 : i + 4].lower() in ("d8", "d9", "da", "db") else 6
                if i + size > len(pending):
                    break
                out.append(json.loads(f'"{pending[i : i + size]}"'))
                i += size
                continue
            out.append(json.loads(f'"\\{kind}"'))
            i += 2
        self.pending = pending[i:]
        return "".join(out)


class JsonReplyDecoder:
    """Turns the model's output into chunks: plain text as it comes, or with tools offered
    the grammar's JSON: a call (emitted whole at the end) or a reply (streamed)."""

    def __init__(self, tools: bool, structured_reply: bool) -> None:
        self.tools = tools
        self.structured_reply = structured_reply
        self.raw = ""
        self.branch: str | None = None  # "reply" or "call"
        self.reader = JsonStringReader()
        self.call: tuple[str, str] | None = None

    def feed(self, text: str) -> list[Chunk]:
        if not self.tools:
            return [TextDelta(text)]
        self.raw += text
        if self.branch is None:
            head = _HEAD.match(self.raw)
            if head is None:
                return []
            if head.group(1) == "name" or self.structured_reply:
                self.branch = "reply" if head.group(1) == "reply" else "call"
                return []
            value = _REPLY_VALUE.match(self.raw)
            if value is None:
                return []  # the reply's opening quote has not come yet
            self.branch = "reply"
            return self._reply(self.raw[value.end() :])
        if self.branch == "reply" and not self.structured_reply:
            return self._reply(text)
        return []

    @property
    def called(self) -> bool:
        return self.call is not None

    def _reply(self, text: str) -> list[Chunk]:
        if self.reader.done:
            return []
        out = self.reader.feed(text)
        return [TextDelta(out)] if out else []

    def finish(self) -> list[Chunk]:
        if not self.tools:
            return []
        try:
            value = json.loads(self.raw)
        except json.JSONDecodeError:
            # Cut short (max tokens, cancel): whatever reply text there was has been sent.
            return []
        if "name" in value:
            self.call = (value["name"], json.dumps(value.get("arguments", {})))
            return [ToolCallDelta(index=0, name=self.call[0], arguments=self.call[1])]
        if self.structured_reply:
            return [TextDelta(json.dumps(value.get("reply")))]
        return []


class NativeReplyDecoder:
    """Turns the model's output into chunks when it decides first: an answer streams as it
    comes; `<tool_call>` blocks are parsed when the output ends."""

    def __init__(
        self,
        names: list[str],
        decides: bool,
        required: dict[str, list[str]] | None = None,
        request: str = "",
    ) -> None:
        self.names = names
        self.required = required or {}
        self.request = request  # the user's message: later calls must ask about it
        self.raw = ""
        # The worker says when calls follow; without a decision (a call is required), the
        # output is calls from the start.
        self.answering: bool | None = None if decides else False
        self.calls: list[ParsedCall] = []

    def feed(self, text: str) -> list[Chunk]:
        if self.answering is None:
            self.answering = True
        if self.answering:
            return [TextDelta(text)]
        self.raw += text
        return []

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def finish(self) -> list[Chunk]:
        if self.answering is not False:
            return []
        # A call cut short (max tokens, cancel) is dropped: there is nothing to run.
        self.calls = kept(parse(self.raw, self.names)[1], self.required, self.request)
        return [
            ToolCallDelta(index=index, name=call.name, arguments=call.arguments)
            for index, call in enumerate(self.calls)
        ]
