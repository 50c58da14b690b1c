"""Text of PDF and DOCX files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from threadline.vector_stores.ingestion.parse_error import ParseError, reason

# A DOCX that inflates past this is treated as a zip bomb rather than handed to python-docx.
_MAX_UNZIPPED_BYTES = 256 * 1024 * 1024


def pdf_text(data: bytes) -> str:
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
        raise ParseError("invalid_file", f"The PDF could not be read: {reason(exc)}.") from exc
    texts: list[str] = []
    failure: Exception | None = None
    for page in pages:
        # One bad page should not cost the whole document its other pages.
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:
            failure = exc
    if failure is not None and not any(t.strip() for t in texts):
        raise ParseError("invalid_file", f"The PDF could not be read: {reason(failure)}.")
    return "\n\n".join(texts)


def docx_text(data: bytes) -> str:
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
        raise ParseError("invalid_file", f"The DOCX could not be read: {reason(exc)}.") from exc


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
