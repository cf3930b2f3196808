#!/usr/bin/env bash
# How the bundled release model in export/ was made, step by step (run from the repo root; needs ../shared/data).
# Release 5 (unet_s3): release 4 (`git show f2810eb:export/unet_s3.keras`; made by the commands in
# `git show f2810eb:benchmarks/make_release.sh`: release 3's unet_s2 warm-starting the 4-level unet_s3, two runs
# on a lent H200, the weight mean of their L1 + 0.1 (1 - SSIM) models) fine-tuned once more on a lent H200 (Keras
# 3.15.1 on torch 2.11, benchmarks/gpu/train_torch.py: crops cut on the GPU, half real dpdd_dev train scenes at
# 0.5-1x, half scene-model synthetic defocus, 256 px crops, Adam with cosine decay, bf16 autocast), now with 1/16 of
# every batch smooth in-focus content whose target is the input itself (--smooth: release 4 brightened flat areas
# by up to 10 levels). Three losses side by side on the same batches; the release is the L1 + 0.6 (1 - SSIM) one,
# picked here by int8 on real-dpdd-val and the aligned kwentar pairs (two passes of four views; numbers in README).
# Device time: 8.0 min of training; the GPU machine has no TensorFlow, so export and measuring happen here.
set -euo pipefail
D=../shared/data
mkdir -p runs
git show f2810eb:export/unet_s3.keras > runs/unet_s3_release4.keras   # release 4, the starting point
# 1. here: the data the GPU machine gets (dpdd_dev train scenes of the recorded split, synthetic train photos), 38 MiB
python3 benchmarks/gpu/pack.py --data $D --out .gpudata
# 2. on the GPU machine (carry .gpudata and the wheels of keras 3.15.1, namex, optree; see the device notes):
#    three models on the same batches, 2675 steps of 48 (planned from the measured step time)
KERAS_BACKEND=torch python3 benchmarks/gpu/train_torch.py --data .gpudata --out runs/gpu3 --minutes 8 \
    --max-steps 2675 --batch 48 --size 256 --lr 1e-4 --pool 8000 --workers 14 --save-at 0.75,1.0 --smooth 0.0625 \
    --init runs/unet_s3_release4.keras \
    --model a1=unet_s3:l1+ssim --model a3=unet_s3:l1+ssim0.3 --model a6=unet_s3:l1+ssim0.6
# 3. here: the release is the L1 + 0.6 (1 - SSIM) model, stored at float16 precision and deflated
#    (export.save_compact: 3.9 MB instead of 6.9 MB)
rm -f export/manifest.json export/unet_s3_float16.tflite export/unet_s3_int8.tflite
python3 benchmarks/gpu/soup.py export/unet_s3.keras runs/gpu3/a6_100.keras
# 4. ship: float16 and int8 TFLite, int8 calibrated on 100 real blurred crops of the dpdd_dev train scenes
#    (export writes each 2x2 stride-2 transposed convolution as a 1x1 convolution + DEPTH_TO_SPACE,
#    edge_deblur.keras_rewrite; the shipped files were exported again that way, and steps 4-5 re-run but for
#    borders.py and the kwentar alignment, after release 5's first export)
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
python3 benchmarks/flat_response.py --out benchmarks/results/flat_response.json
python3 benchmarks/in_focus.py --passes 1 --out benchmarks/results/in_focus.json
python3 benchmarks/in_focus.py --passes 2 --out benchmarks/results/in_focus_2pass.json
python3 benchmarks/in_focus.py --passes 2 --views 4 --out benchmarks/results/in_focus_deblur.json
python3 benchmarks/passes_cost.py --out benchmarks/results/passes_cost.json
python3 benchmarks/photo_steps.py --out benchmarks/results/photo_steps.json
python3 benchmarks/borders.py --out benchmarks/results/borders.json
python3 benchmarks/photo_latency.py --out benchmarks/results/photo_12mp.json
edge-deblur grid --overwrite --data $D/dpdd_dev --dataset pairs --split val --limit 4 --long-side 0 --crop 256 \
    --out docs/before_after_dpdd_val.png
edge-deblur grid --overwrite --data $D/kwentar --limit 4 --long-side 0 --scale auto --crop 256 --out docs/before_after_kwentar.png
python3 benchmarks/update_manifest.py
