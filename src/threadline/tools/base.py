"""The protocol of built-in tools: the tools that Threadline runs itself during a run.

A built-in tool (`file_search`, `code_interpreter`, or a plug-in) is one class with:
- `type`: the tool's type in assistants, runs and step details (`{"type": "file_search"}`);
- `name` and `definition`: the function the model sees and calls;
- `start(context)`: its part in one run (a `ToolRun`), which streams each call as step
  deltas while the model writes it, runs the call, and adds to the run's answer
  (annotations, images);
- `restate(call, kept, memo)`: an earlier call of the thread as the model reads it again in a
  later prompt: the arguments and the output;
- `create(parts)`: how the app builds it from the server's parts (database, files, ...).

The engine knows tools only through this protocol and the registry (`tools/registry.py`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from threadline.backends.embedder_choice import Embedders
    from threadline.config import Settings
    from threadline.db.engine import Database
    from threadline.files.storage import FileStorage
    from threadline.vector_stores.index import ChunkIndex


@dataclass(frozen=True)
class ToolParts:
    """What the server holds that a tool may need to do its work."""

    settings: Settings
    db: Database
    storage: FileStorage
    chunk_index: ChunkIndex
    embedders: Embedders


@dataclass
class ToolContext:
    """What a run's built-in tools work with, read once when the run starts."""

    project_id: str = ""
    thread_id: str = ""
    run_id: str = ""
    # tool type -> the assistant's and the thread's `tool_resources` section, merged.
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    # tool type -> ids of files attached to the thread's messages for that tool.
    attached: dict[str, list[str]] = field(default_factory=dict)
    # The run's own earlier tool calls (step details entries), oldest first.
    earlier_calls: list[dict[str, Any]] = field(default_factory=list)
    # tool type -> the options the run gave that tool (its entry of `run.tools`).
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resource_list(self, tool_type: str, key: str) -> list[str]:
        return list((self.resources.get(tool_type) or {}).get(key) or [])


@dataclass
class CallResult:
    """A call that ran: its entry of the step's `tool_calls`, what to keep for restating it
    to the model later (`step.inputs[call id]`), and deltas that announce its outputs."""

    details: dict[str, Any]
    kept: dict[str, Any] = field(default_factory=dict)
    deltas: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AnswerParts:
    """What a tool adds to the run's answer message: content parts that come before the
    text (figures), and annotations of the text."""

    content: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    # Annotations that only the Responses API has a shape for (a container file citation),
    # kept beside the text's Assistants annotations.
    cited: list[dict[str, Any]] = field(default_factory=list)


class ToolRun(ABC):
    """A tool's part in one run. The engine makes one per run and tool, and calls it in
    order: `begin_call` and `stream_call` while the model writes a call, `call` once the
    model is done, `answer` when the run's message closes."""

    def begin_call(self, call_id: str) -> dict[str, Any]:
        """The tool's part of the first delta of a call (`{"<type>": {...}}`)."""
        return {}

    def stream_call(self, call_id: str, arguments: str) -> dict[str, Any] | None:
        """The tool's part of a further delta, now that the arguments so far are
        `arguments`; None when there is nothing new to show."""
        return None

    @abstractmethod
    async def call(self, call_id: str, arguments: str) -> CallResult: ...

    def answer(self, text: str) -> AnswerParts:
        """What this tool adds to a message of the run whose text is `text`."""
        return AnswerParts()


class BuiltinTool(ABC):
    type: ClassVar[str]
    name: ClassVar[str]
    definition: ClassVar[dict[str, Any]]  # a chat-completions function tool

    @classmethod
    @abstractmethod
    def create(cls, parts: ToolParts) -> BuiltinTool: ...

    @abstractmethod
    def start(self, context: ToolContext) -> ToolRun: ...

    @abstractmethod
    def restate(
        self, call: dict[str, Any], kept: dict[str, Any], memo: dict[str, Any], room: int
    ) -> tuple[str, str]:
        """An earlier call (its step details entry and what its result kept) as the model
        reads it in a later prompt: `(arguments, output)`. `memo` is shared by the calls of
        one run, oldest first; `room` is the characters an output may take."""

    async def aclose(self) -> None:  # noqa: B027 - optional: most tools hold nothing
        """Release what the tool holds (the server is stopping)."""
