"""Extract plain text from an uploaded file's bytes, for file_search ingestion.

The format is chosen by the file's extension first and by sniffing its content second. Only
`data` is read: the filename is client-supplied and does nothing but name a format.

Failures raise ParseError with one of the two codes OpenAI allows in VectorStoreFile.last_error:
"unsupported_file" for formats that cannot be searched (images, archives, executables) and
"invalid_file" for files that claim a supported format but are empty, damaged or hold no text.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any, Literal

ErrorCode = Literal["unsupported_file", "invalid_file"]


class ParseError(Exception):
    """Why a file could not be turned into text; `message` is meant for the API's user."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


_SUPPORTED = "text, Markdown, HTML, PDF, DOCX, JSON, CSV and source code"

_EXT_KINDS: dict[str, str] = {
    "pdf": "pdf",
    "docx": "docx",
    "md": "markdown",
    "markdown": "markdown",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "json": "json",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "csv": "csv",
    "tsv": "tsv",
}
# fmt: off
_TEXT_EXTS = [
    "txt", "text", "log", "rst", "adoc", "org", "tex", "bib", "srt", "vtt", "ini", "cfg", "conf",
    "properties", "env", "css", "scss", "less", "xml", "py", "pyi", "js", "mjs", "cjs", "jsx",
    "ts", "tsx", "java", "kt", "kts", "scala", "groovy", "gradle", "c", "h", "cc", "cpp", "cxx",
    "hpp", "hh", "cs", "fs", "go", "rs", "rb", "php", "swift", "m", "mm", "sh", "bash", "zsh",
    "fish", "ps1", "bat", "cmd", "sql", "yaml", "yml", "toml", "r", "jl", "lua", "pl", "pm",
    "dart", "ex", "exs", "erl", "hs", "ml", "clj", "vue", "svelte", "proto", "graphql", "tf",
    "cmake", "mk",
]
_EXT_KINDS.update(dict.fromkeys(_TEXT_EXTS, "text"))

# Known binary formats get a clear "not supported" without a look at their content.
_UNSUPPORTED_EXTS: dict[str, str] = {
    **dict.fromkeys(
        ["png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "ico", "heic", "heif", "svg",
         "avif"],
        "images",
    ),
    **dict.fromkeys(
        ["zip", "gz", "tgz", "tar", "bz2", "xz", "7z", "rar", "zst", "jar"], "archives"
    ),
    **dict.fromkeys(
        ["exe", "dll", "so", "dylib", "bin", "o", "a", "class", "pyc", "wasm"], "executables"
    ),
    **dict.fromkeys(
        ["mp3", "wav", "flac", "ogg", "m4a", "mp4", "mov", "avi", "mkv", "webm"],
        "audio and video files",
    ),
    **dict.fromkeys(
        ["doc", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "epub", "pages", "key",
         "numbers"],
        "office documents other than .docx",
    ),
    **dict.fromkeys(["sqlite", "db", "parquet", "pkl", "npy"], "binary data files"),
}
# fmt: on

# (offset, magic bytes, what the file is); PDF and ZIP (DOCX) are handled separately.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (8, b"WEBP", "a WebP image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (4, b"ftyp", "a video or image (ISO media)"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"\xfd7zXZ\x00", "an xz archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (257, b"ustar", "a tar archive"),
    (0, b"\x7fELF", "an executable"),
    (0, b"MZ\x90\x00", "a Windows executable"),
    (0, b"\xcf\xfa\xed\xfe", "an executable"),
    (0, b"\xca\xfe\xba\xbe", "an executable or Java class"),
    (0, b"\x00asm", "a WebAssembly module"),
    (0, b"SQLite format 3\x00", "an SQLite database"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office document (.doc, .xls or .ppt)"),
    (0, b"ID3", "an MP3 audio file"),
    (0, b"OggS", "an Ogg media file"),
    (0, b"fLaC", "a FLAC audio file"),
)

# A DOCX that inflates past this is treated as a zip bomb rather than handed to python-docx.
_MAX_UNZIPPED_BYTES = 256 * 1024 * 1024

# Bytes that do not occur in text: C0 controls other than \t \n \f \r (and ESC, used by
# terminal logs), plus DEL. Deleting every other byte leaves only these, at C speed.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\x0c\r\x1b") + b"\x7f"
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def extract_text(data: bytes, filename: str) -> str:
    """Return the plain text of a file, or raise ParseError."""
    if not data:
        raise ParseError("invalid_file", "The file is empty.")
    ext = _extension(filename)
    kind = _EXT_KINDS.get(ext)
    if kind not in ("pdf", "docx"):
        # A real PDF or DOCX (or image, archive...) wins over any other extension or none.
        sniffed = _sniff(data)
        if sniffed in ("pdf", "docx"):
            kind = sniffed
        elif ext in _UNSUPPORTED_EXTS:
            raise ParseError(
                "unsupported_file",
                f"Files of type .{ext} ({_UNSUPPORTED_EXTS[ext]}) are not supported for file "
                f"search; supported types are {_SUPPORTED}.",
            )
        elif sniffed is not None:
            raise ParseError(
                "unsupported_file",
                f"The file is {sniffed}, which is not supported for file search; "
                f"supported types are {_SUPPORTED}.",
            )
    if kind == "pdf":
        text, empty_hint = _pdf_text(data), " It may be a scanned document (images only)."
    elif kind == "docx":
        text, empty_hint = _docx_text(data), ""
    else:
        decoded = _decode(data)
        if kind is None:
            kind = "html" if _looks_like_html(decoded) else "text"
        text, empty_hint = _TEXT_CONVERTERS[kind](decoded), ""
    text = _tidy(text)
    if not text:
        raise ParseError("invalid_file", f"The file contains no extractable text.{empty_hint}")
    return text


def _extension(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem else ""  # ".bashrc" has no extension


def _sniff(data: bytes) -> str | None:
    """'pdf', 'docx', a description of an unsupported binary format, or None (maybe text)."""
    if b"%PDF-" in data[:1024]:  # the PDF spec allows junk before the header
        return "pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return "a damaged ZIP archive"
        if "word/document.xml" in names:
            return "docx"
        if any(n.startswith("ppt/") for n in names):
            return "a PowerPoint presentation"
        if any(n.startswith("xl/") for n in names):
            return "an Excel workbook"
        return "a ZIP archive"
    for offset, magic, what in _SIGNATURES:
        if data.startswith(magic, offset):
            return what
    if data[:4] == b"RIFF":
        return "an audio, video or image file (RIFF)"
    return None


def _decode(data: bytes) -> str:
    """Decode text: a BOM's encoding, else UTF-8, else Windows-1252/Latin-1 for legacy text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise ParseError(
                    "invalid_file",
                    f"The file starts with a {encoding.upper()} byte-order mark "
                    f"but is not valid {encoding.upper()} text.",
                ) from exc
    if not _looks_like_text(data):
        raise ParseError(
            "unsupported_file",
            f"The file is binary data, which is not supported for file search; "
            f"supported types are {_SUPPORTED}.",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Only the last character cut off, after real UTF-8 (not just ASCII, which 8-bit is too).
        if exc.reason == "unexpected end of data" and not data[: exc.start].isascii():
            return data[: exc.start].decode("utf-8")
    # UTF-8 with a few bad bytes (a stray Latin-1 byte, a cut-off last character) stays UTF-8:
    # re-reading it all as 8-bit would garble every accented character that was fine.
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad * 10 <= len(text) - len(text.encode("ascii", errors="ignore")) - bad:
        return text
    # No charset detector is a dependency. Legacy 8-bit text is most often Windows-1252 (a
    # superset of Latin-1's printable range); Latin-1 decodes the five bytes it leaves undefined.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _looks_like_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    controls = len(data.translate(None, _NOT_CONTROL))
    return controls <= len(data) // 100 + 1  # a stray form feed or ^Z is fine; binary is not


def _looks_like_html(text: str) -> bool:
    head = text[:1024].lstrip().lower()
    return head.startswith(("<!doctype html", "<html"))


# C0 controls but tab and newline (\r and \f are turned into newlines first), DEL, stray BOMs.
_DROP_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufeff]")  # faster than str.translate
_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Unify line ends, drop control characters and trailing spaces, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    text = _DROP_CHARS.sub("", text)
    # Not re.sub(r"[ \t]+\n"): that is quadratic on a long run of spaces without a newline.
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _reason(exc: BaseException) -> str:
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    return detail if len(detail) <= 200 else detail[:197] + "..."


# --- PDF and DOCX -------------------------------------------------------------------------


def _pdf_text(data: bytes) -> str:
    if b"%PDF-" not in data[:1024]:
        raise ParseError("invalid_file", "The file is not a valid PDF: it has no PDF header.")
    from pypdf import PdfReader  # imported here: only PDF ingestion pays for it

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many "encrypted" PDFs have an empty user password
            except Exception:  # e.g. AES without a crypto library installed
                opened = 0
            if not opened:
                raise ParseError(
                    "invalid_file",
                    "The PDF is encrypted with a password, so its text cannot be read.",
                )
        pages = list(reader.pages)
    except ParseError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged input; none may escape
        raise ParseError("invalid_file", f"The PDF could not be read: {_reason(exc)}.") from exc
    texts: list[str] = []
    failure: Exception | None = None
    for page in pages:
        # One bad page should not cost the whole document its other pages.
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:
            failure = exc
    if failure is not None and not any(t.strip() for t in texts):
        raise ParseError("invalid_file", f"The PDF could not be read: {_reason(failure)}.")
    return "\n\n".join(texts)


def _docx_text(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
            is_word = "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ParseError(
            "invalid_file", "The file is not a valid DOCX: it is not a readable ZIP package."
        ) from exc
    if not is_word:
        raise ParseError("invalid_file", "The file is not a valid DOCX: it holds no Word document.")
    if unzipped > _MAX_UNZIPPED_BYTES:
        raise ParseError("invalid_file", "The DOCX is too large once decompressed.")
    import docx  # imported here: only DOCX ingestion pays for it

    try:
        return "\n".join(_docx_lines(docx.Document(io.BytesIO(data))))
    except Exception as exc:  # python-docx and lxml raise many types; none may escape
        raise ParseError("invalid_file", f"The DOCX could not be read: {_reason(exc)}.") from exc


def _docx_lines(container: Any) -> Iterator[str]:
    """Paragraphs and tables in document order; a table row becomes one 'a | b | c' line."""
    from docx.table import Table

    for block in container.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                previous = None
                for cell in row.cells:
                    if cell._tc is previous:  # a merged cell is listed once per grid column
                        continue
                    previous = cell._tc
                    cells.append(" ".join(line for line in _docx_lines(cell) if line.strip()))
                yield " | ".join(cells)
        else:
            yield block.text


# --- Text formats -------------------------------------------------------------------------

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
        raise ParseError("invalid_file", f"The HTML could not be parsed: {_reason(exc)}.") from exc
    return "".join(parser.parts)


def _json(text: str) -> str:
    try:
        # Pretty-printed with real characters so keys and values read (and embed) as words.
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError) as exc:
        raise ParseError("invalid_file", f"The JSON is not valid: {_reason(exc)}.") from exc


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


_TEXT_CONVERTERS: dict[str, Callable[[str], str]] = {
    "text": lambda text: text,
    "markdown": _markdown,
    "html": _html,
    "json": _json,
    "jsonl": _jsonl,
    "csv": _csv,
    "tsv": lambda text: _csv(text, "\t"),
}
