"""Ways for the embedded model to decide whether a turn calls a function, side by side.

For each case of benchmarks/tool_use_cases.json (both halves, reported apart), the prompt
the embedded backend gives the model (its chat template, the case's functions, the user's
message) is evaluated once by llama.cpp, and each method's evidence read from it:

- `first`: the reply's likeliest first tokens (what the backend does today: greedy, up to 8
  tokens, until they show a call or an answer);
- `p_call`: the probability that the reply's first token begins a call (`<tool_call>`, `{`,
  `[{`), read from the first token's distribution instead of its argmax;
- `ask:<name>`: a short question appended after the user's message as a turn of its own
  (the prompt up to there is reused from llama.cpp's cache), scored by P(yes) / P(yes or no)
  of the first answer token;
- `embed`: cosine similarity of the user's message and each function's name and
  description under the MiniLM file_search already uses; the highest one.

Rules over that evidence (a threshold, or two pieces combined) are fitted on the dev half
only and then scored on the held-out half. Decision accuracy here is whether the turn calls
at all (a case expecting calls, the after-result ones included, wants a call); which function
and its arguments are benchmarks/tool_use.py's end-to-end figures. Added time: the extra
prompt tokens each method evaluates, timed.

    .venv/bin/python benchmarks/tool_decision.py [--model NAME] [--evidence out.json]
    .venv/bin/python benchmarks/tool_decision.py --from-evidence out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import emit, stamp, verdict
from tool_use import CASES, INSTRUCTIONS, model_file

from threadline.backends import packaged_model
from threadline.backends.llama_runtime import LlamaRuntime
from threadline.backends.onnx_embedder import MINILM_L6, OnnxEmbedder, cache_dir
from threadline.backends.tool_prompt import GUIDE, call_or_answer, with_system_hint
from threadline.backends.tool_relevance import describe

LOOKAHEAD = 8
TOP = 20
# Few short examples of answering without a function, for the `fewshot` prompt.
FEWSHOT = (
    "Most messages need no function. Examples: 'Write a poem about rain' -> answer it "
    "yourself. 'What is 9 times 6?' -> answer it yourself. 'Who painted the Mona Lisa?' -> "
    "answer it yourself. Call a function only when the message needs what the function "
    "provides."
)
PROMPTS = {"plain": None, "guided": GUIDE, "fewshot": FEWSHOT}
QUESTIONS = {
    "need": "Does answering my last message need one of the functions? Answer yes or no.",
    "yesno": "Call a function for that? yes/no",
    "live": (
        "Does my last message ask for live data or an action that only one of the functions "
        "can give? Answer yes or no."
    ),
}


def tools_of(case: dict[str, Any], catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"type": "function", "function": {"name": name, **catalogue[name]}}
        for name in case["tools"]
    ]


class Probe:
    """llama.cpp's runtime with the first token's distribution and timings at hand."""

    def __init__(self, path: Path, threads: int) -> None:
        self.runtime = LlamaRuntime(path, 4096, threads)

    def complete(self, tokens: list[int], n: int) -> tuple[list[dict[str, Any]], str, float]:
        """The first `n` greedy tokens' entries (each with its top alternatives), their text,
        and the prompt's evaluation time in ms (llama.cpp's own timing)."""
        entries: list[dict[str, Any]] = []
        text = ""
        prompt_ms = 0.0

        def each(chunk: dict[str, Any]) -> bool:
            nonlocal text, prompt_ms
            if timings := chunk.get("timings"):
                prompt_ms = timings.get("prompt_ms", 0.0)
            choice = chunk["choices"][0]
            text += choice.get("text") or ""
            entries.extend((choice.get("logprobs") or {}).get("content") or ())
            return False

        self.runtime._server.handle_completions(
            {"prompt": tokens, "n_predict": n, "temperature": 0.0, "logprobs": TOP,
             "stream": True, "cache_prompt": True},
            each,
        )  # fmt: skip
        return entries, text, prompt_ms


def first_token_shares(entry: dict[str, Any]) -> dict[str, float]:
    """P(call start), P(yes), P(no) of one token's distribution (top alternatives)."""
    call = yes = no = 0.0
    for option in entry.get("top_logprobs") or ():
        p = math.exp(option["logprob"])
        token = option["token"]
        if call_or_answer(token) == "call" or token.lstrip().startswith("<tool"):
            call += p
        word = token.strip().strip(".,!").casefold()
        yes += p if word == "yes" else 0.0
        no += p if word == "no" else 0.0
    return {"call": call, "yes": yes, "no": no}


def evidence(
    probe: Probe, embedder: Any, cases: list[dict], catalogue: dict, prompts: list[str], ask: bool
) -> list[dict]:
    rows = []
    for case in cases:
        tools = tools_of(case, catalogue)
        user = {"role": "user", "content": case["user"]}
        row: dict[str, Any] = {"id": case["id"], "half": case["half"], "kind": case["kind"],
                               "wants_call": bool(case["expect"])}  # fmt: skip
        for prompt in prompts:
            hint = PROMPTS[prompt]
            messages = [{"role": "system", "content": INSTRUCTIONS}, user]
            if hint:
                messages = with_system_hint(messages, hint)
            tokens = probe.runtime.prompt_tokens(messages, tools)
            entries, text, ms = probe.complete(tokens, LOOKAHEAD)
            row[f"{prompt}:first"] = call_or_answer(text) == "call"
            row[f"{prompt}:p_call"] = first_token_shares(entries[0])["call"] if entries else 0.0
            row[f"{prompt}:prompt_tokens"] = len(tokens)
            row[f"{prompt}:prompt_ms"] = ms
            if prompt == "plain":
                # What an answer written without the functions costs: its own prompt.
                alone = probe.runtime.prompt_tokens(messages, None)
                row["alone:ms"] = probe.complete(alone, 1)[2]
            if prompt != "plain" or not ask:
                continue
            for name, question in QUESTIONS.items():
                asked = probe.runtime.prompt_tokens(
                    [*messages, {"role": "user", "content": question}], tools
                )
                started = time.perf_counter()
                entries, _, ms = probe.complete(asked, 1)
                row[f"ask:{name}:ms"] = (time.perf_counter() - started) * 1000
                row[f"ask:{name}:tokens"] = len(asked) - len(tokens) + 3
                shares = first_token_shares(entries[0]) if entries else {"yes": 0, "no": 0}
                both = shares["yes"] + shares["no"]
                row[f"ask:{name}"] = shares["yes"] / both if both else 0.5
        described = np.asarray(embedder.encode([describe(t) for t in tools]))  # kept, in use
        started = time.perf_counter()
        query = np.asarray(embedder.encode([case["user"]]))[0]
        row["embed:ms"] = (time.perf_counter() - started) * 1000
        row["embed"] = float(max(described @ query))
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                          for k, v in row.items() if not k.endswith(("ms", "tokens"))}),
              file=sys.stderr, flush=True)  # fmt: skip
    return rows


# -- rules, fitted on the dev half ---------------------------------------------------------------


def candidates(values: list[float]) -> list[float]:
    ordered = sorted(set(values))
    middles = [(a + b) / 2 for a, b in itertools.pairwise(ordered)]
    return [ordered[0] - 1, *middles, ordered[-1] + 1]


def accuracy(rows: list[dict], decide: Any) -> float:
    return sum(decide(r) == r["wants_call"] for r in rows) / len(rows) if rows else math.nan


def fit(rows: list[dict], keys: tuple[str, ...], make: Any) -> tuple[tuple[float, ...], float]:
    """The thresholds (one per key) with the best accuracy on `rows`; among ties, the middle
    one (the farthest from both ends of what fits)."""
    grids = [candidates([r[k] for r in rows]) for k in keys]
    scored: list[tuple[float, tuple[float, ...]]] = []
    if len(grids) == 1:
        scored = [(accuracy(rows, make((t,))), (t,)) for t in grids[0]]
    else:
        scored = [(accuracy(rows, make((a, b))), (a, b)) for a in grids[0] for b in grids[1]]
    best = max(score for score, _ in scored)
    ties = [t for score, t in scored if score == best]
    return ties[len(ties) // 2], best


def rules() -> dict[str, tuple[tuple[str, ...], Any]]:
    """name -> (the evidence thresholded, a maker of the decision from thresholds)."""
    out: dict[str, tuple[tuple[str, ...], Any]] = {}
    for prompt in PROMPTS:
        key = f"{prompt}:first"
        out[f"first ({prompt})"] = ((), lambda t, key=key: lambda r: r[key])
        key = f"{prompt}:p_call"
        out[f"p_call ({prompt})"] = ((key,), lambda t, key=key: lambda r: r[key] >= t[0])
    out["embed"] = (("embed",), lambda t: lambda r: r["embed"] >= t[0])
    for prompt in PROMPTS:
        key = f"{prompt}:p_call"
        out[f"p_call ({prompt}) * embed"] = (
            ("product",), lambda t, key=key: lambda r: r[key] * r["embed"] >= t[0]
        )  # fmt: skip
        out[f"p_call ({prompt}) + embed"] = (
            ("sum",), lambda t, key=key: lambda r: r[key] + r["embed"] >= t[0]
        )  # fmt: skip
    out["first and embed"] = (
        ("embed",), lambda t: lambda r: r["plain:first"] and r["embed"] >= t[0]
    )  # fmt: skip
    out["p_call and embed"] = (
        ("plain:p_call", "embed"),
        lambda t: lambda r: r["plain:p_call"] >= t[0] and r["embed"] >= t[1],
    )
    for name in QUESTIONS:
        key = f"ask:{name}"
        out[key] = ((key,), lambda t, key=key: lambda r: r[key] >= t[0])
        out[f"first and {key}"] = (
            (key,), lambda t, key=key: lambda r: r["plain:first"] and r[key] >= t[0]
        )  # fmt: skip
        out[f"{key} and embed"] = (
            (key, "embed"), lambda t, key=key: lambda r: r[key] >= t[0] and r["embed"] >= t[1]
        )  # fmt: skip
        out[f"mean(p_call, {key})"] = (
            ("mean",),
            lambda t, key=key: lambda r: (r["plain:p_call"] + r[key]) / 2 >= t[0],
        )
    return out


def added_ms(rows: list[dict], rule: str) -> float:
    """The median time a rule adds to a turn over today's decision."""
    parts = []
    if "ask:" in rule:
        name = rule.split("ask:")[1].split(")")[0].split(" ")[0]
        parts.append(f"ask:{name}:ms")
    if "embed" in rule:
        parts.append("embed:ms")
    extra = [sum(r[p] for p in parts) for r in rows]
    for prompt in ("guided", "fewshot"):
        if f"({prompt})" in rule:
            extra = [
                e + r[f"{prompt}:prompt_ms"] - r["plain:prompt_ms"]
                for e, r in zip(extra, rows, strict=True)
            ]
    return float(np.median(extra)) if extra else 0.0


def report(rows: list[dict], model: str, opening: str) -> str:
    dev = [r for r in rows if r["half"] == "dev"]
    held = [r for r in rows if r["half"] == "held_out"]
    lines = [
        f"### {'9.1' if model == packaged_model.QWEN_CODER_05B.name else '9.2'} Deciding to "
        f"call: methods side by side ({model})",
        "",
        opening,
        "",
        f"Whether a turn calls a function at all, {len(dev)} dev cases and {len(held)} "
        "held-out cases (benchmarks/tool_decision.py). Thresholds are fitted on the dev half "
        "alone; the held-out half is only scored. Added: the median time a method adds to a "
        "turn over today's decision (its extra prompt tokens evaluated, or the embedding of "
        "the message). Target: ≤ 150 ms.",
        "",
        "| method | thresholds (fitted on dev) | dev | held-out | added per turn |",
        "|---|---|---|---|---|",
    ]
    for name, (keys, make) in rules().items():
        needed = [k for k in keys if k not in ("mean", "product", "sum")]
        if any(k not in rows[0] for k in needed) or ("ask:" in name and "ask:need" not in rows[0]):
            continue  # not measured for this model
        if any(f"({p})" in name and f"{p}:p_call" not in rows[0] for p in PROMPTS):
            continue
        if keys == ("mean",):
            key = name.split(", ")[1].rstrip(")")
            for r in rows:
                r["mean"] = (r["plain:p_call"] + r[key]) / 2
        if keys in (("product",), ("sum",)):
            key = name.split("(")[1].split(")")[0] + ":p_call"
            for r in rows:
                r["product"] = r[key] * r["embed"]
                r["sum"] = r[key] + r["embed"]
        thresholds, _ = fit(dev, keys, make) if keys else ((), None)
        decide = make(thresholds)
        ms = added_ms(rows, name)
        shown = ", ".join(f"{t:.3f}" for t in thresholds) or "-"
        lines.append(
            f"| {name} | {shown} | {accuracy(dev, decide):.0%} | {accuracy(held, decide):.0%} "
            f"| {ms:.0f} ms ({verdict(ms <= 150)}) |"
        )
    whole = [r["plain:prompt_ms"] for r in rows]
    lines += [
        "",
        f"The whole prompt, evaluated afresh on this model: {np.median(whole):.0f} ms (median; "
        f"{min(whole):.0f}-{max(whole):.0f} ms): what deciding on this model would add to a "
        "turn that another model answers (`--prompt plain` alone measures it).",
    ]
    alone = [r["alone:ms"] for r in rows if "alone:ms" in r]
    if alone:
        lines += [
            "",
            "An answer the scored decision makes where the model leaned toward a call is "
            "written from a prompt without the functions, which is evaluated afresh: "
            f"{np.median(alone):.0f} ms (median; {min(alone):.0f}-{max(alone):.0f} ms) more "
            "on such a turn.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=packaged_model.QWEN_CODER_05B.name)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case", action="append", help="only these case ids")
    parser.add_argument("--prompt", action="append", choices=list(PROMPTS), help="(default all)")
    parser.add_argument("--no-ask", action="store_true", help="skip the appended questions")
    parser.add_argument("--evidence", type=Path, help="write the evidence here (JSON)")
    parser.add_argument("--from-evidence", type=Path, help="report this evidence file")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    if args.from_evidence:
        saved = json.loads(args.from_evidence.read_text())
        rows, model = saved["rows"], saved["model"]
    else:
        data = json.loads(CASES.read_text())
        cases = [c for c in data["cases"] if not args.case or c["id"] in args.case]
        probe = Probe(model_file(args.model), args.threads)
        encoder = OnnxEmbedder(MINILM_L6, cache_dir(), threads=args.threads)._load()
        prompts = args.prompt or list(PROMPTS)
        rows = evidence(probe, encoder, cases, data["tools"], prompts, not args.no_ask)
        model = args.model
        if args.evidence:
            args.evidence.write_text(json.dumps({"model": model, "rows": rows}, indent=1))
    emit(f"tool-decision-{model}", report(rows, model, opening), args.write)


if __name__ == "__main__":
    main()
