"""Typer command classes that make `--help` read cleanly: flags shown as flags (no `<bool>`), arguments in the usage
line as `PHOTOS...` (not `{inputs}...`), and docstrings wrapped by the terminal, not by the source file's line
breaks."""

from __future__ import annotations

import inspect
import re

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _reflow(text: str | None) -> str | None:
    """Join the lines of each paragraph: a docstring's line breaks are the source's, not the reader's."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(re.sub(r"\s*\n\s*", " ", p) for p in paragraphs)


def _flags_as_flags(params) -> None:
    """Give boolean flags an empty type label, so help shows `--resume` rather than `--resume <bool>`."""
    for p in params:
        if isinstance(p, TyperOption) and p.is_flag and p.metavar is None:
            p.metavar = ""


class _CleanHelp:
    """Mixin: reflow the docstring, show flags as flags."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["help"] = _reflow(kwargs.get("help"))
        super().__init__(*args, **kwargs)

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _flags_as_flags(params)
        return params


class Command(_CleanHelp, TyperCommand):
    """A command whose help reflows its docstring, shows flags as flags and arguments as `NAME...`."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if isinstance(p, TyperArgument):
                name = p.metavar or (p.name or "").upper()
                name = name if p.required else f"[{name}]"
                pieces.append(name if p.nargs == 1 else f"{name}...")
                continue
            pieces.extend(p.get_usage_pieces(ctx))
        return pieces


class Group(_CleanHelp, TyperGroup):
    """A command group whose own help reflows its docstring and shows flags as flags."""
