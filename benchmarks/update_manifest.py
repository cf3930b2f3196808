"""Record the release model's measured numbers and the commands that made it in export/manifest.json.

Reads the committed suite results (benchmarks/results/*.json, speed_vs_paper.json) and benchmarks/make_release.sh;
prints the issue's targets next to what was measured. Run after `run_suite.py` (which ends with
`speed_vs_paper.py`) and `photo_latency.py` (make_release.sh does). Each listed file's sha256 and size_bytes are
refreshed from the file itself; `--files-only` does just that (after `edge_deblur.tflite_meta.restamp_file`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _rows(result: dict) -> dict[str, dict]:
    return {(r["name"] if r["kind"] == "tflite" else r["kind"]): r for r in result["rows"]}


def measured(model: str) -> dict:
    """The release model's numbers from the suite results, with each target and whether it holds."""
    kodak_result = _load(f"defocus-kodak24_{model}_224.json")
    kodak = _rows(kodak_result)
    out, checks = _kodak_numbers(kodak)
    _speed_numbers(model, kodak["tflite-int8"], out, checks)
    _deblur_numbers(model, out, checks)
    out["targets"] = checks
    out["machine"] = kodak_result["header"]["machine"]
    return out


def _kodak_numbers(kodak: dict) -> tuple[dict, dict]:
    """The defocus-kodak24 quality, 224x224 latency and file sizes of the release model, and their targets."""
    ident, keras, oracle, blind = kodak["identity"], kodak["keras"], kodak["classical"], kodak["classical-blind"]
    int8, f16 = kodak["tflite-int8"], kodak["tflite-float16"]
    out = {
        "protocol": "defocus-kodak24 (72 pairs, full images)",
        "psnr": {"identity": ident["psnr"], "keras": keras["psnr"], "float16": f16["psnr"], "int8": int8["psnr"],
                 oracle["name"]: oracle["psnr"], blind["name"]: blind["psnr"]},
        "ssim": {"identity": ident["ssim"], "keras": keras["ssim"], "float16": f16["ssim"], "int8": int8["ssim"],
                 oracle["name"]: oracle["ssim"], blind["name"]: blind["ssim"]},
        "per_radius_psnr": {r: {"identity": ident["per_radius"][r]["psnr"], "keras": keras["per_radius"][r]["psnr"]}
                            for r in keras["per_radius"]},
        "latency_ms_224": {"float16": f16["latency_ms"], "int8": int8["latency_ms"], "keras": keras["latency_ms"]},
        "size_bytes": {r["name"]: round(r["size_mb"] * 1e6) for r in (f16, int8)},
    }
    checks = {
        "keras >= identity + 3.0 dB": keras["psnr"] - ident["psnr"] >= 3.0,
        "every radius better than identity": all(v["keras"] > v["identity"] for v in out["per_radius_psnr"].values()),
        "SSIM above identity": keras["ssim"] > ident["ssim"],
        f"keras >= {blind['name']} + 1.5 dB": keras["psnr"] - blind["psnr"] >= 1.5,
        "int8 drop <= 0.3 dB": -int8["d_psnr"] <= 0.3,
        "float16 drop <= 0.05 dB": -f16["d_psnr"] <= 0.05,
        "int8 file < 2 MB": int8["size_mb"] < 2.0,
    }
    return out, checks


def _speed_numbers(model: str, int8: dict, out: dict, checks: dict) -> None:
    """Add the speed against `paper` (suite runs and head to head), the 512x512 runs and the 12 MP photo runs;
    `int8` is the release int8 row of the Kodak run at 224x224."""
    paper = _load("defocus-kodak24_paper_224.json")
    if paper:  # the suite times each model in its own bench run, minutes apart
        p_int8 = _rows(paper)["tflite-int8"]
        out["paper_int8_latency_ms_224"] = p_int8["latency_ms"]
        out["speedup_int8_vs_paper_int8_224_suite_separate_runs"] = p_int8["latency_ms"] / int8["latency_ms"]
    head = _load("speed_vs_paper.json")  # both int8 files alternating in one loop: the target's "same run"
    if head:
        out["speedup_int8_vs_paper_int8_head_to_head"] = {
            str(r["size"]): {"ours_ms": r["median_ms"][model], "paper_ms": r["median_ms"]["paper"],
                             "speedup": r["speedup"]} for r in head["rows"]}
        if "224" in out["speedup_int8_vs_paper_int8_head_to_head"]:
            checks["int8 >= 20x faster than paper int8 at 224 (head to head)"] = \
                out["speedup_int8_vs_paper_int8_head_to_head"]["224"]["speedup"] >= 20
    k512 = _load(f"defocus-kodak24_{model}_512.json")
    if k512:
        rows512 = _rows(k512)
        out["latency_ms_512"] = {n: r["latency_ms"] for n, r in rows512.items() if r["kind"] == "tflite"}
        out["int8_dpsnr_512"] = {"d_psnr": rows512["tflite-int8"]["d_psnr"], "pairs": rows512["tflite-int8"]["pairs"]}
        checks["int8 drop <= 0.3 dB at 512x512 too"] = -rows512["tflite-int8"]["d_psnr"] <= 0.3
    photo = _load("photo_12mp.json")
    if photo:  # photo_latency.py: windows ("strips") against pixels x the per-pixel cost of one tile
        out["photo_12mp"] = {f"{r['precision']}, {r['threads']} thread(s)": {
            "seconds": r["strips"]["seconds_median"], "x_ideal": r["strips"]["overhead"]} for r in photo["latency"]}
        out["peak_rss_mb"] = {f"{r['model']} {r['size']} {r['strategy']}": r["peak_rss_mb"]
                              for r in photo.get("memory", [])}


def _deblur_numbers(model: str, out: dict, checks: dict) -> None:
    """Add Kodak as `deblur` runs photos, the kwentar Keras-vs-TFLite drops and the real-pair runs, with targets."""
    kodak_deblur = _load(f"defocus-kodak24-deblur_{model}_224.json")
    if kodak_deblur:  # the same pairs as `deblur` runs photos: 2 passes of 4 test-time augmentation views
        rows = _rows(kodak_deblur)
        out["defocus_kodak24_deblur"] = {n: {"psnr": r["psnr"], "ssim": r["ssim"], "d_psnr": r["d_psnr"]}
                                         for n, r in rows.items()}
        how = " (as deblur runs photos)"
        checks[f"keras{how} >= identity + 3.0 dB"] = rows["keras"]["psnr"] - rows["identity"]["psnr"] >= 3.0
        checks[f"int8 drop{how} <= 0.3 dB"] = -rows["tflite-int8"]["d_psnr"] <= 0.3
        checks[f"float16 drop{how} <= 0.05 dB"] = -rows["tflite-float16"]["d_psnr"] <= 0.05
    kw = _load(f"kwentar_{model}_224.json")
    if kw:
        out["kwentar_keras_vs_tflite_dpsnr"] = {r["name"]: r["d_psnr"] for r in kw["rows"] if r["kind"] == "tflite"}
    # the model alone; with the coarse second pass; as `deblur` runs photos (2 passes of 4 test-time views)
    for suffix, how in (("", ""), ("-2pass", " (2 passes)"), ("-deblur", " (as deblur runs photos)")):
        key = suffix.replace("-", "_")
        real = _load(f"real-dpdd-val{suffix}_{model}_224.json")
        if real:
            out[f"real_dpdd_val{key}"] = rows = _real_rows(real)
            r_id, r_int8 = rows["identity"], rows["tflite-int8"]
            checks[f"real-dpdd-val int8{how} >= identity + 1.0 dB"] = r_int8["psnr"] - r_id["psnr"] >= 1.0
            checks[f"real-dpdd-val int8{how} SSIM >= identity + 0.03"] = r_int8["ssim"] - r_id["ssim"] >= 0.03
            checks[f"real-dpdd-val int8{how}: at most 1 in 10 pairs below identity"] = \
                r_int8["below_identity"] <= r_int8["pairs"] / 10
        aligned = _load(f"kwentar-aligned{suffix}_{model}_224.json")
        if aligned:
            out[f"kwentar_aligned{key}"] = rows = _real_rows(aligned)
            rows["processing_scale"] = aligned["header"]["data"].get("processing_scale", "native")
            a_id, a_int8 = rows["identity"], rows["tflite-int8"]
            checks[f"kwentar aligned int8{how} PSNR not below identity"] = a_int8["psnr"] >= a_id["psnr"]
            checks[f"kwentar aligned int8{how} SSIM >= identity + 0.02"] = a_int8["ssim"] - a_id["ssim"] >= 0.02


def refresh_files(manifest: dict, folder: Path) -> list[str]:
    """Set each `files` entry's sha256 and size_bytes from the file in `folder`; return the paths that changed."""
    from edge_deblur.export import sha256_file

    changed = []
    for entry in manifest.get("files", []):
        path = folder / entry["path"]
        new = {"sha256": sha256_file(path), "size_bytes": path.stat().st_size}
        if any(entry.get(k) != v for k, v in new.items()):
            changed.append(entry["path"])
        entry.update(new)
    return changed


def _real_rows(result: dict) -> dict[str, dict]:
    """PSNR/SSIM (and pairs below the input) of every row of a real-pairs run."""
    return {name: {"psnr": r["psnr"], "ssim": r["ssim"], "below_identity": r.get("below_identity"),
                   "pairs": r["pairs"]} for name, r in _rows(result).items()}


def main() -> int:
    from edge_deblur._io import write_json

    manifest_path = ROOT / "export" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    changed = refresh_files(manifest, manifest_path.parent)
    if "--files-only" in sys.argv[1:]:
        write_json(manifest_path, manifest)
        print(f"refreshed sha256/size_bytes of {', '.join(changed) or 'nothing (all up to date)'}")
        return 0
    script = (ROOT / "benchmarks" / "make_release.sh").read_text().splitlines()
    manifest["release_commands"] = [line for line in script if line.strip() and not line.startswith(("#", "set "))]
    manifest["measured"] = measured(manifest["model"])
    write_json(manifest_path, manifest)
    for name, ok in manifest["measured"]["targets"].items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
