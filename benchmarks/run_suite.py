"""The committed benchmark suite: `edge-deblur bench` for `paper` and every efficient model, every precision, at
224x224 and 512x512, on the `defocus-kodak24` protocol, on the real pixel-aligned `real-dpdd-val` pairs and on the
real kwentar defocus pairs.

Each bench run writes `<data>_<model>_<size>.{json,md,png}` into the output folder; at the end the suite writes
`summary.json`, `summary.md` (the table the README quotes) and `summary.png` (latency vs PSNR of every variant).
When `paper` is in the suite, it ends with `speed_vs_paper.py`'s head-to-head int8 timing (the release file and
paper's alternating in one loop), written to `speed_vs_paper.json` and appended to `summary.md`.

Usage (from the repository root):
    python benchmarks/run_suite.py                          # the real suite -> benchmarks/results/
    python benchmarks/run_suite.py --weights unet_s=runs/unet_s/model.keras --weights paper=runs/paper/model.keras
    python benchmarks/run_suite.py --only unet_s --sizes 224
    python benchmarks/run_suite.py --quick                  # minutes: tiny model, tiny sizes, few pairs/runs
    python benchmarks/run_suite.py --replot                 # redraw summary.png from the committed json files

Trained weights are looked up per model as (first hit wins): `--weights NAME=PATH`, the bundled release folder
`export/NAME.keras`, `benchmarks/weights/NAME.npz` (float16 weights, `stored_weights.py`: the trained `paper` and
the controlled comparison `unet_s2-paper-recipe`, the release architecture trained by the paper's recipe), and
`runs/NAME/model.keras`. A model without weights is skipped (and listed in the summary) unless `--untrained` is
given, which measures the registry architecture with random weights: real latency and size, meaningless quality.
`--keep-others` re-runs only the selected entries and keeps every other run of the committed summary. `--quick`
implies `--untrained` and writes to a temporary folder by default, so its numbers never land in
`benchmarks/results/`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from edge_deblur.bench import REFERENCE_KINDS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Entry:
    """One bench run of the suite."""

    data: str  # "defocus-kodak24", "real-dpdd-val" or "kwentar"
    model: str
    size: int
    runs: int
    warmup: int
    limit: int | None  # quality on only the first N pairs (None: all)
    baseline: str

    @property
    def stem(self) -> str:
        """File stem of this run's results."""
        return f"{self.data}_{self.model}_{self.size}"


MODELS = ("paper", "unet_xs", "unet_s", "unet_s2", "unet_s3", "unet_m", "unet_s2-paper-recipe")
SIZES = (224, 512)
DATA = ("defocus-kodak24", "real-dpdd-val", "real-dpdd-val-2pass", "real-dpdd-val-deblur", "paper-kwentar224",
        "paper-kwentar224-aligned", "kwentar")
# real-dpdd-val again: with the coarse second pass (bench --passes 2), and as `deblur` runs photos (2 passes, 4 views)
TWO_PASS = ("real-dpdd-val-2pass", "real-dpdd-val-deblur")
PAPER_DATA = ("paper-kwentar224", "paper-kwentar224-aligned")  # the paper's own protocol: 224x224 images only
PAPER_KODAK_PAIRS = 12  # paper (~1 TFLOP per Kodak image in Keras) is scored on the first 4 photos x 3 radii


def suite(models=MODELS, sizes=SIZES, data=DATA) -> list[Entry]:
    """The suite as data, sized to finish in about half an hour on a 2-core machine.

    Choices, each stated in the results: quality is scored on every pair once, at the first (smallest) frame size;
    larger frame sizes are for latency and score a 12-pair subset. `paper` (~135 GFLOP per 224x224 frame, ~1 TFLOP
    per Kodak image in Keras) is scored on the first 12 Kodak pairs (4 photos at radius 2, 3, 4) at 224 and on 3 at
    512, on every real-dpdd-val scene, and not on the multi-megapixel kwentar photos. `real-dpdd-val` (real
    aperture defocus, pixel-aligned) scores every validation scene once, at the first frame size;
    `real-dpdd-val-2pass` scores them again with `deblur`'s coarse second pass, and `real-dpdd-val-deblur` as
    `deblur` runs photos, two passes of four test-time augmentation views each (neither for `paper`,
    whose single-pass run already takes ~10 min there). The paper's own
    protocol (kwentar pairs squeezed to 224x224) runs at 224 only. The kwentar runs exist for the Keras-vs-TFLite
    drop on real photos: they use the fast Wiener baseline with an assumed radius (their blur is unknown) and few
    timed runs (latency does not depend on the data; read it from the Kodak runs).
    """
    out = []
    for d in data:
        for m in models:
            heavy = m == "paper"
            if heavy and d in ("kwentar", *TWO_PASS):
                continue
            if d in PAPER_DATA:  # 224x224 images: one frame size
                out.append(Entry(d, m, 224, 3, 1, None, "wiener"))
                continue
            if d in ("real-dpdd-val", *TWO_PASS):  # real quality: every validation scene once, at the first size
                out.append(Entry(d, m, sizes[0], 3, 1, None, "wiener"))
                continue
            for i, s in enumerate(sizes):
                limit = (PAPER_KODAK_PAIRS if i == 0 else 3) if heavy else (None if i == 0 else 12)
                if d == "defocus-kodak24":
                    runs, warmup = (10, 2) if heavy and s <= 224 else (5, 1) if heavy else (30, 5)
                    out.append(Entry(d, m, s, runs, warmup, limit, "richardson_lucy"))
                else:
                    out.append(Entry(d, m, s, 3, 1, limit, "wiener"))
    return out


def quick_suite() -> list[Entry]:
    """A few-minute smoke run of the whole machinery: `tiny` at two small sizes, 3 Kodak pairs, 1 kwentar pair."""
    return ([Entry("defocus-kodak24", "tiny", s, 3, 1, 3, "wiener") for s in (32, 64)]
            + [Entry("kwentar", "tiny", 32, 2, 0, 1, "wiener")])


def find_weights(model: str, overrides: dict[str, str]) -> Path | None:
    """Trained .keras weights of `model`, or None."""
    if model in overrides:
        return Path(overrides[model])
    from stored_weights import keras_path

    if (ROOT / "export" / f"{model}.keras").is_file():
        return ROOT / "export" / f"{model}.keras"
    stored = keras_path(model)  # benchmarks/weights/NAME.npz, as a .keras file
    if stored is not None:
        return stored
    run = ROOT / "runs" / model / "model.keras"
    return run if run.is_file() else None


def run_entry(entry: Entry, model_arg: str, out: Path, data_root: Path, threads: int | None):
    """Run one bench; its json/md/png go to `out`."""
    from edge_deblur.bench import run_bench

    kwargs = {"defocus-kodak24": {"protocol": "defocus-kodak24", "data": data_root / "photos" / "kodak24"},
              "real-dpdd-val": {"protocol": "real-dpdd-val", "data": data_root / "dpdd_dev"},
              "real-dpdd-val-2pass": {"protocol": "real-dpdd-val", "data": data_root / "dpdd_dev", "passes": 2},
              "real-dpdd-val-deblur": {"protocol": "real-dpdd-val", "data": data_root / "dpdd_dev", "passes": 2,
                                       "views": 4},
              "paper-kwentar224": {"protocol": "paper-kwentar224", "data": data_root / "kwentar"},
              "paper-kwentar224-aligned": {"protocol": "paper-kwentar224-aligned", "data": data_root / "kwentar"},
              "kwentar": {"data": data_root / "kwentar", "dataset": "kwentar"}}[entry.data]
    return run_bench(model=model_arg, size=(entry.size, entry.size), threads=threads, runs=entry.runs,
                     warmup=entry.warmup, limit=entry.limit, baseline=entry.baseline,
                     # the release int8 used 100 crops (min/max ranges grow with more; 100 validated better than 300);
                     # paper: ~1 s of Keras per 224x224 calibration crop on 2 cores; 32 crops keep it to minutes
                     calibration_samples=32 if entry.model == "paper" else 100,
                     json_path=out / f"{entry.stem}.json", markdown_path=out / f"{entry.stem}.md",
                     plot_path=out / f"{entry.stem}.png", overwrite=True, **kwargs)  # the suite's own results


# --- summary ---------------------------------------------------------------------------------------------------------


def _f(x, digits=2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _measured_line(done: list[tuple[Entry, dict]], header: dict, seconds: float) -> str:
    """When the runs were measured: one date, or the span when --keep-others merged runs of several days."""
    dates = sorted({r["header"]["date"] for _, r in done})
    if len(dates) == 1:
        return f"- measured {header['date']}; suite wall time {seconds / 60:.1f} min"
    return (f"- measured between {dates[0]} and {dates[-1]} (each run's own file says when; the latest update "
            f"re-ran some entries in {seconds / 60:.1f} min)")


def summary_markdown(done: list[tuple[Entry, dict]], skipped: list[str], failed: list[str], header: dict,
                     seconds: float) -> str:
    """The suite's summary table(s) as markdown."""
    m = header["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in header["versions"].items())
    lines = ["# edge-deblur benchmark suite", "",
             f"- machine: {m['cpu']}, {m['cores']} logical cores, {m['platform']}",
             f"- versions: {versions}",
             _measured_line(done, header, seconds),
             "- latency: median of N interleaved timed runs after warm-up, inference only (pre/post in the per-run "
             "files), all cores unless stated; quality: full images, TFLite in ~1 MP windows (runs measured "
             "before 2026-11-27: 224x224 tiles)", ""]
    for data in DATA:
        runs = [(e, r) for e, r in done if e.data == data]
        if not runs:
            continue
        first = runs[0][1]
        how = "".join(f". {label} {first['header']['data'][key]}" for key, label in (("passes", "Passes"),
                                                                                    ("views", "Views"))
                      if key in first["header"]["data"])
        lines += [f"## {data}", "", first["header"]["data"]["description"] + (f"{how}." if how else ""), ""]
        if data == "defocus-kodak24":
            head = ["model", "variant", "frame", "MB", "PSNR", "SSIM", "dPSNR", "dSSIM", "PSNR vs Keras", "ms",
                    "p90 ms", "FPS", "GFLOP", "GFLOP/s", "pairs"]
        else:
            head = ["model", "variant", "frame", "MB", "PSNR", "SSIM", "dPSNR", "dSSIM", "PSNR vs Keras", "pairs"]
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        shown_refs = set()
        for e, res in runs:
            for row in res["rows"]:
                ref = row["kind"] in REFERENCE_KINDS
                key = (row["name"], row["pairs"], e.size if data == "defocus-kodak24" else None)
                if ref and key in shown_refs:  # the same reference row repeats per model and size
                    continue
                shown_refs.add(key)
                model = "-" if ref else e.model + (" (untrained)" if res["header"]["model"]["untrained"] else "")
                cells = [model, row["name"], "-" if ref and data != "defocus-kodak24" else f"{e.size}",
                         _f(row["size_mb"], 3), _f(row["psnr"]), _f(row["ssim"], 4), _f(row["d_psnr"]),
                         _f(row["d_ssim"], 4), _f(row["psnr_vs_keras"])]
                if data == "defocus-kodak24":
                    cells += [_f(row["latency_ms"], 1), _f(row["latency_p90_ms"], 1), _f(row["fps"], 1),
                              _f(row["gflop"], 3), _f(row["gflops_per_s"], 1)]
                cells.append(str(row["pairs"]))
                lines.append("| " + " | ".join(cells) + " |")
        if data == "defocus-kodak24":
            radii = sorted({k for _, r in runs for row in r["rows"] for k in row["per_radius"]})
            if radii:
                head = ["model", "variant", "frame"] + [f"r={k[1:]} PSNR / SSIM" for k in radii]
                lines += ["", "Per blur radius (mean over the pairs of each radius):", "",
                          "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
                shown_refs = set()
                for e, res in runs:
                    for row in res["rows"]:
                        ref = row["kind"] in REFERENCE_KINDS
                        if ref and (row["name"], row["pairs"]) in shown_refs:  # quality does not depend on size
                            continue
                        shown_refs.add((row["name"], row["pairs"]))
                        cells = ["-" if ref else e.model, row["name"], "-" if ref else str(e.size)] + [
                            "-" if k not in row["per_radius"] else
                            f"{row['per_radius'][k]['psnr']:.2f} / {row['per_radius'][k]['ssim']:.4f}" for k in radii]
                        lines.append("| " + " | ".join(cells) + " |")
        notes = sorted({n for _, r in runs for n in r["header"]["notes"]} |
                       {row["note"] for _, r in runs for row in r["rows"] if row["note"]})
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes] + [""]
    if skipped:
        lines += ["Skipped (no trained weights found):", ""] + [f"- {s}" for s in skipped] + [""]
    if failed:
        lines += ["FAILED runs:", ""] + [f"- {s}" for s in failed] + [""]
    return "\n".join(lines)


def summary_plot(done: list[tuple[Entry, dict]], path: Path) -> None:
    """Latency vs PSNR of every trained Kodak variant, one panel per frame size (see
    `edge_deblur.bench.render.speed_quality`); untrained runs are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_deblur._io import atomic_path
    from edge_deblur.bench.render import speed_quality

    kodak = [(e, r) for e, r in done if e.data == "defocus-kodak24"]
    sizes = sorted({e.size for e, _ in kodak})
    if not sizes:
        return
    fig, axes = plt.subplots(1, len(sizes), figsize=(7 * len(sizes), 5.6), dpi=120, squeeze=False)
    for ax, size in zip(axes[0], sizes):
        runs = [(e.model, r["rows"], bool(r["header"]["model"].get("untrained"))) for e, r in kodak if e.size == size]
        speed_quality(ax, runs, (size, size), "defocus-kodak24")
        left_out = sorted({m for m, _, untrained in runs if untrained})
        ax.set_title(f"speed vs quality at {size}x{size}" + (f" ({', '.join(left_out)}: untrained, not shown)"
                                                              if left_out else ""), fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def replot(out: Path) -> Path:
    """Redraw `out/summary.png` and each run's own plot (where it has one) from `out/summary.json` and the per-run
    json files it lists."""
    from edge_deblur.bench.render import plot
    from edge_deblur.bench.results import BenchResult, Row

    summary = json.loads((out / "summary.json").read_text())
    done = [(Entry(**run["entry"]), json.loads((out / run["file"]).read_text())) for run in summary["runs"]]
    for run, (_, result) in zip(summary["runs"], done):
        png = (out / run["file"]).with_suffix(".png")
        if png.exists():
            plot(BenchResult(result["header"], [Row(**row) for row in result["rows"]]), png)
    summary_plot(done, out / "summary.png")
    return out / "summary.png"


def _merge_kept(out: Path, done: list[tuple[Entry, dict]]) -> tuple[list[tuple[Entry, dict]], dict | None]:
    """`done` plus the runs of `out/summary.json` it did not re-run, in suite order; and the kept head-to-head."""
    path = out / "summary.json"
    if not path.is_file():
        return done, None
    summary = json.loads(path.read_text())
    fresh = {e.stem for e, _ in done}
    entries = [(Entry(**run["entry"]), out / run["file"]) for run in summary["runs"]]
    kept = [(e, json.loads(f.read_text())) for e, f in entries if e.stem not in fresh and f.is_file()]

    def order(item):
        e = item[0]
        return (DATA.index(e.data) if e.data in DATA else len(DATA),
                MODELS.index(e.model) if e.model in MODELS else len(MODELS), e.size)

    return sorted(kept + done, key=order), summary.get("head_to_head")


def _parser() -> argparse.ArgumentParser:
    """The suite's command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results; --quick: a temp folder)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny model, small sizes, few pairs and runs")
    parser.add_argument("--only", action="append", help="run only this model (repeatable)")
    parser.add_argument("--sizes", type=int, nargs="+", help=f"frame sizes (default {' '.join(map(str, SIZES))})")
    parser.add_argument("--data-sets", nargs="+", choices=DATA, help="which data (default both)")
    parser.add_argument("--weights", action="append", default=[], metavar="NAME=PATH", help="trained .keras of a model")
    parser.add_argument("--untrained", action="store_true", help="measure models without weights with random ones")
    parser.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    parser.add_argument("--data-root", type=Path,
                        help="the shared data folder (default: EDGE_DEBLUR_DATA or ../shared/data)")
    parser.add_argument("--keep-others", action="store_true", help="keep the runs of the summary in --out that this "
                        "invocation does not re-run (update some entries without re-running the whole suite)")
    parser.add_argument("--head-to-head", action="store_true", help="time the release int8 file against paper's "
                        "(speed_vs_paper.py) even when paper is not re-run (e.g. a new release with --keep-others)")
    parser.add_argument("--replot", action="store_true", help="only redraw summary.png from the summary.json and "
                        "per-run json files in --out (no benchmark runs)")
    return parser


def _weight_overrides(items: list[str]) -> dict[str, str]:
    """--weights NAME=PATH options as {model name: path}; ValueError naming a bad one."""
    overrides = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            raise ValueError(f"--weights {item}: expected NAME=PATH to an existing .keras file")
        overrides[name] = path
    return overrides


def _plan(args) -> tuple[list[Entry], Path, bool]:
    """The entries to run, the results folder and whether models without weights run untrained."""
    if not args.quick:
        entries = suite(models=tuple(args.only or MODELS), sizes=tuple(args.sizes or SIZES),
                        data=tuple(args.data_sets or DATA))
        return entries, args.out or RESULTS, args.untrained
    entries = [e for e in quick_suite() if (not args.only or e.model in args.only)
               and (not args.sizes or e.size in args.sizes) and (not args.data_sets or e.data in args.data_sets)]
    return entries, args.out or Path(tempfile.gettempdir()) / "edge-deblur-suite-quick", True


def _run_entries(entries: list[Entry], overrides: dict[str, str], untrained: bool, out: Path, data_root: Path,
                 threads: int | None) -> tuple[list, list[str], list[str]]:
    """Run each entry's bench: (entry, result dict) of those done, and the messages of those skipped and failed.

    A failed run (a user error or a bug, whose traceback is printed) does not stop the others."""
    from edge_deblur.errors import EdgeDeblurError

    done, skipped, failed = [], [], []
    for i, entry in enumerate(entries, 1):
        weights = find_weights(entry.model, overrides)
        if weights is None and not untrained:
            msg = f"{entry.model}: no trained weights (give --weights {entry.model}=PATH, or --untrained)"
            if msg not in skipped:
                skipped.append(msg)
            continue
        model_arg = str(weights) if weights is not None else entry.model
        print(f"[{i}/{len(entries)}] {entry.data} {entry.model} {entry.size}x{entry.size} "
              f"({'weights ' + str(weights) if weights else 'UNTRAINED'})", flush=True)
        try:
            result = run_entry(entry, model_arg, out, data_root, threads)
        except EdgeDeblurError as e:
            failed.append(f"{entry.stem}: {e}")
            print(f"  failed: {e}", file=sys.stderr)
            continue
        except Exception as e:  # a bug in one run must not lose the others; the traceback is printed
            traceback.print_exc()
            failed.append(f"{entry.stem}: {type(e).__name__}: {e}")
            continue
        done.append((entry, result.to_dict()))
        for row in result.rows:
            print(f"  {row.name:<28} PSNR {row.psnr:6.2f}  vs Keras {_f(row.psnr_vs_keras):>6}  "
                  f"{row.latency_ms:9.2f} ms", flush=True)
    return done, skipped, failed


def _write_summary(out: Path, done: list, skipped: list[str], failed: list[str], seconds: float,
                   head_to_head: dict | None, quick: bool) -> None:
    """summary.json, summary.md (with the head-to-head section when there is one) and summary.png in `out`."""
    from edge_deblur._io import write_json, write_text

    header = max((r["header"] for _, r in done), key=lambda h: h["date"])  # the newest run's machine and versions
    write_json(out / "summary.json", {
        "machine": header["machine"], "versions": header["versions"], "date": header["date"],
        "seconds": seconds, "quick": quick, "skipped": skipped, "failed": failed,
        "runs": [{"entry": asdict(e), "file": f"{e.stem}.json", "model": r["header"]["model"],
                  "data": r["header"]["data"], "rows": r["rows"]} for e, r in done],
        "head_to_head": head_to_head})
    text = summary_markdown(done, skipped, failed, header, seconds)
    if head_to_head is not None:
        import speed_vs_paper

        text += "\n".join(["", "## int8 speed head to head", "",
                            f"The release model's int8 file and `paper`'s, in one process, alternating invoke by "
                            f"invoke ({head_to_head['rounds']} rounds after {head_to_head['warmup']} warm-up, "
                            f"{head_to_head['threads']} threads), so machine drift hits both. The tables above time "
                            f"each model in its own bench run, minutes apart ([speed_vs_paper.json]"
                            f"(speed_vs_paper.json)).", "", speed_vs_paper.markdown(head_to_head), ""])
    write_text(out / "summary.md", text)
    summary_plot(done, out / "summary.png")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.replot:
        replot(args.out or RESULTS)
        return 0

    from edge_deblur.data import default_data_root

    data_root = args.data_root or default_data_root()
    if data_root is None or not (data_root / "photos" / "kodak24").is_dir():
        print("error: the shared data folder (photos/kodak24, kwentar/) was not found; pass --data-root",
              file=sys.stderr)
        return 2
    try:
        overrides = _weight_overrides(args.weights)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    entries, out, untrained = _plan(args)
    start = time.perf_counter()
    done, skipped, failed = _run_entries(entries, overrides, untrained, out, data_root, args.threads)
    seconds = time.perf_counter() - start
    if not done:
        print("error: no bench run completed" + (f" ({'; '.join(skipped + failed)})" if skipped or failed else ""),
              file=sys.stderr)
        return 1
    head_to_head = None
    paper_ran = any(e.model == "paper" for e, _ in done)
    if args.keep_others:
        done, head_to_head = _merge_kept(out, done)
    if not args.quick and (paper_ran or args.head_to_head):
        # the speed target compares int8 files "measured in the same run": both alternate invoke by invoke
        import speed_vs_paper

        print("head to head: the release int8 file against paper int8, alternating invokes", flush=True)
        head_to_head = speed_vs_paper.run(sorted({e.size for e, _ in done}), 100, 10, args.threads or os.cpu_count(),
                                          out / "speed_vs_paper.json")
        seconds = time.perf_counter() - start
    _write_summary(out, done, skipped, failed, seconds, head_to_head, args.quick)
    print(f"wrote {out}/summary.md, summary.json, summary.png and {len(done)} per-run json/md/png")
    return 1 if failed else 0

if __name__ == "__main__":
    from edge_deblur._quiet import filtered  # TensorFlow's and LiteRT's start-up chatter, as the CLI drops it

    with filtered():
        code = main()
    sys.exit(code)
