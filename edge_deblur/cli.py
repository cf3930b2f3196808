"""The `edge-deblur` command line. Each command parses options, calls one library function and prints its result.

User errors (`EdgeDeblurError`) print one line `error: ...` on stderr and exit with code 2.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from edge_deblur._help import Command, Group
from edge_deblur._text import counted
from edge_deblur.errors import EdgeDeblurError
from edge_deblur.models import DEFAULT_MODEL, recipe_for
from edge_deblur._cli_support import _ctrl_c_stops_training, _export_report  # noqa: F401 (re-exported for tests)
from edge_deblur._cli_errors import COMMAND_STATE, _needs_training_extra, _print_version, _terminated, _user_errors
from edge_deblur._cli_options import _parse_range, _parse_scale, _parse_size, _parse_views

# deblur and grid: test-time augmentation views (edge_deblur.views); the cost and the gain are in the README
VIEWS_DEFAULT = 4

app = typer.Typer(
    name="edge-deblur",
    help="Train, export (float16/int8 TFLite), run and benchmark deblurring CNNs for phones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)
data_app = typer.Typer(help="Dataset tools.", no_args_is_help=True, cls=Group)
app.add_typer(data_app, name="data")


@app.callback()
def _main_options(
    verbose: bool = typer.Option(False, "--verbose", help="Let TensorFlow's and LiteRT's start-up log lines "
                                 "(oneDNN, CUDA, XNNPACK) through to the terminal."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Train, export (float16/int8 TFLite), run and benchmark deblurring CNNs for phones."""
    import signal
    import threading

    COMMAND_STATE["verbose"] = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow's first import
    if threading.current_thread() is threading.main_thread():  # a CLI call from a test's thread keeps its signals
        signal.signal(signal.SIGTERM, _terminated)


def _recipe(field: str) -> str:
    """The `[default: ...]` text of a training option taken from the model's recipe."""
    return f"the model's recipe: {getattr(recipe_for(DEFAULT_MODEL), field)} for {DEFAULT_MODEL}"


@app.command("models", cls=Command)
@_user_errors
@_needs_training_extra
def models_cmd(size: int = typer.Option(224, help="Square frame size for the GFLOP column.")):
    """List the registered models with parameters and GFLOP per frame."""
    from rich.console import Console
    from rich.table import Table

    from edge_deblur.models import REGISTRY, build_model, count_params, gflops

    table = Table(title=f"edge-deblur models (GFLOP at {size}x{size})")
    for col in ("name", "params", "GFLOP", "stride", "description"):
        table.add_column(col)
    for name, spec in REGISTRY.items():
        m = build_model(name)
        table.add_row(name, f"{count_params(m):,}", f"{gflops(m, size, size):.3f}", str(spec.stride), spec.description)
    Console().print(table)


# --- commands below are added by their modules' owners; keep each a thin wrapper ---


@data_app.command("align", cls=Command)
@_user_errors
@_needs_training_extra
def data_align_cmd(
    data: Path = typer.Option(..., "--data", help="Input folder: kwentar layout (sharp/, defocused_blurred/, "
                                                  "motion_blurred/) or, with --dataset pairs, sharp/ + blurred/."),
    out: Path = typer.Option(..., "--out", help="Output folder: blurred/ + sharp/ PNGs (aligned, cropped) and "
                                                "report.json; read it with --dataset pairs."),
    dataset: str = typer.Option("kwentar", help="Input layout: kwentar or pairs."),
    blur: str = typer.Option("defocus", help="kwentar blur kind: defocus or motion."),
    work_size: int = typer.Option(640, help="Long side (px) of the copies the homography is estimated on."),
    min_corr: float = typer.Option(0.85, help="Reject pairs whose ECC correlation is below this."),
    min_overlap: float = typer.Option(0.5, help="Reject pairs whose aligned crop keeps less of the frame."),
    color: str = typer.Option("gain", help="Exposure/colour matching of the sharp photo: gain or none."),
    features: bool = typer.Option(True, help="Also start ECC from SIFT feature matches (RANSAC)."),
    limit: Optional[int] = typer.Option(None, help="Align only the first N pairs.", show_default="all"),
    previews: bool = typer.Option(False, help="Also write previews/NAME.jpg red-cyan overlays, before | after."),
    workers: int = typer.Option(0, help="Pairs aligned at once (threads); 0 = min(4, CPU count)."),
    overwrite: bool = typer.Option(False, help="Replace an earlier `data align` result in --out (never other files)."),
):
    """Align real blurred/sharp photo pairs (homography by ECC, exposure matched, borders cropped) into a paired
    folder; rejected pairs are listed with their reason, never written."""
    from rich.console import Console
    from rich.progress import track

    from edge_deblur.align import AlignParams, align_dataset
    from edge_deblur.align_view import report_table

    params = AlignParams(work_size=work_size, min_corr=min_corr, min_overlap=min_overlap, color=color,
                         features=features)
    progress = functools.partial(track, description="aligning", transient=True)
    report = align_dataset(data, out, dataset=dataset, blur=blur, params=params, overwrite=overwrite, limit=limit,
                           previews=previews, workers=workers, track=progress)
    console = Console()
    console.print(report_table(report))
    if report.unpaired:
        names = ", ".join(Path(p).name for p in report.unpaired[:3]) + (", ..." if len(report.unpaired) > 3 else "")
        console.print(f"{len(report.unpaired)} unpaired file(s) skipped: {names}")
    console.print(report.summary())
    console.print(f"wrote {out} (report.json holds the details)")


@app.command("train", cls=Command)
@_user_errors
@_needs_training_extra
def train_cmd(
    data: List[Path] = typer.Option(None, "--data", help="Dataset folder (repeat for several synthetic photo "
                                    "folders).", show_default="the shared training photos, if present"),
    model: Optional[str] = typer.Option(None, help="Model name (see `edge-deblur models`). With --init of another "
                                        "architecture: build this one and copy the layers the two share (warm start).",
                                        show_default=DEFAULT_MODEL),
    dataset: str = typer.Option("synthetic", help="kwentar | pairs | synthetic."),
    out: Path = typer.Option(Path("runs/train"), help="Output folder."),
    epochs: Optional[int] = typer.Option(None, help="Epochs.", show_default=_recipe("epochs")),
    batch_size: Optional[int] = typer.Option(None, help="Crops per batch.", show_default=_recipe("batch_size")),
    size: Optional[int] = typer.Option(None, help="Square crop size in pixels.", show_default=_recipe("size")),
    lr: Optional[float] = typer.Option(None, help="Initial learning rate.", show_default=_recipe("lr")),
    loss: Optional[str] = typer.Option(None, help="l1 | mse | l1+ssim (L1 + 0.1 x (1 - SSIM)) | "
                                        "l1+ssimW (weight W, e.g. l1+ssim0.6 as release 5).",
                                        show_default=_recipe("loss")),
    schedule: Optional[str] = typer.Option(None, help="cosine | plateau.", show_default=_recipe("schedule")),
    recipe: Optional[str] = typer.Option(None, help="A named training recipe for any model: paper (Adam 1e-3, MSE, "
                                         "ReduceLROnPlateau x0.1 after 10 epochs, batch 32, 70 epochs of 172 crops, "
                                         "224 px). Options given beside it override its fields.",
                                         show_default="the model's own recipe"),
    seed: int = typer.Option(0, help="Seed for the split, crops, blur and weights."),
    blur: str = typer.Option("defocus", help="kwentar blur folder: defocus | motion."),
    radius: str = typer.Option("1,5", help="Synthetic defocus radius range in px, 'MIN,MAX'."),
    noise: float = typer.Option(2.0, help="Synthetic noise: sigma drawn from [0, NOISE]/255."),
    jpeg_prob: float = typer.Option(0.0, help="Synthetic: probability of a JPEG re-compression."),
    steps_per_epoch: Optional[int] = typer.Option(None, help="Batches per epoch.",
                                                  show_default="about 4 crops per train image"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    init: Optional[Path] = typer.Option(None, help="Start from this .keras model's weights (fine-tune); "
                                        "without --model, its own architecture and recipe.",
                                        show_default="random weights"),
    qat: bool = typer.Option(False, "--qat", help="Quantization-aware fine-tuning: simulate int8 rounding after "
                             "every layer, so the int8 export loses less (use with --init)."),
    precision: str = typer.Option("float32", help="float32 | bfloat16 (mixed precision: bf16 compute, float32 "
                                  "weights; ~1.5x faster on CPUs with AVX512-BF16). Saved models are float32."),
    devices: Optional[str] = typer.Option(None, help="Comma-separated devices for MirroredStrategy, e.g. "
                                          "/cpu:0,/cpu:1.", show_default="all GPUs if several, else one device"),
    source: List[str] = typer.Option(None, "--source", help="Mix sources in one run: KIND=PATH[,PATH]\\[@WEIGHT], "
                                     "repeatable, e.g. pairs=dpdd_dev@0.5 (replaces --data/--dataset); KIND smooth: "
                                     "photos as smooth in-focus pairs that must come out unchanged, e.g. "
                                     "smooth=photos@0.0625.",
                                     show_default="none: --data/--dataset"),
    blur_model: str = typer.Option("disc", help="Synthetic blur: disc (uniform disc, --radius) | scene (depth "
                                   "layers with occlusion, lens PSFs, sensor noise, JPEG; up to --max-radius)."),
    max_radius: float = typer.Option(16.0, help="Largest blur radius of --blur-model scene, px."),
    isp_prob: float = typer.Option(0.0, help="--blur-model scene: share of blurred images given a phone camera's "
                                   "processing (chroma noise reduction, cored sharpening)."),
    pool: int = typer.Option(0, help="Render this many synthetic pairs up front in worker processes "
                             "(recommended with --blur-model scene; 0: blur each crop on the fly)."),
    real_scale: str = typer.Option("1,1", help="Random downscale range 'MIN,MAX' for real pairs (their blur "
                                   "shrinks with them)."),
    strategy: str = typer.Option("auto", help="auto | default | mirrored | multi-worker. auto: multi-worker when "
                                 "TF_CONFIG is set (every worker runs this same command with its own TF_CONFIG), "
                                 "mirrored with --devices or several GPUs, else default (one device)."),
):
    """Train a deblurring model; writes model.keras, history.csv, loss_curve.png, predictions.png, card.json."""
    from edge_deblur.data import default_training_photos
    from edge_deblur.models import recipe_for, saved_model_name
    from edge_deblur.train import TrainConfig, train

    if not data and not source:
        data = default_training_photos() if dataset == "synthetic" else []
        if not data:
            raise EdgeDeblurError("--data is required (no shared data folder found; set EDGE_DEBLUR_DATA)")
    lo, hi = _parse_range(radius, "--radius")
    scale = _parse_range(real_scale, "--real-scale")
    warm = init is not None and model is not None  # an explicit --model beside --init may differ from the file's
    # without --model, --init's own architecture (and its recipe) is the run's, so the card names what is trained
    model = model or (saved_model_name(init) if init else None) or DEFAULT_MODEL
    r = recipe_for(model, recipe, epochs=epochs, batch_size=batch_size, size=size, lr=lr, loss=loss,
                   schedule=schedule)
    cfg = TrainConfig(data=[str(d) for d in data or []], model=model, dataset=dataset, out=str(out), epochs=r.epochs,
                      batch_size=r.batch_size, size=r.size, lr=r.lr, loss=r.loss, schedule=r.schedule, seed=seed,
                      blur=blur, radius=(lo, hi), noise=(0.0, noise / 255.0), jpeg_prob=jpeg_prob,
                      steps_per_epoch=steps_per_epoch, resume=resume,
                      devices=devices.split(",") if devices else None, strategy=strategy,
                      init=str(init) if init else None, warm_start=warm, qat=qat, precision=precision,
                      sources=list(source or []) or None, blur_model=blur_model, max_radius=max_radius,
                      isp_prob=isp_prob, pool=pool,
                      real_scale=scale, recipe=recipe, samples_per_epoch=r.samples_per_epoch,
                      plateau_factor=r.plateau_factor, plateau_patience=r.plateau_patience)
    with _ctrl_c_stops_training(out):
        train(cfg)


@app.command("bench", cls=Command)
@_user_errors
@_needs_training_extra
def bench_cmd(
    model: Optional[str] = typer.Option(None, help="A .keras model, a model folder, or a registry name (untrained "
                                                   "weights).", show_default="the bundled release model"),
    data: Optional[Path] = typer.Option(None, help="Dataset folder (with --dataset; all its pairs are used), or the "
                                                   "Kodak24 folder for --protocol.",
                                        show_default="scikit-image's sample photos, blurred at r=2/3/4 px"),
    dataset: Optional[str] = typer.Option(None, help="How to read --data: kwentar, pairs or synthetic.",
                                          show_default="none"),
    protocol: Optional[str] = typer.Option(None, help="A fixed benchmark protocol: defocus-kodak24 (synthetic) | "
                                           "real-dpdd-val (real pairs) | paper-kwentar224[-aligned] (the paper's "
                                           "protocol: kwentar defocus pairs squeezed to 224x224).",
                                           show_default="none"),
    size: Optional[str] = typer.Option(None, help="Latency frame / export size, N or HxW.",
                                       show_default="the shipped exports' size, else 224"),
    threads: Optional[int] = typer.Option(None, help="CPU threads for TFLite and TensorFlow.",
                                          show_default="all cores"),
    runs: int = typer.Option(20, help="Timed runs per variant."),
    warmup: int = typer.Option(3, help="Untimed warm-up runs per variant."),
    precision: Optional[List[str]] = typer.Option(None, "--precision", help="TFLite precision to include "
                                                  "(repeatable).", show_default="float32, float16 and int8"),
    limit: Optional[int] = typer.Option(None, help="Measure quality on only the first N pairs (said in the output).",
                                        show_default="all pairs"),
    baseline: str = typer.Option("richardson_lucy", help="Classical row: richardson_lucy or wiener."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON.",
                                             show_default="not written"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write the results as CSV.",
                                            show_default="not written"),
    markdown_path: Optional[Path] = typer.Option(None, "--markdown", help="Write a markdown report.",
                                                 show_default="not written"),
    plot_path: Optional[Path] = typer.Option(None, "--plot", help="Write a latency-vs-PSNR plot (.png/.svg/.pdf).",
                                             show_default="not written"),
    scale: Optional[str] = typer.Option(None, help="Processing scale of the models' quality runs: auto (long side "
                                        "to 1024 px, correction enlarged back) or a number in (0, 1].",
                                        show_default="native"),
    passes: int = typer.Option(1, min=1, max=2, help="2: score the models with `deblur`'s coarse second pass on "
                               "large blur (quality only; latency is one pass)."),
    views: int = typer.Option(1, help="2, 4 or 8: score the models with test-time augmentation, the mean of that "
                              "many mirrored/transposed restorations, as `deblur --views` (quality only; latency is "
                              "one view)."),
    wide: bool = typer.Option(False, "--wide", help="Show every column (p90, first run, GFLOP/s, pre/post, threads, "
                              "backend) in the terminal; the result files always have them."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing --json/--csv/--markdown/--plot "
                                   "files (otherwise an existing one stops the run before any work)."),
):
    """Benchmark a model's TFLite float32/float16/int8 exports against Keras, classical deconvolution and the
    blurred input: size, PSNR/SSIM, drops vs Keras, latency, FPS, GFLOP/s."""
    from rich.console import Console
    from rich.text import Text

    from edge_deblur.bench import PRECISIONS, run_bench

    result = run_bench(scale=_parse_scale(scale), passes=passes, views=_parse_views(views), model=model, data=data,
                       dataset=dataset, protocol=protocol, size=_parse_size(size), threads=threads, runs=runs,
                       warmup=warmup, precisions=tuple(precision or PRECISIONS), limit=limit, baseline=baseline,
                       json_path=json_path, csv_path=csv_path, markdown_path=markdown_path, plot_path=plot_path,
                       overwrite=overwrite)
    console = Console()
    # piped or redirected: print the whole table rather than fold it to 80 columns, unless $COLUMNS (which rich
    # reads itself) sets a width
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(width=220 if wide else 100)
    console.print(result.rich_table(wide=wide))
    for note in result.header["notes"]:
        console.print(Text(f"note: {note}"))  # wrapped at words to the table's width


@app.command("export", cls=Command)
@_user_errors
@_needs_training_extra
def export_cmd(
    model: Optional[Path] = typer.Argument(None, help="Trained MODEL.keras.", metavar="MODEL.keras",
                                           show_default="the bundled model"),
    quantize: List[str] = typer.Option(["all"], "--quantize", "-q", help="float32 | float16 | int8 | all "
                                       "(repeatable)."),
    data: List[Path] = typer.Option(None, "--data", help="Training data for int8 calibration (train split) and "
                                    "verification (test split); repeatable for photo folders.",
                                    show_default="the training data named in the model's card.json, else the "
                                    "shared training photos"),
    dataset: str = typer.Option("synthetic", help="How to read --data: kwentar | pairs | synthetic."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (required for the bundled model).",
                                       show_default="the folder of MODEL.keras"),
    calibration_samples: int = typer.Option(300, help="int8 representative crops, at most 224x224 whatever --size "
                                            "(ranges do not depend on the frame size); warns below 100."),
    calibration_batch: int = typer.Option(16, help="int8 ranges: mean of each batch's min/max over batches of this "
                                          "many crops (robust to outlier pixels); 0: min/max over all crops."),
    size: str = typer.Option("224", help="Model input size, N or HxW (a multiple of the model's stride)."),
    io_dtype: str = typer.Option("float32", help="int8 model input/output: float32 (fully XNNPACK-delegated) | "
                                 "uint8 (camera bytes; adds two undelegated QUANTIZE ops) | int8."),
    verify_images: int = typer.Option(3, help="Held-out test images to verify each file on."),
    seed: int = typer.Option(0, help="Seed of the split, the calibration crops and the verification blur."),
    allow_untrained: bool = typer.Option(False, "--allow-untrained", help="Export even a model whose Keras output "
                                         "scores more than 8 dB PSNR below the blurred input on the held-out images "
                                         "(untrained, broken or not a deblurring model); warns instead of refusing."),
):
    """Export a Keras model to <model>_<precision>.tflite files with embedded metadata; report what each costs."""
    import warnings

    from rich.console import Console

    from edge_deblur.export import export_model

    console = Console()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = export_model(model, precisions=quantize, data=(list(data) if len(data) > 1 else data[0])
                               if data else None, dataset=dataset, out=out, calibration_samples=calibration_samples,
                               calibration_batch=calibration_batch, size=_parse_size(size), seed=seed,
                               io_dtype=io_dtype, verify_images=verify_images, allow_untrained=allow_untrained,
                               command=" ".join(["edge-deblur", *sys.argv[1:]]),
                               log=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    folder = next((r.path.parent for r in results if r.path), out)
    for line in _export_report(results, folder):
        console.print(line, soft_wrap=isinstance(line, str))  # paths and errors never broken; the note wrapped
    if any(r.error for r in results):
        raise typer.Exit(1)


@app.command("deblur", cls=Command)
@_user_errors
def deblur_cmd(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders.", metavar="PHOTOS"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder, or for one photo the result's file "
                                       "name (sharp.png, .jpg, .tif, .webp). Inputs are never overwritten.",
                                       show_default="NAME_deblurred.EXT beside each input"),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="A .tflite model.",
                                         show_default="the bundled model"),
    threads: Optional[int] = typer.Option(None, min=1, help="Interpreter threads.", show_default="the backend's"),
    overlap: int = typer.Option(32, min=0, help="Tile overlap in pixels, for models run in fixed-size tiles "
                                "(those without our metadata; ours run in large windows with a fixed halo)."),
    max_pixels: Optional[int] = typer.Option(None, min=1, help="Refuse images with more pixels, before decoding "
                                             "(default: $EDGE_DEBLUR_MAX_PIXELS, else 100000000)."),
    allow_foreign: bool = typer.Option(False, "--allow-foreign", help="Also run a .tflite without edge-deblur "
                                       "metadata or content digest (its input/output signature is still checked)."),
    scale: str = typer.Option("auto", help="Processing scale: auto (photos longer than 1024 px are restored at "
                              "1024 px and the enlarged correction is added to the full-size photo), 1 (native) or "
                              "a number in (0, 1]."),
    passes: int = typer.Option(2, min=1, max=2, help="2: also restore at half the processing scale and blend that "
                               "coarse correction in where the blur is large (up to 1.25x the compute); 1: one pass."),
    views: int = typer.Option(VIEWS_DEFAULT, help="Test-time augmentation: restore the photo and its mirrored and "
                              "turned copies, N in all (1, 2, 4 or 8; 8 adds the transposes), and average them (N "
                              "times the model's compute); 1: off."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing results (otherwise an existing "
                                   "result stops the run before any work)."),
):
    """Deblur photos with a TFLite model (any size; EXIF orientation kept; no TensorFlow needed).

    A bad file does not stop the others: failures are listed at the end and the exit code is 1."""
    import warnings

    from edge_deblur.batch import BatchError, deblur_files, names_a_file

    scale_value, views = _parse_scale(scale), _parse_views(views)
    where = " beside their inputs" if out is None else "" if names_a_file(out) else f" in {out}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            written = deblur_files(inputs, out_dir=out, model=model, num_threads=threads, overlap=overlap,
                                   max_pixels=max_pixels, allow_foreign=allow_foreign, scale=scale_value,
                                   passes=passes, views=views, overwrite=overwrite,
                                   on_written=lambda p: typer.echo(f"wrote {p}"))
            failures = []
        except BatchError as e:
            written, failures = e.written, e.failures
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    if failures or len(written) != 1:  # one photo written: its own "wrote PATH" line says it all
        where = where if written else ""  # nothing written: no folder to name (a new -o folder was never made)
        typer.echo(f"wrote {counted(len(written), 'image')}{where}" + (f"; {len(failures)} failed" if failures else ""))
    if failures:
        for _, reason in failures:
            typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(1)


@app.command("grid", cls=Command)
@_user_errors
def grid_cmd(
    inputs: List[Path] = typer.Argument(None, help="Blurred photos (or use --data with a kwentar/pairs folder).",
                                        metavar="PHOTOS"),
    out: Path = typer.Option(Path("before_after.png"), "--out", "-o", help="PNG (or .jpg) to write."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=".tflite model.",
                                         show_default="the bundled int8 model"),
    data: Optional[Path] = typer.Option(None, help="A kwentar or pairs folder: rows get the sharp shot too.",
                                        show_default="none"),
    dataset: str = typer.Option("kwentar", help="kwentar | pairs (with --data)."),
    limit: int = typer.Option(4, min=1, help="At most this many rows."),
    long_side: int = typer.Option(640, help="Photos with a longer side are shrunk to this (never enlarged); 0 "
                                  "keeps native size (100% crops)."),
    crop: int = typer.Option(224, help="Side of the 1:1 window shown per photo."),
    scale: str = typer.Option("1", help="Processing scale: auto (long side to 1024 px, the correction enlarged "
                              "back) or a number in (0, 1]."),
    split: str = typer.Option("all", help="With --data: all | train | val (recorded or scene split)."),
    passes: int = typer.Option(2, min=1, max=2, help="2: the coarse second pass of `deblur` on large blur; 1: one "
                               "pass."),
    views: int = typer.Option(VIEWS_DEFAULT, help="Test-time augmentation as in `deblur`: the mean of N (1, 2, 4 "
                              "or 8) mirrored/transposed restorations; 1: off."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
):
    """Make a before/after grid PNG of real photos with an exported model."""
    from edge_deblur.data import load_split
    from edge_deblur.figures import deblur_grid

    scale_value, views = _parse_scale(scale), _parse_views(views)
    if data is not None:
        pairs = [(p.blurred, p.sharp) for p in load_split(data, dataset, split)]
    elif split != "all":
        raise EdgeDeblurError(f"--split {split} chooses among the pairs of --data; give --data too")
    elif inputs:
        pairs = [(p, None) for p in inputs]
    else:
        raise EdgeDeblurError("give photos to show, or --data with a kwentar/pairs folder")
    label = "sharp shot (not aligned)" if dataset == "kwentar" else "sharp reference"
    written = deblur_grid(pairs[:limit], out, model=model, long_side=long_side or None, crop=crop,
                          scale=scale_value, passes=passes, views=views, reference_label=label, overwrite=overwrite)
    size = written.stat().st_size
    typer.echo(f"wrote {written} ({size / 1e3:.0f} kB)" if size >= 1000 else f"wrote {written} ({size} bytes)")


def main() -> None:  # pragma: no cover - entry point for `python -m edge_deblur`
    app(prog_name="edge-deblur")  # usage lines and error hints name the command, also under `python -m`


if __name__ == "__main__":  # pragma: no cover
    main()
