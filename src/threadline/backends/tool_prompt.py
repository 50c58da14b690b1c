"""What the embedded model is shown when tools are offered: the hints and the guiding
preamble, the history restated for a small model, and the grammars its calls are written
under (Qwen's `<tool_call>` blocks, or the older single JSON object)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

REPLY_HINT = (
    "You may call a function or answer directly. Most messages need no function: answer "
    'them with {"reply": <your answer>}. Only when the user asks for information that a '
    'function provides, write {"name": <function-name>, "arguments": <arguments>}.'
)
CALL_HINT = 'Answer with a JSON object: {"name": <function-name>, "arguments": <arguments>}.'
# The "guided" prompt: when a function is the way to answer, and when it is not.
GUIDE = (
    "Call a function whenever the user's request needs what a function provides (current "
    "weather, prices, times, orders, sending, scheduling, translating), even when the user "
    "does not name the function: never invent what a function would return. Call several "
    "when the request needs several. Answer directly, with no function, when none of them "
    "fits: greetings, thanks, writing, code, explanations, general knowledge."
)
CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
MAX_CALLS = 4


def named_function(tool_choice: Any) -> str | None:
    """The function `tool_choice` forces, if it names one."""
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        return tool_choice["function"]["name"]
    return None


def tool_schema(
    tools: list[dict[str, Any]], tool_choice: Any, reply: Any | None = None
) -> dict[str, Any]:
    """The grammar's schema: one object per callable tool, and (given `reply`, the reply
    value's schema: a string, or the response format's) the reply unless a call is required."""
    wanted = named_function(tool_choice)
    if wanted is not None:
        tools = [t for t in tools if t["function"]["name"] == wanted]
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool["function"]["name"]},
                "arguments": tool["function"].get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    if reply is not None and tool_choice in (None, "auto"):
        options.append({"type": "object", "properties": {"reply": reply}, "required": ["reply"]})
    return {"anyOf": options} if len(options) > 1 else options[0]


def plain_history(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as a small model follows them best: each call and its result restated
    within the user's turn, which then asks for the answer. (Given its own call as an
    assistant turn, a 0.5B model tends to repeat it instead of answering; told in words that
    "convert_currency was called with ...", it explained how to call the function. Written
    as `Result of f(arguments): ...`, every after-result case is answered from the result:
    benchmarks/tool_use.py, docs/performance.md section 9.)"""
    calls: dict[str, tuple[str, str]] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.get("tool_calls"):
            for call in message["tool_calls"]:
                function = call["function"]
                calls[call["id"]] = (function["name"], function["arguments"] or "{}")
        elif message.get("role") == "tool":
            call = calls.get(message.get("tool_call_id", ""))
            of = f" of {call[0]}({call[1]})" if call else ""
            result = f"Result{of}: {message.get('content', '')}"
            if out and out[-1].get("results") is not None:
                out[-1]["results"].append(result)
            else:
                out.append({"role": "user", "results": [result]})
        else:
            out.append(_text_only(message))
    merged: list[dict[str, Any]] = []
    for message in out:
        if message.get("results") is None:
            merged.append(message)
            continue
        these = "this result" if len(message["results"]) == 1 else "these results"
        text = "\n\n".join(message["results"]) + f"\n\nAnswer my question with {these}."
        if merged and merged[-1]["role"] == "user":
            merged[-1] = {"role": "user", "content": f"{merged[-1]['content']}\n\n{text}"}
        else:
            merged.append({"role": "user", "content": text})
    return merged


def _text_only(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
    return {"role": message["role"], "content": content or ""}


def json_grammar(schema: dict[str, Any]) -> str:
    """An llguidance grammar for one JSON value that `schema` allows."""
    return checked(f"%llguidance {{}}\nstart: {_json_rule(schema)}\n")


def calls_grammar(call_schema: dict[str, Any], parallel: bool) -> str:
    """An llguidance grammar for `<tool_call>` blocks, each holding a call that `call_schema`
    allows: one, or up to MAX_CALLS when `parallel`.

    The tags are text, which the model may write as its special tokens or in pieces. Written
    as its special tokens only (`<[id]>`), the 0.5B model ended every turn after one call
    (benchmarks/tool_use.py: two-call cases 0 of 4, against 2 of 4 this way)."""
    more = f' ("\\n" block){{0,{MAX_CALLS - 1}}}' if parallel else ""
    return checked(
        "%llguidance {}\n"
        f"start: block{more}\n"
        f'block: "{CALL_OPEN}\\n" call "\\n{CALL_CLOSE}"\n'
        f"call: {_json_rule(call_schema)}\n"
    )


def _json_rule(schema: dict[str, Any]) -> str:
    # Written as Qwen writes JSON (`{"a": 1, "b": 2}`): free whitespace would let a small
    # model pad its calls. Lenient: a keyword llguidance does not know (a `format` of its own,
    # say) is not enforced instead of failing the request.
    guidance = {
        "lenient": True,
        "whitespace_flexible": False,
        "item_separator": ", ",
        "key_separator": ": ",
    }
    return "%json " + json.dumps({**_closed(schema), "x-guidance": guidance})


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMAS = ("items", "additionalItems", "contains", "not", "if", "then", "else")


def _closed(schema: Any) -> Any:
    """`schema` with no properties beyond those named, where it does not say otherwise: as
    function parameters are meant (and as OpenAI's strict mode and llama.cpp's own converter
    read them), not as JSON Schema's default, which lets a small model invent arguments."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _closed(value) for name, value in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_closed(value) for value in out[key]]
    for key in _SCHEMAS:
        if key in out:
            out[key] = _closed(out[key])
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=64)
def checked(grammar: str) -> str:
    """`grammar`, once llguidance has read it: llama.cpp runs a grammar it cannot read as
    no grammar at all, and says so only in its own log."""
    import llguidance

    if problem := llguidance.LLMatcher.validate_grammar(grammar):
        raise GrammarError(problem.strip().splitlines()[0])
    return grammar


class GrammarError(ValueError):
    """A schema (a function's parameters, a response format) no grammar can be made of."""


def call_or_answer(start: str) -> str | None:
    """Whether a reply that begins with `start` is a call ("call") or an answer ("answer"),
    or None while it does not tell yet."""
    text = start.lstrip()
    if text.startswith((CALL_OPEN, "{", "[{")):
        return "call"
    if not text or CALL_OPEN.startswith(text) or "```".startswith(text) or text == "[":
        return None
    if text.startswith("```"):
        rest = text[3:].lstrip()
        if rest[:4].lower() == "json":
            rest = rest[4:].lstrip()
        elif "json".startswith(rest.lower()):
            return None  # perhaps "json" to come
        if not rest:
            return None
        return "call" if rest.startswith(("{", "[")) else "answer"
    return "answer"


def format_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if not response_format:
        return None
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    if response_format.get("type") == "json_schema":
        return response_format.get("json_schema", {}).get("schema") or {"type": "object"}
    return None


def with_system_hint(messages: list[dict[str, Any]], hint: str) -> list[dict[str, Any]]:
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{hint}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": hint}, *messages]
