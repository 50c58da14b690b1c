"""The model objects of `GET /v1/models`, as the OpenAI API returns them."""

from __future__ import annotations

from typing import Literal

from threadline.schemas import Wire


class ModelObject(Wire):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(Wire):
    object: Literal["list"] = "list"
    data: list[ModelObject]
