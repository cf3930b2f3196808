#!/usr/bin/env bash
# How the bundled release model in export/ was made, step by step (run from the repo root; needs ../shared/data).
# Release 4 (unet_s3): release 3 (unet_s2, `git show b033d60:export/unet_s2.keras`) warm-starts the 4-level unet_s3
# (its new 1/16-scale level starts at zero: the start is release 3 up to one ReLU); two fine-tunes on a lent H200 GPU
# (Keras 3.15.1 on torch 2.11, benchmarks/gpu/train_torch.py: crops cut on the GPU, half real dpdd_dev train scenes
# at 0.5-1x, half scene-model synthetic defocus, 256 px crops, Adam with cosine decay, bf16 autocast); the release is
# the weight mean ("soup", benchmarks/gpu/soup.py) of the two unet_s3 L1 + 0.1 (1 - SSIM) runs.
# Device time: 3.6 + 7.9 min of training; the GPU machine has no TensorFlow, so export and measuring happen here.
# Tried and not used (numbers in the README): quantization-aware fine-tuning (it cost 0.16 dB int8 on real-dpdd-val),
# plain L1 (below L1+SSIM on real-dpdd-val in both runs), unet_s2 soups (+0.92 dB against +0.97).
set -euo pipefail
D=../shared/data
mkdir -p runs
git show b033d60:export/unet_s2.keras > runs/unet_s2_release3.keras   # release 3, the starting point
# 1. here: the data the GPU machine gets (dpdd_dev train scenes of the recorded split, synthetic train photos), 38 MiB
python3 benchmarks/gpu/pack.py --data $D --out .gpudata
# 2. on the GPU machine (carry .gpudata and the wheels of keras 3.15.1, namex, optree; see the device notes):
#    run 1: three models on the same batches; its step count was planned from the first 50 steps (1016 steps)
KERAS_BACKEND=torch python3 benchmarks/gpu/train_torch.py --data .gpudata --out runs/gpu1 --minutes 7.5 \
    --max-steps 1016 --batch 32 --size 256 --lr 4e-4 --pool 8000 --workers 14 --save-at 0.75,1.0 \
    --init runs/unet_s2_release3.keras --model s3=unet_s3:l1 --model s3ssim=unet_s3:l1+ssim --model s2=unet_s2:l1
#    run 2: two models, lower learning rate, batch 64 (3388 steps, re-planned from the measured step time)
KERAS_BACKEND=torch python3 benchmarks/gpu/train_torch.py --data .gpudata --out runs/gpu2 --minutes 7.9 \
    --max-steps 3388 --batch 64 --size 256 --lr 1.5e-4 --pool 8000 --workers 12 --save-at 0.5,1.0 \
    --init runs/unet_s2_release3.keras --model s3ssim=unet_s3:l1+ssim --model s2ssim=unet_s2:l1+ssim
# 3. here: the release is the mean of the two unet_s3 L1+SSIM models, stored at float16 precision and deflated
#    (export.save_compact: 3.9 MB instead of 6.9 MB)
rm -f export/manifest.json export/unet_s2.keras export/unet_s2_float16.tflite export/unet_s2_int8.tflite
python3 benchmarks/gpu/soup.py export/unet_s3.keras runs/gpu1/s3ssim_100.keras runs/gpu2/s3ssim_100.keras
# 4. ship: float16 and int8 TFLite, int8 calibrated on 100 real blurred crops of the dpdd_dev train scenes
edge-deblur export export/unet_s3.keras -o export -q float16 -q int8 --data $D/dpdd_dev --dataset pairs --calibration-samples 100
# 5. measure and record
python3 benchmarks/run_suite.py --only unet_s3 --keep-others --head-to-head
edge-deblur data align --data $D/kwentar --out runs/kwentar_aligned
edge-deblur bench --overwrite --data runs/kwentar_aligned --dataset pairs --scale auto --runs 3 --warmup 1 \
    --json benchmarks/results/kwentar-aligned_unet_s3_224.json --markdown benchmarks/results/kwentar-aligned_unet_s3_224.md
edge-deblur bench --overwrite --data runs/kwentar_aligned --dataset pairs --scale auto --passes 2 --runs 3 --warmup 1 \
    --json benchmarks/results/kwentar-aligned-2pass_unet_s3_224.json --markdown benchmarks/results/kwentar-aligned-2pass_unet_s3_224.md
edge-deblur bench --overwrite --protocol defocus-kodak24 --passes 2 --precision int8 --baseline wiener --runs 3 --warmup 1 \
    --json benchmarks/results/defocus-kodak24-2pass_unet_s3_224.json --markdown benchmarks/results/defocus-kodak24-2pass_unet_s3_224.md
# as `deblur` runs photos: 2 passes of 4 test-time augmentation views (the suite's real-dpdd-val-deblur above too),
# and 8 views for comparison
edge-deblur bench --overwrite --data runs/kwentar_aligned --dataset pairs --scale auto --passes 2 --views 4 --runs 3 --warmup 1 \
    --json benchmarks/results/kwentar-aligned-deblur_unet_s3_224.json --markdown benchmarks/results/kwentar-aligned-deblur_unet_s3_224.md
edge-deblur bench --overwrite --protocol defocus-kodak24 --passes 2 --views 4 --baseline wiener --runs 3 --warmup 1 \
    --json benchmarks/results/defocus-kodak24-deblur_unet_s3_224.json --markdown benchmarks/results/defocus-kodak24-deblur_unet_s3_224.md
edge-deblur bench --overwrite --protocol real-dpdd-val --data $D/dpdd_dev --passes 2 --views 8 --precision int8 --baseline wiener \
    --runs 3 --warmup 1 --json benchmarks/results/real-dpdd-val-8views_unet_s3_224.json \
    --markdown benchmarks/results/real-dpdd-val-8views_unet_s3_224.md
edge-deblur bench --overwrite --data runs/kwentar_aligned --dataset pairs --scale auto --passes 2 --views 8 --precision int8 --runs 3 \
    --warmup 1 --json benchmarks/results/kwentar-aligned-8views_unet_s3_224.json \
    --markdown benchmarks/results/kwentar-aligned-8views_unet_s3_224.md
python3 benchmarks/in_focus.py --passes 1 --out benchmarks/results/in_focus.json
python3 benchmarks/in_focus.py --passes 2 --out benchmarks/results/in_focus_2pass.json
python3 benchmarks/in_focus.py --passes 2 --views 4 --out benchmarks/results/in_focus_deblur.json
python3 benchmarks/passes_cost.py --out benchmarks/results/passes_cost.json
python3 benchmarks/borders.py --out benchmarks/results/borders.json
python3 benchmarks/photo_latency.py --out benchmarks/results/photo_12mp.json
edge-deblur grid --overwrite --data $D/dpdd_dev --dataset pairs --split val --limit 4 --long-side 0 --crop 256 \
    --out docs/before_after_dpdd_val.png
edge-deblur grid --overwrite --data $D/kwentar --limit 4 --long-side 0 --scale auto --crop 256 --out docs/before_after_kwentar.png
python3 benchmarks/update_manifest.py
