"""Extract plain text from an uploaded file's bytes, for file_search ingestion.

The format is chosen by the file's extension first and by sniffing its content second. Only
`data` is read: the filename is client-supplied and does nothing but name a format.

Failures raise ParseError with one of the two codes OpenAI allows in VectorStoreFile.last_error:
"unsupported_file" for formats that cannot be searched (images, archives, executables) and
"invalid_file" for files that claim a supported format but are empty, damaged or hold no text.
"""

from __future__ import annotations

import io
import re
import zipfile

from threadline.vector_stores.ingestion.documents import docx_text, pdf_text
from threadline.vector_stores.ingestion.parse_error import ParseError
from threadline.vector_stores.ingestion.text_formats import TEXT_CONVERTERS

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
        text, empty_hint = pdf_text(data), " It may be a scanned document (images only)."
    elif kind == "docx":
        text, empty_hint = docx_text(data), ""
    else:
        decoded = _decode(data)
        if kind is None:
            kind = "html" if _looks_like_html(decoded) else "text"
        text, empty_hint = TEXT_CONVERTERS[kind](decoded), ""
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
