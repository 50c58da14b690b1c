"""Tool calls that a model wrote into its text instead of `tool_calls`.

Many models served behind OpenAI-compatible servers answer a tool request in one of these
forms when the server does not parse them:

- Hermes / Qwen: `<tool_call>{"name": "f", "arguments": {...}}</tool_call>` (one or more)
- Llama 3.1 style: `<function=f>{...}</function>`
- a fenced JSON block: ```json {"name": "f", "arguments": {...}} ``` (or a list of them)
- bare JSON: the whole reply is `{"name": "f", "parameters": {...}}` (or a list)

`parse` finds them (only for tools that were offered) and `TextToolCalls` does it on a
stream: text that cannot be part of a call is forwarded at once; text that may be is held
back until the reply ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from threadline.backends.base import Chunk, Finish, TextDelta, ToolCallDelta

MARKERS = ("<tool_call>", "<function=", "```")
_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FUNCTION = re.compile(r"<function=([\w.-]+)>\s*(.*?)\s*(?:</function>|$)", re.S)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)\n?\s*```", re.S)


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str  # a JSON object, as text


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _calls_in(value: Any, tools: set[str]) -> list[ParsedCall] | None:
    """Calls described by a decoded JSON value, or None if it is not (only) calls."""
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            return None
        name = item.get("name")
        if name is None and isinstance(item.get("function"), dict):
            item = item["function"]
            name = item.get("name")
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            arguments = _load(arguments)
        if name not in tools or not isinstance(arguments, dict):
            return None
        calls.append(ParsedCall(name, json.dumps(arguments)))
    return calls or None


def parse(text: str, tools: Iterable[str]) -> tuple[str, list[ParsedCall]]:
    """(the text outside any call, the calls) for a whole reply."""
    names = set(tools)
    if not names:
        return text, []
    calls: list[ParsedCall] = []

    def hermes(match: re.Match[str]) -> str:
        found = _calls_in(_load(match.group(1)), names)
        if found is None:
            return match.group(0)
        calls.extend(found)
        return ""

    def function(match: re.Match[str]) -> str:
        arguments = _load(match.group(2) or "{}")
        if match.group(1) not in names or not isinstance(arguments, dict):
            return match.group(0)
        calls.append(ParsedCall(match.group(1), json.dumps(arguments)))
        return ""

    def fenced(match: re.Match[str]) -> str:
        found = _calls_in(_load(match.group(1)), names)
        if found is None:
            return match.group(0)
        calls.extend(found)
        return ""

    rest = _HERMES.sub(hermes, text)
    rest = _FUNCTION.sub(function, rest)
    rest = _FENCE.sub(fenced, rest)
    if not calls:
        found = _calls_in(_load(rest.strip()), names)
        if found is not None:
            return "", found
    return rest.strip() if calls else rest, calls


class TextToolCalls:
    """Streams a reply's text, holding back what may be a tool call written as text."""

    def __init__(self, tools: Iterable[str]) -> None:
        self.tools = set(tools)
        self.text = ""
        self.forwarded = 0
        self.holding = False

    def feed(self, fragment: str) -> str:
        """Add a fragment; the text that can be forwarded now."""
        self.text += fragment
        if self.holding:
            return ""
        start = len(self.text) - len(self.text.lstrip())
        if self.text[start : start + 1] in ("{", "["):
            self.holding = True  # perhaps bare JSON: wait for the whole reply
            return ""
        safe = len(self.text)
        for marker in MARKERS:
            found = self.text.find(marker, self.forwarded)
            if found != -1:
                self.holding = True
                safe = min(safe, found)
        if not self.holding:
            # Keep back a tail that could be the beginning of a marker.
            for marker in MARKERS:
                for size in range(len(marker) - 1, 0, -1):
                    if self.text.endswith(marker[:size]):
                        safe = min(safe, len(self.text) - size)
                        break
        out = self.text[self.forwarded : safe]
        self.forwarded = max(self.forwarded, safe)
        return out

    def finish(self) -> tuple[str, list[ParsedCall]]:
        """The text still to forward, and the calls found in what was held back."""
        held = self.text[self.forwarded :]
        self.forwarded = len(self.text)
        rest, calls = parse(held, self.tools)
        return (rest if calls else held), calls


async def with_text_tool_calls(
    chunks: AsyncIterator[Chunk], tools: Iterable[str]
) -> AsyncIterator[Chunk]:
    """Turn tool calls written as text into real ones; native calls pass through."""
    watcher = TextToolCalls(tools)
    native = False
    async for chunk in chunks:
        if isinstance(chunk, TextDelta):
            if out := watcher.feed(chunk.text):
                yield TextDelta(out)
        elif isinstance(chunk, ToolCallDelta):
            native = True
            yield chunk
        else:
            assert isinstance(chunk, Finish)
            rest, calls = watcher.finish()
            if native or not calls:
                if rest:
                    yield TextDelta(rest)
            else:
                if rest:
                    yield TextDelta(rest)
                for index, call in enumerate(calls):
                    yield ToolCallDelta(index=index, name=call.name, arguments=call.arguments)
                chunk = Finish("tool_calls", chunk.usage)
            yield chunk


def required_arguments(tools: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Each offered function's required parameters, by name."""
    out: dict[str, list[str]] = {}
    for tool in tools:
        function = tool.get("function") or {}
        required = (function.get("parameters") or {}).get("required") or []
        out[function.get("name", "")] = [name for name in required if isinstance(name, str)]
    return out


def _asked(call: ParsedCall, required: dict[str, list[str]]) -> dict[str, Any] | None:
    """What `call` asks: the values of its function's required arguments, or of all its
    arguments when none is required; None when its arguments are not an object."""
    arguments = _load(call.arguments)
    if not isinstance(arguments, dict):
        return None
    names = required.get(call.name) or sorted(arguments)
    return {name: arguments.get(name) for name in names}


def _key(call: ParsedCall, required: dict[str, list[str]]) -> tuple[str, str]:
    asked = _asked(call, required)
    if asked is None:
        return call.name, call.arguments
    plain = {name: _plain(value) for name, value in asked.items()}
    return call.name, json.dumps(plain, sort_keys=True, ensure_ascii=False)


def _plain(value: Any) -> Any:
    """A value as a repeat is judged: text without case or outer and doubled spaces."""
    return " ".join(value.casefold().split()) if isinstance(value, str) else value


def kept(
    calls: list[ParsedCall], required: dict[str, list[str]], request: str = ""
) -> list[ParsedCall]:
    """`calls` up to the first that strays: one that asks again what an earlier one asked
    (the same function, the same values of its required arguments, or of all its arguments
    when none is required), or a later one whose asked values the request never mentions.
    Offered several calls in a turn, a small model tends to go on writing: the one it wants
    again ("MSFT" four times, Oslo's weather in celsius then fahrenheit), or the same for
    places nobody asked about (Rome's weather, then London's, Paris's and Berlin's)."""
    said = _plain(request)
    seen: set[tuple[str, str]] = set()
    out: list[ParsedCall] = []
    for call in calls:
        key = _key(call, required)
        if key in seen or (out and said and not _mentioned(call, required, said)):
            break
        seen.add(key)
        out.append(call)
    return out


def _mentioned(call: ParsedCall, required: dict[str, list[str]], said: str) -> bool:
    asked = _asked(call, required)
    if asked is None:
        return True
    return any(
        str(_plain(value)) in said
        for value in asked.values()
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value)
    )


class CallWatch:
    """Reads the calls as they are written, to see the first that strays (`kept`)."""

    def __init__(self, tools: list[dict[str, Any]], request: str = "") -> None:
        self.names = [tool["function"]["name"] for tool in tools]
        self.required = required_arguments(tools)
        self.request = request
        self.text = ""
        self.closed = 0

    def strayed(self, text: str) -> bool:
        self.text += text
        closed = self.text.count("</tool_call>")
        if closed == self.closed:
            return False
        self.closed = closed
        calls = parse(self.text, self.names)[1]
        return len(kept(calls, self.required, self.request)) < len(calls)
