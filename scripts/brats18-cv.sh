#!/usr/bin/env bash
# The cross-validation of models/README.md, from the BraTS case folders to the table:
#   1. the PyTorch twin trains hnfnetv2-web with configs/brats18-web.json, one run per fold
#      (the folds of configs/brats18-splits.json), PARALLEL runs at a time, each resumed if cut off;
#   2. `hnfnet infer` (recipe defaults: 128³ windows, overlap 0.5, 8 flips) segments each
#      fold's held-out cases with that fold's last weights;
#   3. `hnfnet eval` scores them against the expert labels; scripts/cv-table.ts makes the table.
#
# usage: scripts/brats18-cv.sh RUNS [DATA_DIR ...]
#   DATA_DIR: folders of BraTS case folders (default ../shared/data/brats ../shared/data/brats18)
#   env: FOLDS="0 1 2 3 4", PARALLEL=2, PYTHON=/usr/bin/python3 (a python3 with torch),
#        STEPS=train,infer,eval (any subset), TTA=8 (or 1: no flips, 8× faster)
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

train_fold() {
  local out="$RUNS/fold$1" resume=()
  if grep -qs '"reason": "finished"' "$out/log.jsonl"; then echo "fold $1: already trained"; return; fi
  [ -f "$out/last.train.pt" ] && resume=(--resume)
  (cd python && "$PYTHON" -m hnfnet_torch.train --config "$ROOT/configs/brats18-web.json" --data "$RUNS/data" --cache "$RUNS/cache" \
    --fold "$1" --out "$out" "${resume[@]}") >>"$RUNS/fold$1.out" 2>&1
  echo "fold $1: trained ($out)"
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
    npx tsx src/cli/main.ts infer --model "$RUNS/fold$f/last.safetensors" --case "$set_dir" --out "$RUNS/preds/fold$f" --tta "$TTA" --skip-existing
  fi
  if [[ $STEPS == *eval* ]]; then
    npx tsx src/cli/main.ts eval --pred "$RUNS/preds/fold$f" --gt "$set_dir" --format json --out "$RUNS/eval-fold$f.json"
  fi
done
if [[ $STEPS == *eval* ]]; then
  npx tsx scripts/cv-table.ts $(for f in $FOLDS; do echo "$RUNS/eval-fold$f.json"; done)
fi
