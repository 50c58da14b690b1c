"""File ingestion for vector stores: text extraction per format, and chunking.

Every input is a real file made here by a real library (fpdf2, python-docx, zipfile, json, csv)
or by hand to its format's spec (PNG), so no fixtures are stored in the repository.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import random
import re
import struct
import time
import zipfile
import zlib

import docx
import fpdf  # dev dependency: writes the test PDFs
import pytest

from threadline.vector_stores.ingestion.chunk import Chunk, chunk_text, count_tokens
from threadline.vector_stores.ingestion.parse import ParseError, extract_text

# --- Makers of real files -----------------------------------------------------------------


def make_pdf(*pages: str, user_password: str | None = None) -> bytes:
    pdf = fpdf.FPDF()
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        if text:
            pdf.multi_cell(0, 8, text)
    if user_password is not None:
        # RC4: fpdf2 and pypdf both do it without the `cryptography` package.
        from fpdf.enums import EncryptionMethod

        pdf.set_encryption(
            owner_password="owner",
            user_password=user_password,
            encryption_method=EncryptionMethod.RC4,
        )
    return bytes(pdf.output())


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Project Falcon", level=1)
    document.add_paragraph("The falcon launches in spring from Kourou.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [("Name", "Role", "City"), ("Ada", "Engineer", "Zürich"), ("Grace", "Admiral", "Arlington")]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2))  # merged cells must not repeat their text
    document.add_paragraph("Closing remarks after the table.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_png() -> bytes:
    def part(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))  # 4x4 red, RGB
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + part(b"IHDR", header)
        + part(b"IDAT", zlib.compress(pixels))
        + part(b"IEND", b"")
    )


def make_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/readme.txt", "hello from inside the archive")
    return out.getvalue()


def parse_error(data: bytes, filename: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        extract_text(data, filename)
    error = caught.value
    assert error.code in ("unsupported_file", "invalid_file")
    assert error.message and error.message.endswith(".")
    assert str(error) == error.message
    return error


# --- PDF ----------------------------------------------------------------------------------


def test_pdf_text_from_every_page_in_order() -> None:
    data = make_pdf("Quarterly revenue grew by twelve percent.", "Zebras appear on page two.")
    text = extract_text(data, "report.pdf")
    assert "Quarterly revenue grew by twelve percent." in text
    assert "Zebras appear on page two." in text
    assert text.index("Quarterly") < text.index("Zebras")


def test_pdf_latin1_characters_survive() -> None:
    text = extract_text(make_pdf("Meeting in Zürich at the café, naïve plan."), "m.pdf")
    assert "Zürich" in text and "café" in text and "naïve" in text


def test_pdf_found_by_content_when_the_name_says_otherwise() -> None:
    data = make_pdf("Hidden behind a misleading name.")
    assert "misleading name" in extract_text(data, "notes.txt")
    assert "misleading name" in extract_text(data, "no_extension")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda pdf: pdf[: len(pdf) // 2], id="truncated-half"),
        pytest.param(lambda pdf: pdf[:200], id="truncated-200-bytes"),
        pytest.param(lambda pdf: pdf[:-300], id="tail-cut"),
        pytest.param(lambda pdf: pdf[:40] + bytes(random.Random(1).randbytes(2000)), id="garbled"),
        pytest.param(lambda pdf: b"%PDF-1.7\n", id="header-only"),
    ],
)
def test_corrupt_pdf_is_invalid(damage) -> None:  # type: ignore[no-untyped-def]
    error = parse_error(damage(make_pdf("Some text that will be damaged.")), "broken.pdf")
    assert error.code == "invalid_file"
    assert "PDF" in error.message


def test_pdf_name_without_pdf_content_is_invalid() -> None:
    error = parse_error(b"just some words, not a PDF", "fake.pdf")
    assert error.code == "invalid_file"
    assert "not a valid PDF" in error.message


def test_pdf_without_text_is_invalid() -> None:
    error = parse_error(make_pdf(""), "scan.pdf")
    assert error.code == "invalid_file"
    assert "no extractable text" in error.message and "scanned" in error.message


def test_encrypted_pdf() -> None:
    # An empty user password is common ("restrictions" only): the text is still readable.
    assert "Open secret" in extract_text(make_pdf("Open secret", user_password=""), "e.pdf")
    error = parse_error(make_pdf("Real secret", user_password="hunter2"), "locked.pdf")
    assert error.code == "invalid_file"
    assert "encrypted with a password" in error.message


# --- DOCX ---------------------------------------------------------------------------------


def test_docx_paragraphs_and_table_cells_in_document_order() -> None:
    text = extract_text(make_docx(), "falcon.docx")
    lines = text.splitlines()
    assert lines[0] == "Project Falcon"
    assert "The falcon launches in spring from Kourou." in lines
    assert "Name | Role | City" in lines
    assert "Ada | Engineer | Zürich" in lines
    # The merged cell holds both texts once, not once per grid column it spans.
    assert "Grace | Admiral Arlington" in lines
    assert text.index("Kourou") < text.index("Engineer") < text.index("Closing remarks")


def test_docx_found_by_content_without_extension() -> None:
    assert "Kourou" in extract_text(make_docx(), "upload")
    assert "Kourou" in extract_text(make_docx(), "misnamed.doc")


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        pytest.param(make_docx()[:1500], "ZIP", id="truncated"),
        pytest.param(b"PK\x03\x04 not really a zip", "ZIP", id="garbage"),
        pytest.param(make_zip(), "Word", id="zip-without-document"),
        pytest.param(b"plain words", "ZIP", id="text"),
    ],
)
def test_corrupt_docx_is_invalid(data: bytes, hint: str) -> None:
    error = parse_error(data, "broken.docx")
    assert error.code == "invalid_file"
    assert "DOCX" in error.message and hint in error.message


def test_docx_package_with_broken_xml_is_invalid() -> None:
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "word/document.xml":
                body = body[: len(body) // 2]  # XML cut mid-element
            archive.writestr(info, body)
    error = parse_error(out.getvalue(), "broken.docx")
    assert error.code == "invalid_file"
    assert error.message.startswith("The DOCX could not be read")


# --- HTML ---------------------------------------------------------------------------------

HTML = b"""<!DOCTYPE html>
<html><head><title>Launch Notes</title>
<style>body { color: red; } .secret-style { display: none }</style>
<script>var secretToken = "do-not-index"; if (a < b) { run(); }</script>
</head><body>
<h1>Welcome aboard</h1>
<p>First   paragraph
   spans lines &amp; has <b>bold</b> text.</p><p>Second&nbsp;paragraph.</p>
<ul><li>alpha</li><li>beta</li></ul>
<table><tr><th>Key</th><th>Value</th></tr><tr><td>speed</td><td>fast</td></tr></table>
<pre>def f():
    return 1</pre>
<noscript>Please enable JavaScript</noscript>
<p>Line one<br>Line two</p>
</body></html>"""


def test_html_visible_text_only_with_paragraph_breaks() -> None:
    text = extract_text(HTML, "notes.html")
    assert "secretToken" not in text and "do-not-index" not in text
    assert "color" not in text and "secret-style" not in text
    assert "enable JavaScript" not in text
    assert text.startswith("Launch Notes\n\nWelcome aboard\n\n")
    assert "First paragraph spans lines & has bold text.\n\nSecond\xa0paragraph." in text
    assert "alpha\nbeta" in text
    assert "Key | Value\nspeed | fast" in text
    assert "def f():\n    return 1" in text
    assert "Line one\nLine two" in text
    assert "<" not in text


def test_html_survives_malformed_markup() -> None:
    # Word's HTML export uses conditional sections; broken "<![" must not crash the parser.
    html = b"<p>Item<![if !supportLists]>: <![endif]>one</p><![ broken > tail <b>bold"
    assert extract_text(html, "word.html") == "Item: one\n\ntail bold"


def test_html_sniffed_without_extension() -> None:
    assert extract_text(HTML, "page") == extract_text(HTML, "page.htm")


# --- JSON, CSV, Markdown, source code -----------------------------------------------------


def test_json_is_pretty_printed_with_real_characters() -> None:
    value = {"customer": {"name": "Zoë", "tier": "gold"}, "orders": [1017, 1018], "ok": True}
    text = extract_text(json.dumps(value, separators=(",", ":")).encode(), "data.json")
    assert '"name": "Zoë"' in text  # not \u00eb
    assert '"tier": "gold"' in text
    assert "\n  " in text  # indented, one key per line
    assert json.loads(text) == value


def test_invalid_json_is_invalid_file() -> None:
    error = parse_error(b'{"a": 1,, "b": 2}', "bad.json")
    assert error.code == "invalid_file"
    assert "JSON" in error.message and "line 1" in error.message


def test_json_lines() -> None:
    text = extract_text(b'{"id": 1, "q": "first"}\n\n{"id": 2, "q": "second"}\n', "x.jsonl")
    assert '"q": "first"' in text and '"q": "second"' in text
    assert parse_error(b'{"id": 1}\n{oops}\n', "x.jsonl").message.startswith("Line 2 ")


def test_csv_rows_become_header_value_lines() -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "city", "note"])
    writer.writerow(["Ada", "London", "wrote the first program"])
    writer.writerow(["Lovelace, A.", "", 'said "hello"\non two lines'])
    text = extract_text(out.getvalue().encode(), "people.csv")
    assert text.splitlines() == [
        "name: Ada; city: London; note: wrote the first program",
        'name: Lovelace, A.; note: said "hello" on two lines',
    ]


def test_csv_other_delimiters() -> None:
    assert extract_text(b"name;age\nAda;36\n", "s.csv") == "name: Ada; age: 36"
    assert extract_text(b"name\tage\nAda\t36\n", "t.tsv") == "name: Ada; age: 36"
    assert extract_text(b"a,b\n1,2,3\n", "extra.csv") == "a: 1; b: 2; column 3: 3"


def test_csv_semicolons_with_decimal_commas() -> None:
    data = b"name;price;note\nwidget;1,50;small, blue\ngadget;2,75;big\n"
    assert extract_text(data, "eu.csv") == (
        "name: widget; price: 1,50; note: small, blue\nname: gadget; price: 2,75; note: big"
    )


def test_csv_unterminated_quote_is_invalid() -> None:
    data = b'a,b\n1,"' + b"x" * 200_000 + b"\n"  # the rest of the file becomes one huge field
    error = parse_error(data, "bad.csv")
    assert error.code == "invalid_file" and "CSV" in error.message


def test_markdown_keeps_words_and_drops_markup() -> None:
    source = (
        "# Getting started\n\n"
        "Read the **install guide** and [the FAQ](https://example.com/faq) first.\n"
        "![architecture diagram](img/arch.png)\n\n"
        "```python\nprint('**literal**')  # kept verbatim\n```\n\n"
        "| key | value |\n|-----|:-----:|\n| port | 8080 |\n\n"
        "> Quoted: call `__init__` on snake_case_names.\n\n---\n"
    )
    text = extract_text(source.encode(), "README.md")
    lines = text.splitlines()
    assert lines[0] == "Getting started"
    assert "Read the install guide and the FAQ first." in lines
    assert "architecture diagram" in lines
    assert "print('**literal**')  # kept verbatim" in lines
    assert "| port | 8080 |" in lines
    assert "Quoted: call __init__ on snake_case_names." in lines
    assert "example.com" not in text and "```" not in text and "---" not in text


def test_source_code_is_kept_as_written() -> None:
    source = 'def greet(name: str) -> str:\n    """Say hi."""\n    return f"hi {name}"\n'
    assert extract_text(source.encode(), "greet.py") == source.strip()
    yaml_text = "server:\n  port: 8080\n  hosts:\n    - alpha\n"
    assert extract_text(yaml_text.encode(), "config.yaml") == yaml_text.strip()
    assert extract_text(b"SELECT id FROM t WHERE x > 1;\r\n", "q.sql") == (
        "SELECT id FROM t WHERE x > 1;"
    )


# --- Encodings ----------------------------------------------------------------------------


def test_utf8_with_bom_and_accents() -> None:
    data = "\ufeffCafé crème, naïve façade — 東京\r\nsecond line".encode()
    text = extract_text(data, "notes.txt")
    assert text == "Café crème, naïve façade — 東京\nsecond line"


def test_utf16_with_bom() -> None:
    assert extract_text("Grüße aus Köln".encode("utf-16"), "notes.txt") == "Grüße aus Köln"


def test_legacy_8bit_text() -> None:
    data = "Résumé: “quoted” \u2013 naïve".encode("cp1252")
    assert extract_text(data, "old.txt") == "Résumé: “quoted” \u2013 naïve"


def test_utf8_with_a_few_bad_bytes_stays_utf8() -> None:
    good = "Grüße aus Köln, déjà vu. " * 20
    text = extract_text(good.encode() + b"\xff stray byte", "mixed.txt")
    assert text.startswith(good.strip()) and text.endswith("\ufffd stray byte")
    # Cut off in the middle of its last character (an upload split at a byte boundary).
    assert extract_text("naïve café".encode()[:-1], "cut.txt") == "naïve caf"


def test_unknown_extension_text_is_plain_text() -> None:
    assert extract_text(b"FROM python:3.11\nRUN echo hi\n", "Dockerfile") == (
        "FROM python:3.11\nRUN echo hi"
    )


def test_filename_is_never_opened(tmp_path) -> None:  # type: ignore[no-untyped-def]
    real = tmp_path / "real.txt"
    real.write_text("contents on disk")
    assert extract_text(b"contents uploaded", str(real)) == "contents uploaded"
    assert extract_text(b"traversal is just a name", "../../etc/passwd.txt")


# --- Empty and unsupported ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty"])
def test_empty_file_is_invalid(name: str) -> None:
    error = parse_error(b"", name)
    assert error.code == "invalid_file" and "empty" in error.message


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"  \n\t\r\n ", "blank.txt"),
        (b"<html><head><script>x()</script></head><body> </body></html>", "blank.html"),
        (b"---\n```python\n```\n", "blank.md"),
    ],
)
def test_no_text_is_invalid(data: bytes, name: str) -> None:
    error = parse_error(data, name)
    assert error.code == "invalid_file" and "no extractable text" in error.message


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (make_png(), "photo.png", ".png"),
        (make_png(), "photo.txt", "PNG image"),
        (make_png(), "photo", "PNG image"),
        (make_zip(), "bundle.zip", ".zip"),
        (make_zip(), "bundle.md", "ZIP archive"),
        (make_zip(), "bundle", "ZIP archive"),
        (b"\x7fELF\x02\x01\x01" + bytes(64), "tool", "executable"),
        (bytes(random.Random(7).randbytes(4096)), "blob", "binary"),
        (bytes(random.Random(7).randbytes(4096)), "blob.txt", "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "old", "legacy Office"),
        (b"anything", "slides.pptx", ".pptx"),
    ],
)
def test_binary_formats_are_unsupported(data: bytes, name: str, words: str) -> None:
    error = parse_error(data, name)
    assert error.code == "unsupported_file"
    assert words in error.message
    assert "supported types are" in error.message


def test_megabytes_of_input_are_quick() -> None:
    rng = random.Random(3)
    words = ["".join(rng.choices("abcdefghij", k=rng.randint(1, 9))) for _ in range(3000)]
    paragraphs = [" ".join(rng.choices(words, k=120)) + "." for _ in range(3000)]
    data = "\n\n".join(paragraphs).encode()  # about 2.4 MB
    html = (
        b"<html><body>" + b"".join(b"<p>" + p.encode() + b"</p>" for p in paragraphs) + b"</html>"
    )
    started = time.perf_counter()
    text = extract_text(data, "big.txt")
    html_text = extract_text(html, "big.html")
    chunks = chunk_text(text)
    elapsed = time.perf_counter() - started
    assert len(data) > 2_000_000 and len(html_text) == len(text)
    assert len(chunks) > 1000
    assert elapsed < 20, elapsed  # a few seconds here; generous for slow CI machines


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"a" + b" " * 300_000 + b"x", "spaces.txt"),  # trailing-space stripping
        (b"# " + b" #" * 50_000 + b"x", "heading.md"),
        (b"[" * 100_000 + b"![" * 100_000 + b"[a](" * 50_000, "brackets.md"),
        (b"**a " * 50_000 + b"`" * 100_000, "stars.md"),
        (b"- " * 100_000 + b"x\n" + b"|" + b"-|" * 100_000 + b"x", "rules.md"),
        (b"a,b\n" + b',"' * 300_000, "quotes.csv"),  # csv.Sniffer would take minutes
        (b"<p>" + b" " * 300_000 + b"<![" * 50_000, "spaces.html"),
    ],
)
def test_hostile_inputs_take_linear_time(data: bytes, name: str) -> None:
    started = time.perf_counter()
    with contextlib.suppress(ParseError):
        extract_text(data, name)
    assert time.perf_counter() - started < 5


def test_chunking_hostile_inputs_take_linear_time() -> None:
    started = time.perf_counter()
    for text in ["a " * 10 + " " * 2_000_000 + "end", "x" * 1_000_000, ".,;" * 300_000]:
        chunks = chunk_text(text, 100, 50)
        assert all(c.tokens <= 100 for c in chunks)
    assert time.perf_counter() - started < 10


# --- Chunking -----------------------------------------------------------------------------


def prose(seed: int, paragraphs: int) -> str:
    """Text with paragraphs, sentences and words unique enough to locate any chunk in it."""
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(1, 8)):
            words = [
                "".join(rng.choices("abcdefghijklmnop", k=rng.randint(1, 11)))
                for _ in range(rng.randint(3, 25))
            ]
            sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", "!", "?", ","]))
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def locate(text: str, chunks: list[Chunk]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    for chunk in chunks:
        start = text.find(chunk.text, position)
        assert start >= 0, "every chunk is an exact substring, in order"
        spans.append((start, start + len(chunk.text)))
        position = start + 1
    return spans


def check_chunks(text: str, chunks: list[Chunk], max_tokens: int, overlap: int) -> None:
    assert chunks
    for chunk in chunks:
        assert chunk.text == chunk.text.strip()
        assert 0 < chunk.tokens <= max_tokens
        assert chunk.tokens == count_tokens(chunk.text)
    spans = locate(text, chunks)
    stripped = text.strip()
    offset = text.index(stripped[0])
    assert spans[0][0] == offset
    assert spans[-1][1] == offset + len(stripped)
    for (start, end), (next_start, next_end) in itertools.pairwise(spans):
        assert start < next_start and end < next_end  # in order, always moving on
        if overlap:
            assert next_start < end  # overlapping: no character is skipped
            shared = count_tokens(text[next_start:end])
            assert overlap - overlap // 8 <= shared <= overlap
        else:
            assert text[end:next_start].strip() == ""  # adjacent: only whitespace between
    if len(chunks) > 2:
        # Not all room given up to boundaries: chunks stay near the budget.
        assert sum(c.tokens for c in chunks[:-1]) / (len(chunks) - 1) >= max_tokens * 0.74


@pytest.mark.parametrize(
    ("max_tokens", "overlap"), [(800, 400), (100, 0), (100, 50), (250, 7), (4096, 2048)]
)
def test_chunks_respect_size_overlap_order_and_coverage(max_tokens: int, overlap: int) -> None:
    text = prose(seed=max_tokens + overlap, paragraphs=400)
    chunks = chunk_text(text, max_tokens, overlap)
    check_chunks(text, chunks, max_tokens, overlap)


def test_auto_strategy_is_800_and_400() -> None:
    text = prose(seed=5, paragraphs=200)
    assert chunk_text(text) == chunk_text(text, 800, 400)
    check_chunks(text, chunk_text(text), 800, 400)


def test_chunks_end_at_paragraph_or_sentence_boundaries() -> None:
    text = prose(seed=11, paragraphs=300)
    chunks = chunk_text(text, 200, 50)
    ends = [end for _, end in locate(text, chunks)[:-1]]
    assert all(text[end].isspace() for end in ends)  # never inside a word
    at_sentence = sum(text[end - 1] in ".!?" or text[end] == "\n" for end in ends)
    at_paragraph = sum(text[end : end + 2] == "\n\n" for end in ends)
    assert at_sentence >= len(ends) * 0.9
    assert at_paragraph >= len(ends) * 0.3  # by chance alone it would be 1 or 2 in 100


def test_csv_header_alone_is_its_text() -> None:
    assert extract_text(b"name,age\n,\n", "blank.csv") == "name, age"


def test_words_without_spaces_and_cjk_still_chunk() -> None:
    rng = random.Random(9)
    blob = "".join(
        rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", k=20_000)
    )
    check_chunks(blob, chunk_text(blob, 100, 50), 100, 50)
    cjk = "".join(
        rng.choice("東京大阪日本語文章検索分割") + ("。" if rng.random() < 0.05 else "")
        for _ in range(5000)
    )
    chunks = chunk_text(cjk, 200, 100)
    check_chunks(cjk, chunks, 200, 100)
    assert sum(c.text.endswith("。") for c in chunks[:-1]) >= len(chunks) // 2


def test_short_and_empty_text() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t ") == []
    assert chunk_text("  Just one line.\n") == [Chunk("Just one line.", 4)]


def test_chunking_is_deterministic() -> None:
    text = prose(seed=21, paragraphs=150)
    assert chunk_text(text, 300, 100) == chunk_text(text, 300, 100)


@pytest.mark.parametrize(
    ("max_tokens", "overlap"),
    [(800, 401), (100, 51), (99, 0), (4097, 0), (800, -1), (0, 0), (800.0, 400), (800, True)],
)
def test_bad_strategy_numbers_raise(max_tokens: object, overlap: object) -> None:
    with pytest.raises(ValueError):
        chunk_text("some text", max_tokens, overlap)  # type: ignore[arg-type]


def test_count_tokens_approximation() -> None:
    assert count_tokens("") == 0
    assert count_tokens("   \n ") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("internationalization") == 5  # 4 + 4 + 4 + 4 + "tion"
    assert count_tokens("2024-01-15") == 6  # 202 4 - 01 - 15
    assert count_tokens("user42") == 2
    assert count_tokens("東京です。") == 5  # a CJK character each, and the full stop
    assert count_tokens('He said: "no."') == 6  # He, said, :, ", no, ."
    # Roughly OpenAI's rate for English prose (about 4 characters a token), erring high.
    sample = re.sub(r"\s+", " ", __doc__ or "")
    assert len(sample) / 5 <= count_tokens(sample) <= len(sample) / 3
