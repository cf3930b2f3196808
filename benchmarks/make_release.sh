#!/usr/bin/env bash
# How the bundled release model in export/ was made, step by step (run from the repo root; needs ../shared/data).
# Training time on the 2-core CPU machine (AMD EPYC with AVX512-BF16), 53 min in all: 44 min for 110 bf16 epochs
# (24 s each) + 8.5 min for 10 float32 QAT epochs (51 s each).
set -euo pipefail
P=../shared/data/photos
COMMON="--model unet_s2 --dataset synthetic --data $P/cbsd68 --data $P/mcmaster18 --data $P/sunhays80
        --steps-per-epoch 150 --batch-size 16 --size 128 --jpeg-prob 0.1 --seed 0"
# 1. float training, mixed precision (bf16 compute, float32 weights; model.keras is saved as float32)
edge-deblur train $COMMON --epochs 110 --lr 1e-3 --precision bfloat16 --out runs/release2
# 2. quantization-aware fine-tune in float32 (checkpoint picked by validation PSNR of the simulated int8 model)
edge-deblur train $COMMON --epochs 10 --lr 1e-4 --init runs/release2/model.keras --qat --out runs/release2_qat
# 3. ship: the .keras plus float16 and int8 TFLite (100 calibration crops: min/max ranges widen with more)
mkdir -p export && cp runs/release2_qat/model.keras export/unet_s2.keras
edge-deblur export export/unet_s2.keras -q float16 -q int8 --calibration-samples 100
# 4. measure and record; the previous release (unet_s, git show f40571e:export/unet_s.keras) runs beside it
git show f40571e:export/unet_s.keras > runs/unet_s_previous.keras
#    (the suite ends with benchmarks/speed_vs_paper.py: the int8 files head to head, alternating invokes)
python3 benchmarks/run_suite.py --only unet_s2 --only unet_s --only paper --untrained \
    --weights unet_s=runs/unet_s_previous.keras
python3 benchmarks/photo_latency.py
edge-deblur data align --data ../shared/data/kwentar --out runs/kwentar_aligned
edge-deblur bench --data runs/kwentar_aligned --dataset pairs --runs 3 --warmup 1 \
    --json benchmarks/results/kwentar-aligned_unet_s2_224.json --markdown benchmarks/results/kwentar-aligned_unet_s2_224.md
edge-deblur grid --data ../shared/data/kwentar --limit 5 --crop 200 --out docs/before_after_kwentar.png
python3 benchmarks/update_manifest.py
