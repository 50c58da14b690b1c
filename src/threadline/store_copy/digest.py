"""What one side of a copy holds (`Digest`): rows and a sha256 per table, per vector
width, per file; filled while copying, compared with the target's when verifying."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Digest:
    """What one side holds: rows and a sha256 per table, per vector width, per file."""

    rows: dict[str, int] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    vectors: dict[int, str] = field(default_factory=dict)
    vector_counts: dict[int, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    file_bytes: int = 0
