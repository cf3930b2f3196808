"""Small helpers for the words the toolkit prints and the counts it reads."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """'1 pair', '3 pairs', '0 images': a count with its noun, plural unless the count is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def parse_count(value, allowed: tuple[int, ...], what: str) -> int:
    """`value` (int or text) as one of the `allowed` counts; ValueError naming `what` for anything else.

    True, 4.0 and '4.0' are refused: they are not counts a user types.
    """
    text = None if isinstance(value, (bool, float)) else str(value).strip()
    if text not in {str(n) for n in allowed}:
        choices = " or ".join(map(str, allowed)) if len(allowed) == 2 else "one of " + ", ".join(map(str, allowed))
        raise ValueError(f"{what} must be {choices}, got {value!r}")
    return int(text)
