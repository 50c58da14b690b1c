"""Plain text of the text formats: Markdown, HTML, JSON (lines) and CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser

from threadline.vector_stores.ingestion.parse_error import ParseError, reason

# Line patterns are used with .match(); bounded and possessive repeats keep every pattern
# linear on hostile input (long runs of brackets, backticks, stars or spaces).
_MD_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_MD_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")
_MD_RULE = re.compile(r" {0,3}([-*_])(?:[ \t]*+\1){2,}+[ \t]*+$")
_MD_TABLE_RULE = re.compile(r"[ \t]*+\|?(?:[ \t]*+:?-++:?[ \t]*+\|)++[ \t]*+(?::?-++:?[ \t]*+)?$")
_MD_QUOTE = re.compile(r" {0,3}(?:>[ \t]?)+")
_MD_IMAGE = re.compile(r"!\[([^\[\]]{0,300})\]\([^()\s]{0,2000}(?:[ \t]++\"[^\"]{0,300}\")?\)")
_MD_LINK = re.compile(r"\[([^\[\]]{1,300})\]\([^()\s]{0,2000}(?:[ \t]++\"[^\"]{0,300}\")?\)")
_MD_BOLD = re.compile(r"\*\*(?=[^*\s])([^*]{1,500}?)(?<=\S)\*\*")
_MD_CODE = re.compile(r"(`{1,3})([^`]{1,1000})\1")


def _markdown(text: str) -> str:
    """Keep the words; drop heading hashes, fences, rules, link targets and emphasis stars.

    Single '*' and '_' are left alone: stripping them safely needs a real parser (snake_case,
    __init__, 2*3*4).
    """
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opened = _MD_FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            else:
                out.append(line)  # code is content: kept verbatim
            continue
        if opened:
            fence = opened.group(1)
            continue
        if _MD_RULE.match(line) or _MD_TABLE_RULE.match(line):
            continue
        heading = _MD_HEADING.match(line)
        if heading:
            line = line[heading.end() :].strip()
            closed = line.rstrip("#")  # an optional closing run of hashes, after a space
            if closed != line and (not closed or closed[-1] in " \t"):
                line = closed.rstrip()
        quote = _MD_QUOTE.match(line)
        if quote:
            line = line[quote.end() :]
        line = _MD_IMAGE.sub(r"\1", line)
        line = _MD_LINK.sub(r"\1", line)
        line = _MD_BOLD.sub(r"\1", line)
        out.append(_MD_CODE.sub(r"\2", line))
    return "\n".join(out)


_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


class _HTMLText(HTMLParser):
    """Collects visible text; block elements become line or paragraph breaks."""

    # fmt: off
    SKIP = frozenset(
        ["script", "style", "noscript", "template", "svg", "math", "canvas", "iframe", "object"]
    )
    PARAGRAPH = frozenset([
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer",
        "nav", "aside", "main", "blockquote", "pre", "ul", "ol", "dl", "table", "form", "figure",
        "figcaption", "address", "details", "summary", "fieldset", "hr", "title", "body",
    ])
    LINE = frozenset(["li", "tr", "dt", "dd", "caption", "option"])  # start a line
    # fmt: on

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0
        self.cells = 0
        self.last = "\n"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "pre":
            self.pre += 1
        if tag == "tr":
            self.cells = 0
        elif tag in ("td", "th"):
            if self.cells:
                self._emit(" | ")
            self.cells += 1
        if tag == "br" or (tag in self.LINE and self.last != "\n"):
            self._emit("\n")
        elif tag in self.PARAGRAPH:
            self._emit("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in self.PARAGRAPH:
            self._emit("\n\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            # HTML collapses ASCII whitespace only: a no-break space stays.
            data = _HTML_SPACE.sub(" ", data)
            if self.last in "\n ":
                data = data.lstrip(" ")
        self._emit(data)

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:  # a malformed "<![": browsers skip it as a bogus comment
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1

    def _emit(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.last = text[-1]


def _html(text: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as exc:  # how the standard library's parser reports malformed markup
        raise ParseError("invalid_file", f"The HTML could not be parsed: {reason(exc)}.") from exc
    return "".join(parser.parts)


def _json(text: str) -> str:
    try:
        # Pretty-printed with real characters so keys and values read (and embed) as words.
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError) as exc:
        raise ParseError("invalid_file", f"The JSON is not valid: {reason(exc)}.") from exc


def _jsonl(text: str) -> str:
    records: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.dumps(json.loads(line), indent=2, ensure_ascii=False))
        except (ValueError, RecursionError) as exc:
            raise ParseError(
                "invalid_file", f"Line {number} of the JSON Lines file is not valid JSON."
            ) from exc
    return "\n\n".join(records)


def _csv(text: str, delimiter: str | None = None) -> str:
    """One line per data row, as 'header: value; header: value' (empty values left out).

    The first row is always taken as the header: guessing whether it is one is unreliable.
    """
    delimiter = delimiter or _guess_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines: list[str] = []
    try:
        header = [" ".join(h.split()) for h in next(reader, [])]
        for row in reader:
            pairs = [
                f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: "
                + " ".join(value.split())
                for i, value in enumerate(row)
                if value.strip()
            ]
            if pairs:
                lines.append("; ".join(pairs))
    except csv.Error as exc:
        raise ParseError(
            "invalid_file", f"The CSV could not be parsed near line {reader.line_num}: {exc}."
        ) from exc
    if not lines:  # a header alone is still the file's text
        return ", ".join(h for h in header if h)
    return "\n".join(lines)


def _guess_delimiter(text: str) -> str:
    """The candidate the header line has and most of the next lines have as often.

    (csv.Sniffer is quadratic: seconds on 32 KB of quote-heavy data.)
    """
    lines = [line for line in text[:65536].split("\n")[:50] if line.strip()]
    if not lines:
        return ","
    best, best_score = ",", (0, 0)
    for candidate in ",;\t|":
        header = lines[0].count(candidate)
        if header:
            score = (sum(line.count(candidate) == header for line in lines), header)
            if score > best_score:
                best, best_score = candidate, score
    return best


TEXT_CONVERTERS: dict[str, Callable[[str], str]] = {
    "text": lambda text: text,
    "markdown": _markdown,
    "html": _html,
    "json": _json,
    "jsonl": _jsonl,
    "csv": _csv,
    "tsv": lambda text: _csv(text, "\t"),
}
