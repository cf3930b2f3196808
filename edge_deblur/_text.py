"""Small helpers for the words the toolkit prints."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """'1 pair', '3 pairs', '0 images': a count with its noun, plural unless the count is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
