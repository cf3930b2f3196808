"""Batches of files through `deblur_files` and `edge-deblur deblur`: bad files, name clashes, unwritable or full
output folders, hostile images (non-RGB TIFFs, bomb headers, big EXIF), and re-runs over a folder's own results."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import ROOT, smooth_image
from edge_deblur.batch import BatchError, collect_images, deblur_files
from edge_deblur.cli import app
from edge_deblur.errors import ImageError
from edge_deblur.images import read_image, write_image
from test_images import TIFF_VARIANTS, _png_header_only, _with_description
from test_runtime import make_tflite, randomized


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_tflite(tmp_path_factory.mktemp("batch_model") / "tiny_float32.tflite", randomized("tiny"), 32,
                       "float32")


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _opens(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()
        return im.size


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _mixed_folder(root: Path) -> Path:
    """Two good photos and four bad files: truncated, not an image, a bomb header, a TIFF pretending to be one."""
    write_image(root / "good1.png", smooth_image(30, 40, 1))
    write_image(root / "sub" / "good2.jpg", smooth_image(36, 28, 2))
    data = (root / "good1.png").read_bytes()
    (root / "cut.png").write_bytes(data[: len(data) // 2])
    (root / "notes.jpg").write_text("not a picture")
    _png_header_only(root / "bomb.png", 15000, 10000)
    (root / "fake.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    return root


def test_bad_files_do_not_stop_the_batch(tmp_path, model):
    src = _mixed_folder(tmp_path / "in")
    with pytest.raises(BatchError) as info:
        deblur_files([src], out_dir=tmp_path / "out", model=model, progress=False)
    err = info.value
    assert [p.name for p in err.written] == ["good1.png", "good2.jpg"]
    assert _tree(tmp_path / "out") == ["good1.png", "sub/good2.jpg"]
    assert _opens(tmp_path / "out" / "good1.png") == (40, 30)
    reasons = {p.name: r for p, r in err.failures}
    assert sorted(reasons) == ["bomb.png", "cut.png", "fake.tif", "notes.jpg"]
    assert "15000x10000 is 150 megapixels, over the limit of 100" in reasons["bomb.png"]
    assert "not an image file" in reasons["notes.jpg"]
    assert all(str(src) in r for r in reasons.values())  # every reason names its file
    assert str(err).startswith("4 of 6 image(s) failed:")


def test_cli_lists_every_failure_and_exits_1(tmp_path, model):
    src = _mixed_folder(tmp_path / "in")
    res = cli("deblur", src, "-o", tmp_path / "out", "--model", model)
    assert res.exit_code == 1
    assert res.stdout.splitlines() == [f"wrote {tmp_path / 'out' / 'good1.png'}",
                                       f"wrote {tmp_path / 'out' / 'sub' / 'good2.jpg'}",
                                       f"wrote 2 images in {tmp_path / 'out'}; 4 failed"]
    errors = res.stderr.splitlines()
    assert len(errors) == 4 and all(line.startswith(f"error: {src}") for line in errors)
    assert "Traceback" not in res.output


def test_pixel_limit_option_refuses_big_images_and_keeps_the_others(tmp_path, model):
    write_image(tmp_path / "in" / "small.png", smooth_image(20, 20, 1))
    write_image(tmp_path / "in" / "large.png", smooth_image(50, 60, 2))
    res = cli("deblur", tmp_path / "in", "--model", model, "--max-pixels", 1000)
    assert res.exit_code == 1
    assert "large.png: 60x50 is 3,000 pixels, over the limit of 1,000 pixels" in res.stderr
    assert _tree(tmp_path / "in") == ["large.png", "small.png", "small_deblurred.png"]


def test_same_output_name_is_refused_before_any_work(tmp_path, model):
    for folder in ("day1", "day2"):
        write_image(tmp_path / folder / "a.png", smooth_image(20, 20, 1))
    res = cli("deblur", tmp_path / "day1" / "a.png", tmp_path / "day2" / "a.png", "-o", tmp_path / "out",
              "--model", model)
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: 1 output name clash(es), nothing written: {tmp_path / 'day1' / 'a.png'} "
                                  f"and {tmp_path / 'day2' / 'a.png'} -> {tmp_path / 'out' / 'a.png'} (give the "
                                  "inputs separate --out folders, or pass their common parent folder)")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ImageError, match="output name clash"):  # two folders with the same relative names
        deblur_files([tmp_path / "day1", tmp_path / "day2"], out_dir=tmp_path / "out", model=model, progress=False)
    # their common parent keeps them apart; a file named twice is deblurred once
    written = deblur_files([tmp_path, tmp_path / "day1" / "a.png"], out_dir=tmp_path / "out", model=model,
                           progress=False)
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["day1/a.png", "day2/a.png"]


def test_output_onto_an_input_is_refused(tmp_path, model):
    names = ["a.png", "a_deblurred.png", "a_deblurred_deblurred.png"]  # a user's own files of those names
    for i, name in enumerate(names):
        write_image(tmp_path / name, smooth_image(20, 20, i))
    before = {n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in names}
    with pytest.raises(ImageError, match=r"a\.png and .*a_deblurred\.png -> .*a_deblurred_deblurred\.png"):
        deblur_files([tmp_path / n for n in names[:2]], model=model, progress=False)  # both map to the 3rd name
    with pytest.raises(ImageError, match=r"a\.png -> .*a_deblurred\.png, an input"):  # -o onto their folder
        deblur_files([tmp_path / n for n in names], out_dir=tmp_path, model=model, progress=False)
    assert {n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in names} == before
    assert _tree(tmp_path) == sorted(names)


@pytest.mark.parametrize("where", ["existing_file", "under_a_file"])
def test_out_pointing_at_a_file_is_one_line_and_writes_nothing(tmp_path, model, where):
    write_image(tmp_path / "in" / "a.png", smooth_image(20, 20, 1))
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    out = target if where == "existing_file" else target / "sub"
    res = cli("deblur", tmp_path / "in", "-o", out, "--model", model)
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {out}: cannot write results there: {target} is a file, not a folder"
    assert target.read_text() == "keep me" and _tree(tmp_path / "in") == ["a.png"]


def test_out_with_an_image_suffix_names_the_result_of_one_photo(tmp_path, model):
    """`deblur photo.png -o sharp.jpg` writes sharp.jpg (a JPEG), not a folder named sharp.jpg; for several photos,
    or onto the input itself, it is a one-line error before any work."""
    write_image(tmp_path / "in" / "a.png", smooth_image(20, 24, 1))
    write_image(tmp_path / "in" / "b.png", smooth_image(20, 24, 2))
    res = cli("deblur", tmp_path / "in" / "a.png", "-o", tmp_path / "res" / "sharp.jpg", "--model", model)
    assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "res" / "sharp.jpg") as im:
        assert im.format == "JPEG" and im.size == (24, 20)
    res = cli("deblur", tmp_path / "in", "-o", tmp_path / "res" / "both.png", "--model", model)
    assert res.exit_code == 2
    assert "both.png: a file name, but 2 photos would be written there" in res.stderr
    res = cli("deblur", tmp_path / "in" / "a.png", "-o", tmp_path / "in" / "a.png", "--model", model)
    assert res.exit_code == 2 and "an input: nothing written" in res.stderr
    assert _tree(tmp_path / "res") == ["sharp.jpg"] and _tree(tmp_path / "in") == ["a.png", "b.png"]
    res = cli("deblur", tmp_path / "in" / "a.png", "--overlap", -5, "--model", model)  # was accepted silently
    assert res.exit_code == 2 and "--overlap" in res.output and _tree(tmp_path / "in") == ["a.png", "b.png"]
    (tmp_path / "dir.png").mkdir()  # an existing folder with an image-like name stays a folder
    assert cli("deblur", tmp_path / "in" / "b.png", "-o", tmp_path / "dir.png", "--model", model).exit_code == 0
    assert _tree(tmp_path / "dir.png") == ["b.png"]


def test_out_in_a_format_we_do_not_write_is_refused_not_made_a_folder(tmp_path, model):
    write_image(tmp_path / "in" / "a.png", smooth_image(20, 24, 1))
    res = cli("deblur", tmp_path / "in" / "a.png", "-o", tmp_path / "sharp.gif", "--model", model)
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: {tmp_path / 'sharp.gif'}: results are not written as GIF; name a .png, "
                                  ".jpg, .tif, .bmp or .webp file, or a folder")
    assert not (tmp_path / "sharp.gif").exists()  # it used to become a folder holding a.png
    (tmp_path / "old.gif").mkdir()  # an existing folder of that name is still a folder
    assert cli("deblur", tmp_path / "in" / "a.png", "-o", tmp_path / "old.gif", "--model", model).exit_code == 0
    assert _tree(tmp_path / "old.gif") == ["a.png"]


def test_one_photo_prints_one_line(tmp_path, model):
    write_image(tmp_path / "x.jpg", smooth_image(30, 30, 1))
    res = cli("deblur", tmp_path / "x.jpg", "-o", tmp_path / "sharp.png", "--model", model)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [f"wrote {tmp_path / 'sharp.png'}"]  # no "wrote 1 image" after it


def test_rerun_without_out_never_deblurs_its_own_results(tmp_path, model):
    write_image(tmp_path / "x.jpg", smooth_image(30, 30, 1))
    write_image(tmp_path / "y_deblurred.png", smooth_image(30, 30, 2))  # no y.png beside it: a real input
    for again in ([], ["--overwrite"]):  # the second run replaces its own results: they are not taken as inputs
        res = cli("deblur", tmp_path, "--model", model, *again)
        assert res.exit_code == 0, res.output
        assert res.stdout.splitlines() == [f"wrote {tmp_path / 'x_deblurred.jpg'}",
                                           f"wrote {tmp_path / 'y_deblurred_deblurred.png'}",
                                           "wrote 2 images beside their inputs"]
    assert _tree(tmp_path) == ["x.jpg", "x_deblurred.jpg", "y_deblurred.png", "y_deblurred_deblurred.png"]


def test_rerun_with_out_inside_the_input_folder_skips_it(tmp_path, model):
    write_image(tmp_path / "x.png", smooth_image(30, 30, 1))
    for again in ([], ["--overwrite"]):
        assert cli("deblur", tmp_path, "-o", tmp_path / "sharp", "--model", model, *again).exit_code == 0
    assert _tree(tmp_path) == ["sharp/x.png", "x.png"]
    assert [p.name for p, _ in collect_images([tmp_path], exclude=tmp_path / "sharp")] == ["x.png"]


def test_out_onto_the_input_folder_writes_beside_and_reruns_cleanly(tmp_path, model):
    write_image(tmp_path / "x.png", smooth_image(30, 30, 1))
    for again in ([], ["--overwrite"]):
        res = cli("deblur", tmp_path, "-o", tmp_path, "--model", model, *again)
        assert res.exit_code == 0, res.output
        assert res.stdout.splitlines()[0] == f"wrote {tmp_path / 'x_deblurred.png'}"
    assert _tree(tmp_path) == ["x.png", "x_deblurred.png"]


def test_non_rgb_tiffs_give_outputs_that_open(tmp_path, model):
    g = (smooth_image(24, 32, 3)[..., 1] * 255).astype(np.uint8)
    (tmp_path / "in").mkdir()
    for name, make in TIFF_VARIANTS.items():
        make(g).save(tmp_path / "in" / f"{name}.tif")
    written = deblur_files([tmp_path / "in"], out_dir=tmp_path / "out", model=model, progress=False)
    assert len(written) == len(TIFF_VARIANTS)
    for path in written:
        assert _opens(path) == (32, 24), path.name


def test_exif_near_64_kb_in_a_batch(tmp_path, model):
    (tmp_path / "in").mkdir()
    _with_description(tmp_path / "in" / "fits.jpg", 65400)
    _with_description(tmp_path / "in" / "big.png", 65600)
    res = cli("deblur", tmp_path / "in", "-o", tmp_path / "out", "--model", model)
    assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "out" / "fits.jpg") as im:
        assert len(im.getexif()[0x010E]) == 65400
    with Image.open(tmp_path / "out" / "big.png") as im:  # PNG holds any EXIF size
        assert len(im.getexif()[0x010E]) == 65600


# --- real full and read-only file systems: a private tmpfs mount in a new mount namespace -----------------------

CHECK = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from PIL import Image
    out = {}
    for p in sorted(Path(sys.argv[1]).rglob("*")):
        try:
            with Image.open(p) as im:
                im.load()
                out[p.name] = list(im.size)
        except Exception as e:
            out[p.name] = type(e).__name__
    print("FILES " + json.dumps(out))
""")


def _in_tmpfs(options: str, mount: Path, args: list) -> subprocess.CompletedProcess:
    """Run `edge-deblur ARGS` with `mount` a fresh tmpfs (mount OPTIONS), then list what it holds."""
    cmd = " ".join(map(str, [sys.executable, "-m", "edge_deblur", *args]))
    script = (f"mount -t tmpfs -o {options} tmpfs {mount} || exit 99; {cmd}; rc=$?; "
              f"{sys.executable} -c '{CHECK}' {mount}; exit $rc")
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _can_mount(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    (tmp_path / "probe").mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {tmp_path / 'probe'}"],
                           capture_output=True)
    return probe.returncode == 0


def _files_listed(res: subprocess.CompletedProcess) -> dict:
    line = next(line for line in res.stdout.splitlines() if line.startswith("FILES "))
    return json.loads(line[len("FILES "):])


def test_full_disk_fails_the_big_file_cleanly_and_writes_the_small_ones(tmp_path, model):
    if not _can_mount(tmp_path):
        pytest.skip("cannot mount a private tmpfs here (needs unshare and CAP_SYS_ADMIN)")
    rng = np.random.default_rng(0)
    write_image(tmp_path / "in" / "a_small.png", smooth_image(16, 16, 1))
    write_image(tmp_path / "in" / "b_noise.png", rng.random((160, 160, 3)).astype(np.float32))  # ~77 KB as PNG
    write_image(tmp_path / "in" / "c_small.png", smooth_image(16, 16, 2))
    mount = tmp_path / "mnt"
    mount.mkdir()
    res = _in_tmpfs("size=48k", mount, ["deblur", tmp_path / "in", "-o", mount, "--model", model])
    assert res.returncode == 1, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tmp_path / 'in' / 'b_noise.png'}: {mount / 'b_noise.png'}: cannot write "
                      "(No space left on device)"]
    assert "Traceback" not in res.stderr
    assert _files_listed(res) == {"a_small.png": [16, 16], "c_small.png": [16, 16]}  # no partial or temp file


def test_read_only_file_system_stops_the_batch_before_any_work(tmp_path, model):
    # was one "cannot write (Read-only file system)" per photo, after the model had run on every one of them
    if not _can_mount(tmp_path):
        pytest.skip("cannot mount a private tmpfs here (needs unshare and CAP_SYS_ADMIN)")
    write_image(tmp_path / "in" / "a.png", smooth_image(16, 16, 1))
    mount = tmp_path / "mnt"
    mount.mkdir()
    res = _in_tmpfs("ro,size=64k", mount, ["deblur", tmp_path / "in", "-o", mount, "--model", model])
    assert res.returncode == 2, res.stderr
    assert [line for line in res.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {mount}: cannot write results there (read-only); nothing written (give --out a writable folder)"]
    assert _files_listed(res) == {}


@pytest.mark.parametrize("suffix", [".gif", ".ppm"])
def test_inputs_in_formats_we_read_but_cannot_write_give_png_results(tmp_path, suffix):
    # issue 16 campaign: a GIF or PPM was read and deblurred, then refused at write time ("cannot write '.gif'")
    from edge_deblur.batch import output_path

    src = tmp_path / f"photo{suffix}"
    assert output_path(src, None, None, set()) == tmp_path / "photo_deblurred.png"
    assert output_path(src, None, tmp_path / "out", set()) == tmp_path / "out" / "photo.png"


def test_existing_results_stop_the_run_unless_overwrite(tmp_path, model):
    write_image(tmp_path / "in" / "a.png", smooth_image(20, 20, 1))
    write_image(tmp_path / "in" / "b.png", smooth_image(20, 20, 2))
    (tmp_path / "in" / "b_deblurred.png").write_text("a user's file")
    keep = tmp_path / "keep.jpg"
    write_image(keep, smooth_image(20, 20, 3))
    before = keep.read_bytes()
    res = cli("deblur", tmp_path / "in" / "a.png", "-o", keep, "--model", model)
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {keep} already exists: nothing written (pass --overwrite to replace results)"
    assert keep.read_bytes() == before
    res = cli("deblur", tmp_path / "in", "--model", model)  # a_deblurred.png is new, b_deblurred.png is not
    assert res.exit_code == 2 and "b_deblurred.png already exists: nothing written" in res.stderr
    assert _tree(tmp_path / "in") == ["a.png", "b.png", "b_deblurred.png"]
    assert (tmp_path / "in" / "b_deblurred.png").read_text() == "a user's file"
    res = cli("deblur", tmp_path / "in", "--model", model, "--overwrite")
    assert res.exit_code == 0, res.output
    assert read_image(tmp_path / "in" / "b_deblurred.png").shape == (20, 20, 3)


@pytest.mark.parametrize("name", ["t4.xyz", "sharp.png.bak", "out.txt"])
def test_out_with_an_unknown_suffix_is_refused_not_made_a_folder(tmp_path, model, name):
    write_image(tmp_path / "a.png", smooth_image(20, 20, 1))
    res = cli("deblur", tmp_path / "a.png", "-o", tmp_path / name, "--model", model)
    assert res.exit_code == 2
    suffix = Path(name).suffix
    assert res.stderr.strip() == (f"error: {tmp_path / name}: '{suffix}' is not an image format we write (.png, .jpg, "
                                  ".tif, .bmp, .webp); for a folder with a dot in its name, create it first")
    assert _tree(tmp_path) == ["a.png"]
    (tmp_path / name).mkdir()  # an existing folder of that name is a folder
    assert cli("deblur", tmp_path / "a.png", "-o", tmp_path / name, "--model", model).exit_code == 0
    assert _tree(tmp_path) == ["a.png", f"{name}/a.png"]


def test_a_scale_that_leaves_the_model_a_few_pixels_is_refused(tmp_path, model):
    write_image(tmp_path / "a.png", smooth_image(120, 160, 1))
    res = cli("deblur", tmp_path / "a.png", "-o", tmp_path / "o.png", "--model", model, "--scale", "1e-9")
    assert res.exit_code == 1
    assert ("scale 1e-09 shrinks this 160x120 image to 1x1 px; the model needs at least 16 px a side" in res.stderr)
    assert _tree(tmp_path) == ["a.png"]
    assert cli("deblur", tmp_path / "a.png", "-o", tmp_path / "o.png", "--model", model, "--scale", "0.14"
               ).exit_code == 0  # 17 px on the short side


def test_a_fifo_is_refused_as_not_a_regular_file(tmp_path, model):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # reading it would block forever
    res = cli("deblur", fifo, "--model", model)
    assert (res.exit_code, res.stderr.strip()) == (2, f"error: {fifo}: not a regular file or folder")


def test_an_rgb_colour_profile_is_kept_and_a_cmyk_one_is_not(tmp_path, model):
    # a phone's Display P3 photo written without its profile is shown as sRGB: every colour off
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = Image.fromarray((smooth_image(40, 48, 1) * 255).astype(np.uint8))
    rgb.save(tmp_path / "p3.jpg", icc_profile=icc)
    rgb.save(tmp_path / "p3.png", icc_profile=icc)
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", icc_profile=icc[:16] + b"CMYK" + icc[20:])
    res = cli("deblur", tmp_path / "p3.jpg", tmp_path / "p3.png", tmp_path / "cmyk.jpg", "-o", tmp_path / "out",
              "--model", model)
    assert res.exit_code == 0, res.output
    profiles = {p.name: Image.open(p).info.get("icc_profile") for p in (tmp_path / "out").iterdir()}
    assert profiles == {"p3.jpg": icc, "p3.png": icc, "cmyk.jpg": None}  # CMYK pixels were converted to RGB


def test_a_batch_that_writes_nothing_names_no_folder(tmp_path, model):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    res = cli("deblur", tmp_path / "bad.png", "-o", tmp_path / "newdir", "--model", model)
    assert res.exit_code == 1
    assert res.stdout.strip() == "wrote 0 images; 1 failed"  # was "wrote 0 images in .../newdir", never made
    assert not (tmp_path / "newdir").exists()
