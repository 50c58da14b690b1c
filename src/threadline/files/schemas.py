"""Wire models of files (field-exact with OpenAIFile)."""

from __future__ import annotations

from typing import Literal

from threadline.schemas import Omittable, Wire

UploadPurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
EXPIRES_MIN_SECONDS = 3600
EXPIRES_MAX_SECONDS = 2_592_000


class FileObject(Wire):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: Omittable[int]
    filename: str
    purpose: str
    status: str
    status_details: Omittable[str]
