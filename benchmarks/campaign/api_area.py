"""Areas 5 and 6: misuse of the Python API (each call in its own process), and one `Deblurrer` shared by 4
threads (100 calls each, int8 and float16) whose results must equal the serial ones exactly."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.campaign.common import Case, run, timed
from benchmarks.campaign.fixtures import tiny_exports

PRELUDE = r'''
import sys, numpy as np
from pathlib import Path
from edge_deblur.runtime import Deblurrer
from edge_deblur.images import read_image, write_image
from edge_deblur.errors import EdgeDeblurError
M = Path(sys.argv[1]); T = Path(sys.argv[2]); x = np.random.default_rng(0).integers(0, 256, (40, 52, 3), np.uint8)
CLEAN = (EdgeDeblurError, ValueError, TypeError)
try:
    result = (lambda: CODE)()
except CLEAN as e:
    print(f"RAISED {type(e).__name__}: {str(e).splitlines()[0][:200]}"); sys.exit(0)
CHECK
print("RETURNED"); sys.exit(0)
'''
_D = "Deblurrer(M)"
# (name, expression, expect): expect 'raise' or a Python condition on `result` that must hold
CASES = [
    ("Deblurrer(model=123)", "Deblurrer(123)", "raise"), ("Deblurrer(model=b'bytes')", "Deblurrer(b'x')", "raise"),
    ("Deblurrer(model=[list])", "Deblurrer(['a'])", "raise"), ("Deblurrer(model=folder)", "Deblurrer(T)", "raise"),
    ("Deblurrer(num_threads=0)", "Deblurrer(M, num_threads=0)", "raise"),
    ("Deblurrer(num_threads=-1)", "Deblurrer(M, num_threads=-1)", "raise"),
    ("Deblurrer(num_threads='2')", "Deblurrer(M, num_threads='2')", "raise"),
    ("Deblurrer(num_threads=2.5)", "Deblurrer(M, num_threads=2.5)", "raise"),
    ("Deblurrer(num_threads=True)", "Deblurrer(M, num_threads=True)", "raise"),
    ("Deblurrer(overlap='x')", "Deblurrer(M, overlap='x')", "raise"),
    ("Deblurrer(overlap=-5) clamps", "Deblurrer(M, overlap=-5)(x)", "result.shape == x.shape"),
    ("Deblurrer(overlap=10**9)", "Deblurrer(M, overlap=10**9)(x)", "result.shape == x.shape"),
    ("Deblurrer(scale=0)", "Deblurrer(M, scale=0)", "raise"),
    ("Deblurrer(scale=-1)", "Deblurrer(M, scale=-1)", "raise"),
    ("Deblurrer(scale=2)", "Deblurrer(M, scale=2)", "raise"), ("Deblurrer(scale='big')", "Deblurrer(M, scale='big')",
                                                                 "raise"),
    ("Deblurrer(scale=nan)", "Deblurrer(M, scale=float('nan'))", "raise"),
    ("Deblurrer(backend='nope')", "Deblurrer(M, backend='nope')", "raise"),
    ("call(list)", f"{_D}(x.tolist())", "raise"), ("call(None)", f"{_D}(None)", "raise"),
    ("call(2-D)", f"{_D}(x[..., 0])", "raise"), ("call(4 channels)", f"{_D}(np.dstack([x, x[..., :1]]))", "raise"),
    ("call(1 channel)", f"{_D}(x[..., :1])", "raise"), ("call(empty 0x5)", f"{_D}(x[:0, :5])", "raise"),
    ("call(int16)", f"{_D}(x.astype(np.int16))", "raise"), ("call(int64)", f"{_D}(x.astype(np.int64))", "raise"),
    ("call(bool)", f"{_D}(x > 9)", "raise"), ("call(uint16)", f"{_D}(x.astype(np.uint16))", "raise"),
    ("call(complex)", f"{_D}(x.astype(np.complex64))", "raise"), ("call(object)", f"{_D}(x.astype(object))", "raise"),
    ("call(float64)", f"{_D}(x / 255.0)",
     "result.dtype == np.float64 and np.abs(result * 255 - Deblurrer(M)(x)).max() <= 1"),
    ("call(float16)", f"{_D}((x / 255).astype(np.float16))",
     "result.dtype == np.float16 and np.isfinite(result).all()"),
    ("call(NaN)", f"{_D}(np.where(x > 250, np.nan, x / 255.0))", "raise"),
    ("call(inf)", f"{_D}(np.where(x > 250, np.inf, x / 255.0))", "raise"),
    ("call(floats up to 255)", f"{_D}(x.astype(np.float32))", "raise"),
    ("call(negative floats)", f"{_D}(x / 255.0 - 0.5)", "raise"),
    ("call(strided view)", f"{_D}(x[:, ::2])", "np.array_equal(result, Deblurrer(M)(np.ascontiguousarray(x[:, ::2])))"),
    ("call(Fortran order)", f"{_D}(np.asfortranarray(x))", "np.array_equal(result, Deblurrer(M)(x))"),
    ("call(read-only)", f"(lambda a: (a.setflags(write=False), {_D}(a))[1])(x.copy())",
     "np.array_equal(result, Deblurrer(M)(x))"),
    ("call(5-D)", f"{_D}(x[None, None])", "raise"), ("call(1x1)", f"{_D}(x[:1, :1])", "result.shape == (1, 1, 3)"),
    ("run_tile(wrong size)", f"{_D}.run_tile(np.zeros((8, 8, 3), np.float32))", "raise"),
    ("run_tile(float64)", f"{_D}.run_tile(np.zeros((32, 32, 3)))", "raise"),
    ("run_tile(uint8)", f"{_D}.run_tile(np.zeros((32, 32, 3), np.uint8))", "raise"),
    ("read_image(123)", "read_image(123)", "raise"), ("read_image(None)", "read_image(None)", "raise"),
    ("read_image(folder)", "read_image(T)", "raise"), ("read_image('')", "read_image('')", "raise"),
    ("read_image(missing)", "read_image(T / 'nope.png')", "raise"),
    ("read_image(model file)", "read_image(M)", "raise"),
    ("read_image(max_pixels=0)", "read_image(T / 'ok.png', max_pixels=0)", "raise"),
    ("read_image(max_pixels=-1)", "read_image(T / 'ok.png', max_pixels=-1)", "raise"),
    ("read_image(max_pixels='x')", "read_image(T / 'ok.png', max_pixels='x')", "raise"),
    ("write_image(2-D)", "write_image(T / 'a.png', x[..., 0])", "raise"),
    ("write_image(NaN)", "write_image(T / 'b.png', np.full((4, 4, 3), np.nan, np.float32))", "raise"),
    ("write_image(floats > 1) clips", "write_image(T / 'c.png', np.full((4, 4, 3), 5.0))",
     "read_image(result).min() == 1.0"),
    ("write_image(uint16)", "write_image(T / 'd.png', x.astype(np.uint16) * 257)", "raise"),
    ("write_image(.xyz)", "write_image(T / 'e.xyz', x)", "raise"),
    ("write_image(quality=500)", "write_image(T / 'f.jpg', x, quality=500)", "raise"),
    ("write_image(missing folder) makes it", "write_image(T / 'no' / 'g.png', x)", "result.is_file()"),
    ("write_image(onto a folder)", "write_image(T, x)", "raise"),
    ("write_image(exif garbage)", "write_image(T / 'h.jpg', x, exif=b'garbage')", "raise"),
    ("write_image(exif str)", "write_image(T / 'i.jpg', x, exif='str')", "raise"),
    ("export_model(missing .keras)", "__import__('edge_deblur.export').export.export_model(T / 'no.keras', out=T)",
     "raise"),
    ("export_model(precision int4)", "__import__('edge_deblur.export').export.export_model(None, ['int4'], out=T)",
     "raise"),
    ("export_model(io_dtype x)", "__import__('edge_deblur.export').export.export_model(None, ['int8'], io_dtype='x')",
     "raise"),
    ("psnr(shape mismatch)", "__import__('edge_deblur.metrics').metrics.psnr(x, x[:5])", "raise"),
]


def _api_case(name: str, code: str, expect: str, model: Path, tmp: Path) -> Case:
    def check():
        check_code = "" if expect == "raise" else f"assert {expect}, 'condition failed: {expect[:60]}'"
        script = PRELUDE.replace("CODE", code).replace("CHECK", check_code)
        r = run([sys.executable, "-c", script, str(model), str(tmp)], timeout=120)
        if r.rc is None:
            return "hang", "no return in 120 s"
        if r.rc < 0:
            return "traceback", f"crashed by signal {-r.rc}"
        if "Traceback" in r.err:
            last = r.err.strip().splitlines()[-1][:200]
            return ("wrong", last) if "condition failed" in last else ("traceback", last)
        line = next((ln for ln in r.out.splitlines() if ln.startswith(("RAISED", "RETURNED"))), r.out[-100:])
        if expect == "raise" and line.startswith("RETURNED"):
            return "wrong", "accepted silently (no error)"
        if expect != "raise" and line.startswith("RAISED"):
            return "wrong", f"refused a valid call: {line}"
        return "ok", line

    return timed("api", name, check)


THREADS = r'''
import sys, threading, numpy as np
from edge_deblur.runtime import Deblurrer
d = Deblurrer(sys.argv[1], num_threads=1)
rng = np.random.default_rng(1)
imgs = [rng.integers(0, 256, (int(rng.integers(20, 70)), int(rng.integers(20, 70)), 3), np.uint8) for _ in range(100)]
serial = [d(im) for im in imgs]
errors, wrong = [], []
def work(t):
    for i in range(100):
        k = (i * 7 + t * 13) % 100
        try:
            if not np.array_equal(d(imgs[k]), serial[k]):
                wrong.append(k)
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"{len(errors)} errors, {len(wrong)} of 400 results differ from serial", errors[:1])
sys.exit(1 if errors or wrong else 0)
'''


def run_area(work: Path, only: set[str] | None = None) -> list[Case]:
    files = tiny_exports(work)
    tmp = work / "api_tmp"
    tmp.mkdir(exist_ok=True)
    from PIL import Image
    import numpy as np

    Image.fromarray(np.zeros((8, 8, 3), np.uint8) + 99).save(tmp / "ok.png")
    cases = [_api_case(n, c, e, files["int8"], tmp) for n, c, e in CASES if only is None or n in only]
    for precision in ("int8", "float16") if only is None else ():
        def check(p=precision):
            r = run([sys.executable, "-c", THREADS, str(files[p])], timeout=300)
            if r.rc is None:
                return "hang", "threads did not finish in 300 s"
            if "Traceback" in r.err or r.rc < 0:
                return "traceback", (r.err.strip().splitlines() or ["signal"])[-1][:200]
            return ("ok" if r.rc == 0 else "wrong"), r.out.strip()[:200]

        cases.append(timed("concurrency", f"{precision}: 4 threads x 100 calls", check))
    return cases
