"""Typer command classes that make `--help` read cleanly: flags shown as flags (no `<bool>`), arguments in the usage
line as `PHOTOS...` (not `{inputs}...`), and docstrings wrapped by the terminal, not by the source file's line
breaks. A bad option or argument prints one line `error: ...` on stderr and exits with code 2, like every other
user error of the command line (not a boxed usage panel)."""

from __future__ import annotations

import inspect
import re
import sys

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

try:  # typer 0.2x parses with its own copy of click, and raises that copy's exceptions
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - older typer on the real click
    from click import exceptions as _click_errors


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


def _usage_error(e, path: str):
    """Print a usage error as one line on stderr and exit with code 2 (help asked by giving no arguments passes)."""
    if type(e).__name__ == "NoArgsIsHelpError":
        raise e
    path = e.ctx.command_path if e.ctx is not None else path
    print(f"error: {e.format_message().rstrip('.')} (see '{path} --help')", file=sys.stderr)
    raise typer.Exit(2) from None


class _OneLineErrors:
    """Mixin: a usage error (bad value, unknown option, missing argument) prints one line on stderr and exits with
    code 2; asking for help with no arguments still shows the help."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _click_errors.UsageError as e:
            _usage_error(e, f"{parent.command_path} {info_name}" if parent is not None else str(info_name))


class Command(_OneLineErrors, _CleanHelp, TyperCommand):
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


class Group(_OneLineErrors, _CleanHelp, TyperGroup):
    """A command group whose own help reflows its docstring and shows flags as flags."""

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except _click_errors.UsageError as e:  # an unknown command
            _usage_error(e, ctx.command_path)
