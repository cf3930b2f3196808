"""Deblurring files and folders: the input list, where each result goes, and a batch that goes on past bad files.

Rules a batch keeps:
- every input is read, deblurred and written on its own: one bad file is listed with its reason at the end
  (`BatchError`), every good one is still written, atomically, upright, with its descriptive EXIF;
- no two inputs ever write the same output, and no output lands on an input: checked before any work starts;
- a folder scan skips earlier results (`NAME_deblurred.EXT` beside `NAME.EXT`) and the output folder itself, so
  running the same command twice never deblurs its own outputs.

Example:
    >>> from edge_deblur.batch import deblur_files
    >>> deblur_files(["photos/"], out_dir="sharp/")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from edge_deblur._io import file_in_the_way
from edge_deblur.errors import EdgeDeblurError, ImageError

SUFFIX = "_deblurred"


class BatchError(ImageError):
    """Some inputs of a batch failed; all the others were written.

    Attributes:
        written: the paths written, in input order.
        failures: (input, reason) for each input that failed, in input order.
    """

    def __init__(self, written: list[Path], failures: list[tuple[Path, str]]):
        self.written, self.failures = written, failures
        lines = [f"{len(failures)} of {len(written) + len(failures)} image(s) failed:"]
        super().__init__("\n".join(lines + [f"  {reason}" for _, reason in failures]))


def _earlier_result(path: Path, names: set[str]) -> bool:
    """True for `NAME_deblurred.EXT` when `NAME.EXT` sits in the same folder (a result of an earlier run)."""
    stem = path.stem
    return stem.endswith(SUFFIX) and f"{stem[:-len(SUFFIX)]}{path.suffix}" in names


def collect_images(inputs: Iterable[str | os.PathLike], exclude: str | os.PathLike | None = None
                   ) -> list[tuple[Path, Path | None]]:
    """Expand files and folders (recursively) into (image file, folder it was found under or None).

    Folder scans skip hidden files, earlier results (`NAME_deblurred.EXT` beside `NAME.EXT`) and anything under
    `exclude` (the output folder) unless it is the scanned folder itself. A file named twice (directly or through a
    folder) is kept once.

    Raises:
        ImageError: an input does not exist, or a folder holds no images.
    """
    from edge_deblur.images import is_image_file

    excluded = Path(exclude).resolve() if exclude is not None else None
    found, seen = [], set()
    for item in map(Path, inputs):
        if item.is_dir():
            skip = excluded if excluded != item.resolve() else None  # `-o` onto the folder itself: names differ
            files = sorted(p for p in item.rglob("*") if p.is_file() and is_image_file(p)
                           and not p.name.startswith(".")
                           and not (skip is not None and skip in p.resolve().parents))
            names = {p.name for p in files}
            files = [p for p in files if not _earlier_result(p, names)]
            if not files:
                raise ImageError(f"{item}: folder holds no image files")
            pairs = [(p, item) for p in files]
        elif item.is_file():
            pairs = [(item, None)]
        elif item.exists():  # a device, a FIFO, a socket: reading one could block or never end
            raise ImageError(f"{item}: not a regular file or folder")
        else:
            raise ImageError(f"{item}: no such file or folder")
        for p, root in pairs:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                found.append((p, root))
    return found


def output_path(src: Path, root: Path | None, out_dir: Path | None, inputs: set[Path]) -> Path:
    """Where the result for `src` goes: OUTDIR/<relative path>, or <stem>_deblurred<suffix> beside the input (a PNG
    for inputs in a format that is read but not written, e.g. GIF)."""
    from edge_deblur.images import IMAGE_SUFFIXES

    if out_dir is None:
        dest = src.with_name(f"{src.stem}{SUFFIX}{src.suffix}")
    else:
        dest = out_dir / (src.relative_to(root) if root is not None else Path(src.name))
    if dest.suffix.lower() not in IMAGE_SUFFIXES:  # read but not written (GIF, PPM): the result is a PNG
        dest = dest.with_suffix(".png")
    if dest.resolve() in inputs:
        dest = dest.with_name(f"{dest.stem}{SUFFIX}{dest.suffix}")
    return dest


# image formats that are read but not written (GIF would cut a photo to 256 colours): as `--out` they are refused
# rather than taken for a folder name
READ_ONLY_SUFFIXES = (".gif", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2", ".heic", ".heif", ".avif")


def names_a_file(out: Path) -> bool:
    """True when `--out` is a result's file name (an image suffix, and no folder of that name exists)."""
    from edge_deblur.images import IMAGE_SUFFIXES

    return out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir()


def _suffix_problem(out: Path) -> str:
    """Why `--out` with a suffix that is not one we write is refused (it would otherwise become a folder)."""
    if out.suffix.lower() in READ_ONLY_SUFFIXES:
        return f"{out}: results are not written as {out.suffix[1:].upper()}; name a .png, .jpg, .tif, .bmp or .webp " \
               "file, or a folder"
    return f"{out}: '{out.suffix}' is not an image format we write (.png, .jpg, .tif, .bmp, .webp); for a folder " \
           "with a dot in its name, create it first"


def plan_outputs(files: list[tuple[Path, Path | None]], out_dir: Path | None, overwrite: bool = False
                 ) -> list[tuple[Path, Path]]:
    """(input, output) for every input; refuses outputs shared by two inputs or landing on an input, and existing
    files unless `overwrite`.

    `out_dir` with an image suffix (`-o sharp.png`) that is not an existing folder names the result file itself,
    for a single photo (its format from the suffix). A name with any other suffix is refused unless it is an
    existing folder: `-o sharp.xyz` or `-o sharp.png.bak` is far more likely a mistyped file name than a folder.

    Raises:
        ImageError: `out_dir` is not a folder, names a file for several photos or has an unknown suffix, outputs
            collide (every clash is named), or results exist and `overwrite` is False.
    """
    single = out_dir is not None and names_a_file(out_dir)
    if single and len(files) != 1:
        raise ImageError(f"{out_dir}: a file name, but {len(files)} photos would be written there; give a folder "
                         "for --out")
    if out_dir is not None:
        bad = file_in_the_way(out_dir.parent if single else out_dir)
        if bad is not None:
            raise ImageError(f"{out_dir}: cannot write results there: {bad} is a file, not a folder")
        if not single and out_dir.suffix and not out_dir.is_dir():
            raise ImageError(_suffix_problem(out_dir))
    sources = {p.resolve() for p, _ in files}
    if single:
        if out_dir.resolve() in sources:
            raise ImageError(f"{files[0][0]} -> {out_dir}, an input: nothing written (inputs are never overwritten)")
        plan = [(files[0][0], out_dir)]
    else:
        plan = _folder_plan(files, out_dir, sources)
    _check_writable(plan)
    existing = [dest for _, dest in plan if dest.is_file()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ImageError(f"{existing[0]}{more} already exist{'s' if not more else ''}: nothing written (pass "
                         "--overwrite to replace results)")
    return plan


def _check_writable(plan: list[tuple[Path, Path]]) -> None:
    """Refuse, before any photo is deblurred, results whose folder (or the first existing one above it) cannot be
    written: a read-only card or mount would otherwise fail every photo after the model ran on all of them."""
    checked = set()
    for _, dest in plan:
        folder = next((p for p in dest.parents if p.exists()), Path("."))
        if folder not in checked and not os.access(folder, os.W_OK | os.X_OK):
            raise ImageError(f"{folder}: cannot write results there (read-only); nothing written (give --out a "
                             "writable folder)")
        checked.add(folder)


def _folder_plan(files: list[tuple[Path, Path | None]], out_dir: Path | None, sources: set[Path]
                 ) -> list[tuple[Path, Path]]:
    """`output_path` of every input; refuses outputs shared by two inputs or landing on an input."""
    plan = [(src, output_path(src, root, out_dir, sources)) for src, root in files]
    owner: dict[Path, Path] = {}
    clashes = []
    for src, dest in plan:
        key = dest.resolve()
        if key in sources:
            clashes.append(f"{src} -> {dest}, an input")
        elif key in owner:
            clashes.append(f"{owner[key]} and {src} -> {dest}")
        owner.setdefault(key, src)
    if clashes:
        raise ImageError(f"{len(clashes)} output name clash(es), nothing written: {'; '.join(clashes)} "
                         "(give the inputs separate --out folders, or pass their common parent folder)")
    return plan


def _read(src: Path, max_pixels: int | None):
    """(uint8 or float image, (upright EXIF, RGB colour profile)) of one input."""
    from edge_deblur.images import read_image, source_tags

    return read_image(src, max_pixels=max_pixels, keep_uint8=True), source_tags(src)


def _write(dest: Path, image, tags: tuple) -> Path:
    """Write one result atomically with the EXIF and colour profile of its input."""
    from edge_deblur.images import write_image

    exif, icc = tags
    return write_image(dest, image, exif=exif, icc_profile=icc)


def _no_memory(src: Path, fn: Callable, *args):
    """`fn(*args)`, with running out of memory reported as an ImageError naming `src`."""
    try:
        return fn(*args)
    except MemoryError:
        raise ImageError(f"{src}: out of memory (lower --max-pixels to refuse such images up front)") from None


def _pipeline(deblurrer, plan: list[tuple[Path, Path]], max_pixels: int | None, timings: dict,
              done: Callable[[Path, Path, Exception | None], None]) -> None:
    """Deblur every planned file, the next one decoding and the previous one encoding while the model runs.

    At most three photos are held: one read ahead, one in the model, one being written. `done(src, dest, error)`
    is called in input order. `timings` gets `photos`, `seconds` (wall) and `inference_seconds`.
    """
    import time
    from concurrent.futures import ThreadPoolExecutor

    t_start, infer = time.perf_counter(), 0.0
    with ThreadPoolExecutor(1) as readers, ThreadPoolExecutor(1) as writers:
        reads = [readers.submit(_no_memory, plan[0][0], _read, plan[0][0], max_pixels)] if plan else []
        last = None  # (src, dest, write future) of the previous photo
        for k, (src, dest) in enumerate(plan):
            if k + 1 < len(plan):
                reads.append(readers.submit(_no_memory, plan[k + 1][0], _read, plan[k + 1][0], max_pixels))
            write = error = None
            try:
                image, tags = reads[k].result()
                reads[k] = None
                t0 = time.perf_counter()
                out = _no_memory(src, deblurrer, image)
                infer += time.perf_counter() - t0
                del image
                write = writers.submit(_no_memory, src, _write, dest, out, tags)
                del out
            except EdgeDeblurError as e:
                error = e
            if last is not None:
                _finish(*last, done)
            last = (src, dest, write, error)
        if last is not None:
            _finish(*last, done)
    timings.update(photos=len(plan), seconds=time.perf_counter() - t_start, inference_seconds=infer)


def _finish(src: Path, dest: Path, write, error: Exception | None, done: Callable) -> None:
    """Wait for one photo's write and report it."""
    if write is not None:
        try:
            write.result()
        except EdgeDeblurError as e:
            error = e
    done(src, dest, error)


def deblur_files(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike | None = None,
                 model: str | os.PathLike | None = None, num_threads: int | None = None, overlap: int = 32,
                 progress: bool = True, max_pixels: int | None = None,
                 on_written: Callable[[Path], None] | None = None, allow_foreign: bool = False,
                 scale: float | str | None = None, passes: int = 1, views: int = 1,
                 timings: dict | None = None, overwrite: bool = False) -> list[Path]:
    """Deblur image files and folders; write each result atomically, upright, with the input's EXIF.

    Args:
        inputs: image files and/or folders (searched recursively; see `collect_images` for what is skipped).
        out_dir: where results go (folder structure kept), or the result's file name for a single photo
            (`sharp.png`); None writes `<stem>_deblurred<suffix>` beside each input.
        model: a .tflite file, or None for the bundled default.
        num_threads: interpreter threads.
        overlap: tile overlap in pixels.
        progress: show a progress bar (on stderr, when it is a terminal) when there is more than one file.
        max_pixels: refuse larger images (from their header, before decoding); None: `images.pixel_limit()`.
        on_written: called with each written path as soon as it is written.
        allow_foreign: also run a .tflite without edge-deblur metadata (see `Deblurrer`).
        scale: processing scale ('auto', a number in (0, 1], or None for native; see `Deblurrer`).
        passes: 1, or 2 for the coarse second pass on large blur (see `Deblurrer`).
        views: 1, or 2/4/8 mirrored and transposed copies restored and averaged (see `Deblurrer`).
        timings: a dict to fill with `photos`, `seconds` (wall) and `inference_seconds` (time in the model;
            decoding and encoding run in other threads, overlapping it).
        overwrite: replace existing result files (otherwise any existing one stops the batch before any work).

    Returns:
        The written paths, in input order. An input is never overwritten.

    Raises:
        ImageError: no inputs, a missing input, `out_dir` is a file (or a file name for several photos), output
            names clash, results exist and `overwrite` is False, or a bad $EDGE_DEBLUR_MAX_PIXELS (before any work).
        ModelError: unusable model (before any work).
        BatchError: some inputs failed (each named with its reason); every other one was written.
    """
    from edge_deblur.images import pixel_limit
    from edge_deblur.runtime import Deblurrer

    out_dir = Path(out_dir) if out_dir is not None else None
    files = collect_images(inputs, exclude=out_dir)
    if not files:
        raise ImageError("no input images given")
    plan = plan_outputs(files, out_dir, overwrite)
    max_pixels = pixel_limit(max_pixels)  # a bad environment value fails once, here, not once per photo
    deblurrer = Deblurrer(model, num_threads=num_threads, overlap=overlap, allow_foreign=allow_foreign, scale=scale,
                          passes=passes, views=views)
    written: list[Path] = []
    failures: list[tuple[Path, str]] = []

    def work(advance: Callable[[], None]) -> None:
        def done(src: Path, dest: Path, error: Exception | None) -> None:
            if error is not None:
                failures.append((src, str(error) if str(src) in str(error) else f"{src}: {error}"))
            else:
                written.append(dest)
                if on_written is not None:
                    on_written(dest)
            advance()

        _pipeline(deblurrer, plan, max_pixels, timings if timings is not None else {}, done)

    from rich.console import Console

    console = Console(stderr=True)
    if progress and len(plan) > 1 and console.is_terminal:  # piped or logged: no bar, only the written paths
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"deblurring ({deblurrer.precision}, {deblurrer.backend})", total=len(plan))
            work(lambda: bar.advance(task))
    else:
        work(lambda: None)
    if failures:
        raise BatchError(written, failures)
    return written
