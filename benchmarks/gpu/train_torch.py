"""Release training on one CUDA GPU: Keras 3 models on the torch backend, a plain torch loop, crops cut on the GPU.

The 2-core CPU machine trains ~8 crops a second; a lent GPU machine (no TensorFlow there) trains the same Keras
architectures thousands of times faster, so the release run happens there and the saved `.keras` files export here.
Several models train side by side on the SAME batches (one data stream, a fair comparison); each is saved at
fractions of the run, and the pick is made here on the real validation scenes.

Data (`benchmarks/gpu/pack.py` makes the folder): the dpdd_dev train scenes at 6 scales (0.5x-1x, area
downscaling: their real blur shrinks with them), and a pool of scene-model synthetic pairs (`edge_deblur.blur.scene`,
depth layers, lens PSFs, noise, JPEG) rendered by CPU worker processes WHILE training runs (batches are all real
until the first renders arrive). Half of every batch is real, half synthetic. Random flips and 90-degree turns.
`--smooth F` turns a fraction F of every batch (taken from its real half) into smooth in-focus content whose target
is the input itself: without it the net brightened flat areas by up to 10 levels of 255 (release 4). `--relevel P`
moves a share P of that content to a random brightness, as `edge_deblur.blur.smooth` does (release 5, made
without it, still lifts flat near-white areas).

Loop: Adam, linear warm-up then cosine decay to 1%, gradient-norm clip 1, bf16 autocast (float32 weights, the loss
in float32). The number of steps is set from the measured step time so the run ends by `--minutes`.

Usage (on the device; see make_release.sh for the exact call):
    KERAS_BACKEND=torch python3 benchmarks/gpu/train_torch.py --data .gpudata --out $OUT --minutes 7 \
        --model s3=unet_s3:l1 --model s3ssim=unet_s3:l1+ssim --init export/unet_s2.keras
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def load_real(folder: Path, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every (blurred, sharp) uint8 train pair at each of SCALES (as `train --real-scale` shrinks them: area
    downscaling, the short side kept >= size)."""
    from edge_deblur.crops import _rescale_pair
    from edge_deblur.images import read_image

    out = []
    for sharp_path in sorted((folder / "sharp").iterdir()):
        pair = [read_image(p, keep_uint8=True) for p in (folder / "blurred" / sharp_path.name, sharp_path)]
        out += [_rescale_pair(*pair, f, size) for f in SCALES]
    return out


def start_pool_render(photos: Path, items: int, pool_size: int, seed: int, workers: int, isp: float = 0.0):
    """Render `items` synthetic pairs in worker processes; returns (pool, iterator of (x, y) uint8 chunks).

    `isp`: share of blurred images given a phone camera's processing (edge_deblur.blur.isp).
    """
    from edge_deblur.blur import SceneBlurConfig
    from edge_deblur.blur.isp import CameraISP
    from edge_deblur.data import Pair
    from edge_deblur.sources import _render_chunk

    pairs = [Pair(sharp=p, blurred=None, scene=p.stem) for p in sorted(photos.iterdir())]
    blur = SceneBlurConfig(max_radius=16.0, isp=CameraISP(prob=isp))
    jobs = [(pairs, pool_size, blur, seed, list(range(i, min(i + 25, items)))) for i in range(0, items, 25)]
    pool = multiprocessing.get_context("spawn").Pool(workers)
    return pool, pool.imap_unordered(_render_chunk, jobs)


class GpuBatches:
    """Random crops on the GPU: half from the real pairs, half from the synthetic pool rendered so far."""

    def __init__(self, real, size: int, pool_items: int, pool_size: int, device, seed: int,
                 smooth: float = 0.0, relevel: float = 0.0) -> None:
        import torch

        self.torch, self.size, self.device, self.smooth, self.relevel = torch, size, device, smooth, relevel
        self.real = [tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in pair) for pair in real]
        self.px = torch.empty((pool_items, pool_size, pool_size, 3), dtype=torch.uint8, device=device)
        self.py = torch.empty_like(self.px)
        self.filled = 0
        self.rng = np.random.default_rng(seed)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        n = min(len(x), len(self.px) - self.filled)
        self.px[self.filled:self.filled + n] = self.torch.from_numpy(x[:n]).to(self.device)
        self.py[self.filled:self.filled + n] = self.torch.from_numpy(y[:n]).to(self.device)
        self.filled += n

    def _aug(self, a, b, k: int, flip: bool):
        torch = self.torch
        a, b = torch.rot90(a, k, dims=(0, 1)), torch.rot90(b, k, dims=(0, 1))
        return (a.flip(1), b.flip(1)) if flip else (a, b)

    def batch(self, n: int):
        s, rng, xs, ys = self.size, self.rng, [], []
        n_synth = n // 2 if self.filled else 0
        for i in range(n):
            if i < n_synth:
                j = int(rng.integers(self.filled))
                src = (self.px[j], self.py[j])
            else:
                src = self.real[int(rng.integers(len(self.real)))]
            h, w = src[1].shape[:2]
            y0, x0 = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            a, b = self._aug(src[0][y0:y0 + s, x0:x0 + s], src[1][y0:y0 + s, x0:x0 + s],
                             int(rng.integers(4)), bool(rng.integers(2)))
            xs.append(a)
            ys.append(b)
        x = self.torch.stack(xs).float().div_(255.0)
        y = self.torch.stack(ys).float().div_(255.0)
        k = int(round(n * self.smooth))
        if k:
            x[n - k:], y[n - k:] = self._smooth_pairs(y[n - k:])
        real = self.torch.zeros(n, dtype=self.torch.bool, device=self.device)
        real[n_synth:n - k] = True
        return x, y, real

    def _smooth_pairs(self, sharp):
        """In-focus content with no texture at the network's scale (flat areas, sky, slow gradients): the target
        is the input itself, less a little sensor noise. Real crops never are this smooth, and without them the
        net lifts flat areas by several levels. Each crop is shrunk by 8-64x (or to its mean colour) and enlarged
        again (bilinear); noise sigma 0-2.5 levels."""
        import torch.nn.functional as F

        torch, s, rng = self.torch, self.size, self.rng
        out = []
        for img in sharp:
            f = int(rng.choice([8, 16, 32, 64, s]))
            small = F.avg_pool2d(img.permute(2, 0, 1)[None], f)
            out.append(F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)[0].permute(1, 2, 0))
        y = torch.stack(out)
        # a random brightness: mean to U(0, 1), contrast x U(0.2, 1) (as edge_deblur.blur.smooth); nothing is drawn
        # without --relevel, so the release 5 command still makes the same batches
        moved = torch.from_numpy(rng.random(len(y)) < self.relevel).to(y.device) if self.relevel > 0 else None
        if moved is not None and bool(moved.any()):
            level = torch.from_numpy(rng.uniform(0, 1, (len(y), 1, 1, 1))).float().to(y.device)
            gain = torch.from_numpy(rng.uniform(0.2, 1, (len(y), 1, 1, 1))).float().to(y.device)
            shifted = (level + (y - y.mean(dim=(1, 2), keepdim=True)) * gain).clamp(0, 1)
            y = torch.where(moved[:, None, None, None], shifted, y)
        sigma = torch.from_numpy(rng.uniform(0, 2.5 / 255, (len(y), 1, 1, 1))).float().to(y.device)
        x = (y + sigma * torch.randn_like(y)).clamp_(0, 1)
        return x, y


def ssim_torch(a, b):
    """SSIM of each NHWC image in [0, 1] (Gaussian window 11, sigma 1.5, per channel, mean over the image)."""
    import torch
    import torch.nn.functional as F

    a, b = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)
    g = torch.exp(-((torch.arange(11, device=a.device, dtype=a.dtype) - 5) ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    win = (g[:, None] * g[None, :]).expand(3, 1, 11, 11).contiguous()

    def blur(t):
        return F.conv2d(t, win, groups=3)

    mu_a, mu_b = blur(a), blur(b)
    saa, sbb, sab = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return s.mean(dim=(1, 2, 3))


def loss_of(kind: str, pred, y, real=None):
    """`l1`, `l1+ssim` (L1 + 0.1 (1 - SSIM)) or `l1+ssimW` (weight W, e.g. `l1+ssim0.3`), optionally with
    `@realR`: the real dpdd crops (`real`, a bool per sample) count R times as much as the others in the batch mean
    (e.g. `l1+ssim0.6@real0.33`: in effect a quarter real, three quarters synthetic, from the same batches)."""
    kind, _, share = kind.partition("@real")
    per = (pred - y).abs().mean(dim=(1, 2, 3))
    if kind.startswith("l1+ssim"):
        per = per + float(kind[len("l1+ssim"):] or 0.1) * (1.0 - ssim_torch(pred, y))
    elif kind != "l1":
        raise SystemExit(f"unknown loss '{kind}' (l1 | l1+ssim | l1+ssimW, each optionally @realR)")
    if not share or real is None:
        return per.mean()
    w = 1.0 + (float(share) - 1.0) * real.float()
    return (per * w).sum() / w.sum()


class Run:
    """One model of the side-by-side run: its Keras model, optimizer and loss."""

    def __init__(self, tag: str, arch: str, loss: str, init, lr: float) -> None:
        import torch

        from edge_deblur.models import build_model, warm_start

        self.tag, self.arch, self.loss = tag, arch, loss
        self.model = build_model(arch)
        self.copied, self.fresh = warm_start(self.model, init, quiet_new=True) if init is not None else ([], [])
        self.params = [v.value for v in self.model.trainable_weights]
        assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in self.params)
        self.opt = torch.optim.Adam(self.params, lr=lr)

    def step(self, x, y, real, lr: float) -> float:
        import torch

        for g in self.opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cuda" if x.is_cuda else "cpu", dtype=torch.bfloat16):
            pred = self.model(x, training=True)
        loss = loss_of(self.loss, pred.float(), y, real)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return float(loss.detach())

    def val_psnr(self, xv, yv) -> float:
        import torch

        with torch.no_grad(), torch.autocast("cuda" if xv.is_cuda else "cpu", dtype=torch.bfloat16):
            pred = torch.cat([self.model(xv[i:i + 8], training=False) for i in range(0, len(xv), 8)])
        mse = ((pred.float().clamp(0, 1) - yv) ** 2).mean(dim=(1, 2, 3))
        return float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())


def lr_at(step: int, total: int, lr: float, warmup: int = 200) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def _parse_model(text: str) -> tuple[str, str, str]:
    tag, rest = text.split("=", 1)
    arch, loss = rest.split(":", 1)
    return tag, arch, loss


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / ".gpudata")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", action="append", required=True,
                    help="TAG=ARCH:LOSS, repeatable (LOSS l1|l1+ssim|l1+ssimW)")
    ap.add_argument("--init", type=Path, help="warm start from this .keras (layers matching by name and shape)")
    ap.add_argument("--minutes", type=float, default=7.0, help="wall time of the whole run, start-up included")
    ap.add_argument("--max-steps", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--pool", type=int, default=8000, help="synthetic pairs to render")
    ap.add_argument("--relevel", type=float, default=0.0, help="share of the smooth content moved to a random "
                    "brightness (mean uniform in [0, 1], contrast x0.2-1)")
    ap.add_argument("--smooth", type=float, default=0.0, help="fraction of each batch that is smooth in-focus "
                    "content (target = input less noise)")
    ap.add_argument("--isp", type=float, default=0.0, help="share of synthetic blurred images given a phone "
                    "camera's processing (chroma noise reduction, cored sharpening; edge_deblur.blur.isp)")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--save-at", default="0.6,0.8,1.0", help="fractions of the run to save each model at")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=250, help="steps between validation lines (and re-planning)")
    return ap.parse_args(argv)


def _take_renders(data: GpuBatches, chunks) -> None:
    """Move whatever synthetic renders have finished onto the GPU, without waiting."""
    while True:
        try:
            data.add(*chunks.next(timeout=0))
        except (multiprocessing.TimeoutError, StopIteration):
            return


def train_loop(runs: list[Run], data: GpuBatches, chunks, val, a, t_start: float) -> tuple[int, list[dict]]:
    """Train every run on the same batches until the planned step count; returns (steps, history)."""
    deadline = t_start + a.minutes * 60
    total, step, saves = a.max_steps, 0, {float(f): False for f in a.save_at.split(",")}
    mark = (0, time.time())  # (step, time) the step time is measured from; re-planned at every log line
    losses, history = {r.tag: [] for r in runs}, []
    while step < total:
        _take_renders(data, chunks)
        x, y, real = data.batch(a.batch)
        for r in runs:
            losses[r.tag].append(r.step(x, y, real, lr_at(step, total, a.lr)))
        step += 1
        if step == 50 or step % a.log_every == 0:  # plan the rest of the run from the measured step time
            now = time.time()
            per = (now - mark[1]) / (step - mark[0])
            total = max(step, min(a.max_steps, step + int((deadline - now) / per)))  # never past --max-steps
            mark = (step, now)
            print(f"{per * 1000:.1f} ms a step for {len(runs)} model(s): {total} steps planned", flush=True)
        if step % a.log_every == 0 or step == total:
            line = {"step": step, "seconds": round(time.time() - t_start, 1), "pool": data.filled,
                    "lr": lr_at(step, total, a.lr)}
            for r in runs:
                line[r.tag] = {"loss": float(np.mean(losses[r.tag][-a.log_every:])), "val_psnr": r.val_psnr(*val)}
            history.append(line)
            print(json.dumps(line), flush=True)
        for f, done in saves.items():
            if not done and step >= f * total:
                saves[f] = True
                for r in runs:
                    r.model.save(a.out / f"{r.tag}_{int(f * 100)}.keras")
    return step, history


def main(argv=None) -> int:
    a = _args(argv)
    t_start = time.time()
    pool_size = a.size + 64
    pool, chunks = start_pool_render(a.data / "photos", a.pool, pool_size, a.seed, a.workers, a.isp)

    import keras
    import torch

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    keras.utils.set_random_seed(a.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = GpuBatches(load_real(a.data / "dpdd_train", a.size), a.size, a.pool, pool_size, device, a.seed,
                      a.smooth, a.relevel)
    val = np.load(a.data / "val.npz")
    xv, yv = (torch.from_numpy(val[k]).to(device).float() / 255.0 for k in ("x", "y"))
    identity = float((10 * torch.log10(1.0 / ((xv - yv) ** 2).mean(dim=(1, 2, 3)))).mean())
    init = keras.saving.load_model(a.init, compile=False) if a.init else None
    runs = [Run(*_parse_model(m), init=init, lr=a.lr) for m in a.model]
    a.out.mkdir(parents=True, exist_ok=True)
    log = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "args": {k: str(v) for k, v in
           vars(a).items()}, "identity_val_psnr": identity, "runs": {}}
    for r in runs:
        log["runs"][r.tag] = {"arch": r.arch, "loss": r.loss, "params": int(r.model.count_params()),
                              "warm_started": len(r.copied), "fresh": r.fresh, "start_val_psnr": r.val_psnr(xv, yv)}
    print(json.dumps(log, indent=1), flush=True)
    steps, log["history"] = train_loop(runs, data, chunks, (xv, yv), a, t_start)
    pool.terminate()
    log["steps"], log["seconds"] = steps, round(time.time() - t_start, 1)
    (a.out / "log.json").write_text(json.dumps(log, indent=1))
    print(f"done: {steps} steps in {log['seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
