"""What stops `threadline backup` or `restore` (`Refused`, exit status 2)."""

from __future__ import annotations


class Refused(Exception):
    """The command cannot go on (exit status 2): a non-empty target, a bad backup."""
