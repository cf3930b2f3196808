#!/usr/bin/env bash
# How the bundled release model in export/ was made, step by step (run from the repo root; needs ../shared/data).
# Release 3 (real defocus): the previous release unet_s2 (synthetic disc blur only) fine-tuned on real dpdd_dev
# training scenes mixed half and half with realistic synthetic defocus (edge_deblur.blur.scene), then QAT.
# Times on the 2-core CPU machine (AMD EPYC with AVX512-BF16), 57 min in all: step 1 took 50.8 min (about 2 min to
# render the pool, then 72.8 s an epoch), step 2 6.1 min (78.8 s an epoch).
set -euo pipefail
D=../shared/data
P=$D/photos
git show 076e88c:export/unet_s2.keras > runs/unet_s2_release2.keras   # the previous release (synthetic disc blur)
MIX="--model unet_s2 --source pairs=$D/dpdd_dev@0.5 --source synthetic=$P/cbsd68,$P/mcmaster18,$P/sunhays80@0.5
     --blur-model scene --real-scale 0.5,1 --size 192 --batch-size 8 --steps-per-epoch 100 --seed 0"
# 1. fine-tune in bf16 mixed precision: 40 epochs x 100 steps x 8 crops of 192 px; 2000 synthetic pairs pre-rendered
edge-deblur train $MIX --init runs/unet_s2_release2.keras --pool 2000 --epochs 40 --lr 3e-4 --precision bfloat16 \
    --out runs/release3
# 2. quantization-aware fine-tune in float32 (checkpoint picked by the validation PSNR of the simulated int8 model)
edge-deblur train $MIX --init runs/release3/model.keras --qat --pool 600 --epochs 4 --lr 5e-5 --out runs/release3_qat
# 3. ship: the .keras plus float16 and int8 TFLite, int8 calibrated on real blurred crops of the dpdd_dev train scenes
mkdir -p export && cp runs/release3_qat/model.keras export/unet_s2.keras
edge-deblur export export/unet_s2.keras -q float16 -q int8 --data $D/dpdd_dev --dataset pairs --calibration-samples 100
# 4. measure and record
python3 benchmarks/run_suite.py --only unet_s2 --only paper --untrained --weights unet_s2=export/unet_s2.keras
edge-deblur data align --data $D/kwentar --out runs/kwentar_aligned
edge-deblur bench --data runs/kwentar_aligned --dataset pairs --scale auto --runs 3 --warmup 1 \
    --json benchmarks/results/kwentar-aligned_unet_s2_224.json --markdown benchmarks/results/kwentar-aligned_unet_s2_224.md
edge-deblur grid --data $D/dpdd_dev --dataset pairs --split val --limit 4 --long-side 0 --crop 256 \
    --out docs/before_after_dpdd_val.png
edge-deblur grid --data $D/kwentar --limit 4 --long-side 0 --scale auto --crop 256 --out docs/before_after_kwentar.png
python3 benchmarks/update_manifest.py
