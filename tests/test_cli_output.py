"""What the commands print: tables that fit, no start-up chatter, one line for a missing training extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from edge_deblur._quiet import is_noise
from edge_deblur.bench import BenchResult, Row

ROOT = Path(__file__).resolve().parents[1]
NOISE_WORDS = ("oneDNN", "cuda", "cuInit", "absl::InitializeLog", "cpu_feature_guard", "XNNPACK delegate",
               "rebuild TensorFlow")


def _row(name: str, kind: str, **kw) -> Row:
    values = dict(name=name, kind=kind, precision="int8", backend="ai_edge_litert", threads=2, size_mb=3.180484,
                  psnr=29.587, ssim=0.86961, d_psnr=-0.1712, d_ssim=-0.0068, psnr_vs_keras=42.86, latency_ms=275.91,
                  latency_p90_ms=277.3, first_run_ms=150.1, fps=3.62, gflop=3.198, gflops_per_s=1316.8, pre_ms=0.33,
                  post_ms=0.09, xnnpack=True, pairs=72)
    values.update(kw)
    return Row(**values)


def _result() -> BenchResult:
    header = {"model": {"name": "unet_s2", "description": "unet_s2 (bundled release model; shipped exports: "
                                                           "float16, int8)"},
              "machine": {"cpu": "AMD EPYC", "cores": 2, "platform": "Linux-6.18-x86_64-with-glibc2.36"},
              "versions": {"edge-deblur": "0.1.0", "tensorflow": "2.21.0"},
              "data": {"name": "sample photos", "description": "scikit-image sample photos: 12 pairs"},
              "timing": {"size": [224, 224], "warmup": 3, "runs": 20}, "date": "2026-11-25 19:00 UTC", "notes": []}
    rows = [_row("identity (blurred input)", "identity", latency_ms=0.026, fps=38867.4, d_psnr=-4.17),
            _row("richardson-lucy (assumed r=3)", "classical-blind", latency_ms=1100.8, fps=0.9, d_psnr=-14.25),
            _row("keras", "keras", psnr_vs_keras=None, latency_ms=14.5, fps=68.9),
            _row("tflite-float16", "tflite", latency_ms=7.878, fps=126.9),
            _row("tflite-int8", "tflite", latency_ms=2.429, fps=411.7, psnr=100.0)]
    return BenchResult(header, rows)


def _render(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def test_default_bench_table_fits_100_columns_without_splitting_a_cell():
    from edge_deblur.bench.render import _compact_cells

    result = _result()
    lines = _render(result.rich_table(), 100)
    assert max(len(line) for line in lines) <= 100
    for row in result.rows:
        cells = _compact_cells(row)
        # every cell of a row whole, on the row's one line
        assert any(all(f" {c} " in line for c in cells) for line in lines), cells
    head = next(line for line in lines if "variant" in line)
    for col in ("MB", "PSNR", "SSIM", "dPSNR", "ms", "FPS"):
        assert f" {col} " in head


def test_wide_bench_table_has_every_column():
    from edge_deblur.bench.render import _TABLE_HEAD, _table_cells

    result = _result()
    lines = _render(result.rich_table(wide=True), 240)
    head = next(line for line in lines if "variant" in line)
    for col in ("p90 ms", "first ms", "GFLOP/s", "pre/post ms", "backend", "PSNR vs Keras"):
        assert col in head
    assert any(all(c in line for c in _table_cells(result.rows[-1])) for line in lines)
    assert len(_TABLE_HEAD) == 16


def test_export_table_keeps_file_names_and_byte_counts_whole_at_80_columns():
    from edge_deblur.cli import _export_report
    from edge_deblur.export import ExportResult

    results = [ExportResult(p, Path(f"/tmp/out/unet_s2_{p}.tflite"), size_bytes=n, psnr_vs_keras=60.23,
                            max_abs_diff=0.0012, delta_psnr=-0.0001, delta_ssim=-0.0001, fully_delegated=True,
                            verified_on="3 test-split images")
               for p, n in (("float32", 3_055_412), ("float16", 1_543_984), ("int8", 814_416))]
    results.append(ExportResult("int8", Path("/tmp/out/a_model_with_a_rather_long_name_int8.tflite"), 814_416,
                                psnr_vs_keras=42.0, max_abs_diff=0.1, delta_psnr=-0.2, delta_ssim=-0.01,
                                fully_delegated=False, not_delegated=["QUANTIZE"]))
    text = "\n".join(line for r in _export_report(results, Path("/tmp/out")) for line in _render(r, 80))
    assert "…" not in text
    for r in results[:3]:
        assert any(r.path.name in line and f"{r.size_bytes:,}" in line for line in text.splitlines()), r.path.name
    assert "a_model_with_a_rather_long_name_int8.tflite" in text.replace("\n", "").replace(" ", "").replace(
        "│", "")  # folded onto two lines at most, never cut
    assert "not delegated to XNNPACK: QUANTIZE" in text and "uniform gray" not in text  # flat drift not measured
    results[2].flat_drift, results[2].flat_drift_level = 5.8, 152
    text = "\n".join(line for r in _export_report(results, Path("/tmp/out")) for line in _render(r, 80))
    assert "unet_s2_int8.tflite: on a uniform gray tile (level 152) its output is 5.8 levels of 255 away" in " ".join(
        text.split())
    note = [line for line in text.splitlines() if "verified on" in line or "Keras model's" in line]
    assert len(note) == 2 and all(len(line) <= 80 for line in note)  # the note is wrapped at words, not cut


def test_noise_patterns():
    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "I0000 00:00:1795633222.901653    8589 port.cc:153] oneDNN custom operations are on.",
             "I0000 00:00:1795633222.902001    8589 cudart_stub.cc:31] Could not find cuda drivers on your machine",
             "E0000 00:00:1795633222.902001    8589 cuda_executor.cc:1228] failed call to cuInit: INTERNAL: CUDA error",
             "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
             "appropriate compiler flags.",
             "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."]
    assert all(is_noise(line) for line in noise)
    real = ["error: /x.jpg: no such file or folder", "UserWarning: only 16 calibration samples",
            "E0000 00:00:1795633222.902001    8589 some_kernel.cc:12] Out of memory while allocating"]
    assert not any(is_noise(line) for line in real)


def _cli(*args, env=None, code=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "edge_deblur", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "100", **(env or {})})


def test_tensorflow_and_litert_commands_print_no_start_up_lines(tmp_path):
    from PIL import Image

    res = _cli("models")
    assert res.returncode == 0, res.stderr
    assert "unet_s2" in res.stdout
    assert not [w for w in NOISE_WORDS if w in res.stderr], res.stderr
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(photo)
    res = _cli("deblur", str(photo), "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert res.stderr == "", res.stderr
    # --verbose lets them through
    res = _cli("--verbose", "deblur", str(photo), "-o", str(tmp_path / "out2"))
    assert res.returncode == 0 and "XNNPACK delegate" in res.stderr


BLOCK_TRAINING_EXTRA = """
import importlib.abc, sys
class _NoTrainingExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "cv2", "skimage", "matplotlib"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoTrainingExtra())
sys.argv[0] = "edge-deblur"
from edge_deblur.cli import main
main()
"""


@pytest.mark.parametrize("args", [["models"], ["bench"], ["export"], ["train"],
                                  ["data", "align", "--data", "{data}", "--out", "{out}"]])
def test_missing_training_extra_is_one_line_naming_the_command_and_the_install(args, tmp_path):
    args = [a.format(data=tmp_path, out=tmp_path / "aligned") for a in args]
    res = _cli(*args, code=BLOCK_TRAINING_EXTRA)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    command = " ".join(a for a in args if not a.startswith("-") and "/" not in a)
    assert lines[0].startswith(f"error: `edge-deblur {command}` needs ")
    assert lines[0].endswith("pip install 'edge-deblur[train]'")


def test_ctrl_c_in_a_command_exits_130_without_interpreter_shutdown(monkeypatch, capsys):
    # issue 16 campaign: `export` printed "interrupted" within a second of Ctrl-C, then spent 5-10 s in TensorFlow's
    # interpreter shutdown; every file is written atomically, so there is nothing left to clean up
    from edge_deblur import cli

    def stop(code):
        raise SystemExit(f"os._exit({code})")

    monkeypatch.setattr(cli.os, "_exit", stop)

    @cli._user_errors
    def export_cmd():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit, match=r"os._exit\(130\)"):
        export_cmd()
    assert capsys.readouterr().err == "interrupted\n"


def test_sigterm_unwinds_like_ctrl_c_and_exits_143(tmp_path):
    # a batch killed by SIGTERM (a job scheduler, `timeout`, a container stop) left a partial .tmp file in its output
    # folder; it now unwinds like Ctrl-C: the photo being written finishes or vanishes, nothing partial stays
    import signal
    import subprocess
    import sys

    from conftest import smooth_image
    from edge_deblur.images import write_image
    from test_runtime import make_tflite, randomized

    model = make_tflite(tmp_path / "tiny_float32.tflite", randomized("tiny"), 32, "float32")
    for i in range(60):
        write_image(tmp_path / "in" / f"p{i:02d}.png", smooth_image(300, 300, i))
    proc = subprocess.Popen([sys.executable, "-m", "edge_deblur", "deblur", str(tmp_path / "in"), "-o",
                             str(tmp_path / "out"), "-m", str(model), "--views", "8"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # the first photo is written: the batch is under way
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    assert first.startswith("wrote ") and proc.returncode == 143, (first, rest, err)
    assert err.strip().splitlines()[-1] == "terminated"
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert 1 <= len(written) < 60 and all(n.endswith(".png") and not n.startswith(".") for n in written)


def test_version_prints_the_package_version():
    from typer.testing import CliRunner

    from edge_deblur import __version__
    from edge_deblur.cli import app

    res = CliRunner().invoke(app, ["--version"])
    assert (res.exit_code, res.stdout) == (0, f"edge-deblur {__version__}\n")


@pytest.mark.parametrize("args, message", [
    (["deblur", "a.png", "--passes", "0"],
     "error: Invalid value for '--passes': Input should be greater than or equal to 1 "
     "(see 'edge-deblur deblur --help')"),
    (["deblur"], "error: Missing argument 'PHOTOS' (see 'edge-deblur deblur --help')"),
    (["bench", "--size"], "error: Option '--size' requires an argument (see 'edge-deblur bench --help')"),
    (["data", "align", "--bogus"],
     "error: No such option: --bogus (Possible options: --blur, --out) (see 'edge-deblur data align --help')"),
    (["nosuch"], "error: No such command 'nosuch' (see 'edge-deblur --help')"),
])
def test_usage_errors_are_one_line_with_exit_code_2(args, message):
    res = _cli(*args)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [message] and res.stdout == ""  # no boxed usage panel


def test_no_arguments_still_show_the_help():
    for args in ([], ["data"]):
        res = _cli(*args)
        assert "Usage: edge-deblur" in res.stdout and "error" not in res.stdout + res.stderr
