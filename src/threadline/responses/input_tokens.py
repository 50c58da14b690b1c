"""Input token counts (`POST /responses/input_tokens`): the tokens of the prompt the same
request would give the model if sent to `POST /responses`.

The prompt is the engine's own: the request is stored as a response would be (its context
resolved, its conversation's or previous response's thread found or copied, its input added,
its run made) in a transaction that is always rolled back, the thread's history read inside
it, and the first turn's chat request built from them as the run loop builds it. The model's
backend then counts it with the model's own chat template and tokenizer; one that cannot (an
OpenAI-compatible server without a tokenize endpoint) has it estimated, and the log says so.
Nothing is stored, and a request that `POST /responses` would refuse is refused the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline import ids
from threadline.backends.base import Usage
from threadline.backends.registry import ModelRegistry
from threadline.db.engine import Database
from threadline.engine.history import ImageReader
from threadline.engine.outcomes import RunFailure
from threadline.engine.prompt import build_request
from threadline.engine.reader import thread_history
from threadline.engine.tokens import count_prompt
from threadline.errors import invalid
from threadline.files.storage import FileStorage
from threadline.responses import service
from threadline.responses.schemas import CreateResponseRequest, TokenCountsRequest
from threadline.tools.registry import ToolRegistry


@dataclass(frozen=True)
class PromptParts:
    """What building and counting a prompt takes, as the engine has it: the model routes,
    the built-in tools (the functions the model sees for them), and the reader of the files
    a prompt carries (images, files to read)."""

    models: ModelRegistry
    tools: ToolRegistry
    read_file: ImageReader


def as_response(body: TokenCountsRequest) -> CreateResponseRequest:
    """The `POST /responses` request with the same fields (every other one left out)."""
    given = {name: getattr(body, name) for name in body.model_fields_set}
    given.pop("personality", None)  # a style preset: no part of the prompt here
    return CreateResponseRequest.model_construct(**given)


async def count_input_tokens(
    db: Database,
    storage: FileStorage,
    parts: PromptParts,
    project_id: str,
    body: TokenCountsRequest,
) -> int:
    request = as_response(body)
    service.check_request(request)
    assert request.model is not None  # no `prompt` here: `check_request` asked for a model
    route = parts.models.resolve(request.model)
    if route is None:
        raise invalid(
            f"No backend serves the model '{request.model}'. Configure "
            "THREADLINE_LLM_BASE_URL or a models file.",
            param="model",
        )
    async with db.dry_run() as session:
        run, _ = await service.insert_response(
            session, storage, project_id, request, ids.new_id("resp_"), None
        )
        history = await thread_history(session, run.thread_id)
        try:
            chat = await build_request(run, route, Usage(), history, parts.read_file, parts.tools)
        except RunFailure as failure:  # the input does not fit the model's context window
            raise invalid(failure.message, param="input") from failure
    return await count_prompt(route.backend, chat)
