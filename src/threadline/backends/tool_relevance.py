"""How near a request is to the functions offered: one half of the embedded model's decision
to call one (`backends/embedded.py`), the other being the model's own probability of
beginning a call.

The measure is the cosine similarity, under the packaged all-MiniLM-L6-v2 that file_search
already uses, between the user's message and each function as words (its name, description,
and parameters with theirs); the highest one counts. A 0.5B model alone calls a weather
function for "What is 15 times 8?"; that message is far from every function offered, and the
product of the two keeps it from calling (benchmarks/tool_decision.py, docs/performance.md
section 9). A call it decides on may then name only the functions about as near as the
nearest (NEAR): offered a timer, a calendar and email for "Set a 5 minute timer and add
'Call mom' to my calendar", the 0.5B went on to write an email too. Calls run on the
embedded model's worker thread: each function's vector is kept,
so a turn embeds only its message (a few milliseconds on 2 cores).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from threadline.backends import onnx_embedder

log = logging.getLogger("threadline.embedded")

KEPT = 256  # functions' vectors kept, the least recently used dropped first
# A call may name only a function this near the nearest one: on the dev cases, every wanted
# function was within 0.098 of it and the next unwanted one 0.115 away (the midpoint).
NEAR = 0.105


@dataclass(frozen=True)
class Measured:
    best: float  # the highest similarity of the request to a function
    near: list[dict[str, Any]]  # the functions within NEAR of it, in the order offered


def describe(tool: dict[str, Any]) -> str:
    """A function as the encoder reads it: "get weather: Get the current weather in a city.
    Takes city (the city's name), unit." (better on the dev cases than the name and
    description alone)."""
    function = tool["function"]
    properties = (function.get("parameters") or {}).get("properties") or {}
    takes = ", ".join(
        name.replace("_", " ") + (f" ({spec['description']})" if spec.get("description") else "")
        for name, spec in properties.items()
        if isinstance(spec, dict)
    )
    words = function["name"].replace("_", " ")
    return f"{words}: {function.get('description') or ''}. Takes {takes}."


class ToolRelevance:
    """The encoder, loaded on first use; `measure` is synchronous (the caller's thread)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._encoder: Any = None
        self._problem: str | None = None
        self._kept: OrderedDict[str, np.ndarray] = OrderedDict()

    def _load(self) -> Any:
        if self._encoder is None and self._problem is None:
            try:
                folder = onnx_embedder.prepare(onnx_embedder.MINILM_L6, onnx_embedder.cache_dir())
                self._encoder = onnx_embedder.OnnxEncoder(
                    folder, onnx_embedder.MINILM_L6.window, self.threads
                )
            except Exception as error:  # not installed, or its files do not check out
                self._problem = str(error)
                log.warning(
                    "embedded model: functions' relevance cannot be measured (%s); the model "
                    "decides alone whether to call one",
                    error,
                )
        return self._encoder

    def _vectors(self, encoder: Any, texts: list[str]) -> np.ndarray:
        missing = [text for text in texts if text not in self._kept]
        if missing:
            for text, vector in zip(missing, encoder.encode(missing), strict=True):
                self._kept[text] = vector
        for text in texts:
            self._kept.move_to_end(text)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return np.stack([self._kept[text] for text in texts])

    def measure(self, request: str, tools: list[dict[str, Any]]) -> Measured | None:
        """How near `request` is to the nearest of `tools`, and which are about as near;
        None when it cannot be measured here (the model then decides alone)."""
        encoder = self._load()
        if encoder is None or not tools or not request.strip():
            return None
        functions = self._vectors(encoder, [describe(tool) for tool in tools])
        similarity = functions @ encoder.encode([request])[0]
        best = float(np.max(similarity))
        near = [tool for tool, s in zip(tools, similarity, strict=True) if s >= best - NEAR]
        return Measured(best, near)
