#!/usr/bin/env bash
# The cross-validation of models/README.md, from the BraTS case folders to the table:
#   1. the PyTorch twin trains hnfnetv2-web with configs/brats18-web.json, one run per fold
#      (the folds of configs/brats18-splits.json), PARALLEL runs at a time, each resumed if cut off,
#      then a second cycle from each fold's weights with configs/brats18-web-finetune.json
#      (RUNS/foldN-ft, --pretrained RUNS/foldN/last.safetensors);
#   2. `hnfnet infer` (recipe defaults: 128³ windows, overlap 0.5, 8 flips) segments each
#      fold's held-out cases with that fold's last weights (of the second cycle);
#   3. `hnfnet eval` scores them against the expert labels; scripts/cv-table.ts makes the table.
#
# usage: scripts/brats18-cv.sh RUNS [DATA_DIR ...]
#   DATA_DIR: folders of BraTS case folders (default ../shared/data/brats ../shared/data/brats18)
#   env: FOLDS="0 1 2 3 4", PARALLEL=2, PYTHON=/usr/bin/python3 (a python3 with torch),
#        STEPS=train,infer,eval (any subset), TTA=8 (or 1: no flips, 8× faster),
#        FINETUNE=configs/brats18-web-finetune.json (or none: the first cycle only)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=$(realpath -m "${1:?usage: scripts/brats18-cv.sh RUNS [DATA_DIR ...]}")
shift
DATA=("$@")
[ ${#DATA[@]} -eq 0 ] && DATA=(../shared/data/brats ../shared/data/brats18)
FOLDS=${FOLDS:-0 1 2 3 4}
PARALLEL=${PARALLEL:-2}
PYTHON=${PYTHON:-python3}
STEPS=${STEPS:-train,infer,eval}
TTA=${TTA:-8}
FINETUNE=${FINETUNE:-configs/brats18-web-finetune.json}
SPLITS=configs/brats18-splits.json

# One folder of case folders, with the files linked (not copied): the twin and hnfnet read it.
mkdir -p "$RUNS/data"
for d in "${DATA[@]}"; do
  for c in "$d"/*/; do
    id=$(basename "$c")
    mkdir -p "$RUNS/data/$id"
    for f in "$c"*.nii.gz; do ln -sfn "$(realpath "$f")" "$RUNS/data/$id/"; done
  done
done

heldout() { # ids of fold $1
  node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); for (const e of s.training) if (e.fold === Number(process.argv[2])) console.log(e.id);' "$SPLITS" "$1"
}

# train_run CONFIG OUT FOLD [--pretrained WEIGHTS]: one twin run, resumed if cut off.
train_run() {
  local cfg=$1 out=$2 fold=$3 extra=("${@:4}")
  if grep -qs '"reason": "finished"' "$out/log.jsonl"; then echo "$out: already trained"; return; fi
  [ -f "$out/last.train.pt" ] && extra=(--resume)
  (cd python && "$PYTHON" -m hnfnet_torch.train --config "$ROOT/$cfg" --data "$RUNS/data" --cache "$RUNS/cache" \
    --fold "$fold" --out "$out" "${extra[@]}") >>"$out.out" 2>&1
  echo "$out: trained"
}

train_fold() {
  train_run configs/brats18-web.json "$RUNS/fold$1" "$1"
  if [ "$FINETUNE" != none ]; then
    train_run "$FINETUNE" "$RUNS/fold$1-ft" "$1" --pretrained "$RUNS/fold$1/last.safetensors"
  fi
}

# The weights a fold is scored with: its last cycle's.
fold_weights() {
  if [ "$FINETUNE" != none ]; then echo "$RUNS/fold$1-ft/last.safetensors"; else echo "$RUNS/fold$1/last.safetensors"; fi
}

if [[ $STEPS == *train* ]]; then
  running=0
  for f in $FOLDS; do
    train_fold "$f" &
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then wait -n; running=$((running - 1)); fi
  done
  wait
fi

for f in $FOLDS; do
  set_dir="$RUNS/heldout/fold$f"
  mkdir -p "$set_dir"
  for id in $(heldout "$f"); do
    mkdir -p "$set_dir/$id"
    for x in "$RUNS/data/$id/"*; do ln -sfn "$(realpath "$x")" "$set_dir/$id/"; done
  done
  if [[ $STEPS == *infer* ]]; then
    npx tsx src/cli/main.ts infer --model "$(fold_weights "$f")" --case "$set_dir" --out "$RUNS/preds/fold$f" --tta "$TTA" --skip-existing
  fi
  if [[ $STEPS == *eval* ]]; then
    npx tsx src/cli/main.ts eval --pred "$RUNS/preds/fold$f" --gt "$set_dir" --format json --out "$RUNS/eval-fold$f.json"
  fi
done
if [[ $STEPS == *eval* ]]; then
  npx tsx scripts/cv-table.ts $(for f in $FOLDS; do echo "$RUNS/eval-fold$f.json"; done)
fi
