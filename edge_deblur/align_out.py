"""The --out folder of `data align`: where it may be (never on, in or around the input data), what --overwrite may
replace (only an earlier `data align` result) and how a finished run's temporary folder takes its place."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from edge_deblur._io import missing_folders, remove_empty
from edge_deblur.errors import DataError


def _check_out(out: Path, data: Path, overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse an output folder that is, lies inside or holds the input data (`data` or a folder of an `inputs` file,
    wherever links lead), and one whose replacing would delete anything but an earlier `data align` result."""
    out_r = out.resolve()
    for src in dict.fromkeys([*(Path(p).parent for p in inputs), data]):  # the most precise message first
        src_r = src.resolve()
        if _is_or_under(out_r, src_r):
            where = "is" if _same(out_r, src_r) else "is inside"
            raise DataError(f"--out {out} {where} the input data {src}; choose a folder outside it")
        if _is_or_under(src_r, out_r):
            raise DataError(f"--out {out} would contain the input data {src}; choose another folder")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; expected a folder to create")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DataError(f"--out {out} exists and is not empty; pass --overwrite to replace it")
        _check_replaceable(out)


def _is_or_under(path: Path, folder: Path) -> bool:
    """True if `path` is `folder` or lies below it; existing paths are also compared as files (bind mounts, a file
    system that ignores case)."""
    return any(_same(p, folder) for p in (path, *path.parents))


def _same(a: Path, b: Path) -> bool:
    """True if `a` and `b` are the same path, or name the same existing folder or file."""
    try:
        return a == b or (a.exists() and os.path.samefile(a, b))
    except OSError:  # `b` missing, or a folder we may not look into: only the names were compared
        return False


OUT_ENTRIES = {"blurred": ".png", "sharp": ".png", "previews": ".jpg"}  # what `align_dataset` writes, beside report


def _check_replaceable(out: Path) -> None:
    """Refuse to replace `out` unless it holds only what an earlier `data align` wrote, naming what is in the way."""
    names = _accepted_names(out / "report.json")
    if names is None:
        raise DataError(f"--out {out} has no report.json of `data align`, so it is not an earlier result that "
                        "--overwrite may replace; choose another --out")
    foreign = []
    for entry in sorted(out.iterdir()):
        suffix = OUT_ENTRIES.get(entry.name)
        if entry.name == "report.json" and entry.is_file() and not entry.is_symlink():
            continue
        if suffix is None or not entry.is_dir() or entry.is_symlink():
            foreign.append(entry.name + ("/" if entry.is_dir() else ""))
            continue
        foreign += [f"{entry.name}/{f.name}" for f in sorted(entry.iterdir())
                    if f.suffix != suffix or f.stem not in names or not f.is_file() or f.is_symlink()]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise DataError(f"--out {out} holds {shown}, which `data align` did not write, so --overwrite will not "
                        "replace it; move them away or choose another --out")


def _accepted_names(report: Path) -> set[str] | None:
    """Names of the accepted pairs in a `data align` report.json; None when the file is missing or not one."""
    import json

    try:
        js = json.loads(report.read_text(encoding="utf-8"))
        if js.get("tool") != "edge-deblur data align":
            return None
        return {str(p["name"]) for p in js["pairs"] if p.get("accepted")}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished `tmp` folder onto `out`, replacing an existing `out` only after `tmp` is complete."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _make_tmp(out: Path) -> tuple[Path, list[Path]]:
    """Create the temporary sibling of `out` that a run writes into, and the missing parents of `out`.

    Returns:
        (the temporary folder, the parents this call created, innermost first, for `_discard`).
    """
    created = missing_folders(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir()  # not tempfile.mkdtemp: its 0700 mode would stay on `out` after the rename
    return tmp, created


def _discard(tmp: Path, created: list[Path]) -> None:
    """Remove an unfinished run's `tmp` folder and the parents made for `out`, innermost first, only if still empty."""
    shutil.rmtree(tmp, ignore_errors=True)
    remove_empty(created)
