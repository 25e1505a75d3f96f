#!/usr/bin/env bash
# Issue 21's prepared GPU run, in one go, from the repository root of a machine with a CUDA GPU:
#
#   OUT=/tmp/out MINUTES=10 bash python/gpu/run_fold0.sh
#
# Full-width hnfnetv2 with the paper's recipe (128³ patches, batch 4) and bf16 autocast, from the
# training bundle (BUNDLE, default bundles/brats15.tar: `python3 -m hnfnet_torch.pack`, see
# docs/TRAINING.md): fold 0 of 5 for at most half of MINUTES, validated on its last weights, then
# all 15 cases for the rest (--then-all-cases). Writes under OUT: env.txt, train.stdout and
# train.stderr, the runs fold0/ and fold0/all-cases/ (log.jsonl, last.* and best.safetensors,
# splits.json) and summary.json (steps/s, the fold's Dice). The unpacked cases (about 1 GB) go to
# CACHE, outside OUT. EPOCHS sets the schedule's length (default 100, 300 steps: the learning
# rate decays to 0 within the budget at 1 step/s or more; the paper's is 250). A smoke run of
# the script on a CPU: ALLOW_CPU=1 MODEL=tiny PATCH=16 MINUTES=0.2.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${OUT:?set OUT to the folder the run writes into}"
BUNDLE=$(realpath "${BUNDLE:-$root/bundles/brats15.tar}")
MINUTES=${MINUTES:-10}
EPOCHS=${EPOCHS:-100}
CACHE=${CACHE:-/tmp/hnfnet-bundle-cache}
PY=${PYTHON:-python3}
MODEL=${MODEL:-hnfnetv2}
PATCH=${PATCH:-128}
export ALLOW_CPU=${ALLOW_CPU:-0}
mkdir -p "$OUT"
if [ ! -f "$BUNDLE" ]; then
  echo "run_fold0.sh: no training bundle at $BUNDLE (make one with python3 -m hnfnet_torch.pack, or set BUNDLE)" >&2
  exit 2
fi

"$PY" - <<'PYEOF' | tee "$OUT/env.txt"
import os, sys
try:
    import torch
except ImportError as e:
    sys.exit(f'run_fold0.sh: {sys.executable} cannot import torch ({e})')
print('python', sys.version.split()[0], '| torch', torch.__version__, '| CUDA', torch.version.cuda)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print('gpu', p.name, f'| {p.total_memory / 2**30:.0f} GiB | bf16', torch.cuda.is_bf16_supported())
elif os.environ['ALLOW_CPU'] != '1':
    sys.exit('run_fold0.sh: torch sees no CUDA device')
PYEOF

cd "$root/python"
workers=$(( $(nproc) > 8 ? 8 : $(nproc) - 1 ))
# The cache of an earlier run of the script: a fresh --out would still reuse it (stamps match).
set +e
"$PY" -m hnfnet_torch.train --bundle "$BUNDLE" --out "$OUT/fold0" --cache "$CACHE" --model "$MODEL" --fold 0 \
  --patch "$PATCH" --batch 4 --amp --epochs "$EPOCHS" --minutes "$MINUTES" --then-all-cases --workers "$workers" \
  > >(tee "$OUT/train.stdout") 2> >(tee "$OUT/train.stderr" >&2)
status=$?
set -e
"$PY" - "$OUT" <<'PYEOF'
import json, os, statistics, sys
out = sys.argv[1]
summary = {}
for name, run in (('fold0', os.path.join(out, 'fold0')), ('all_cases', os.path.join(out, 'fold0', 'all-cases'))):
    path = os.path.join(run, 'log.jsonl')
    if not os.path.exists(path):
        continue
    lines = [json.loads(l) for l in open(path) if l.strip()]
    secs = [l['seconds'] for l in lines if l['type'] == 'step'][3:]  # past start-up and cuDNN's autotuning
    vals = [l for l in lines if l['type'] == 'val']
    stop = next((l for l in reversed(lines) if l['type'] == 'stop'), None)
    summary[name] = {'steps': stop and stop['step'], 'reason': stop and stop['reason'],
                     'steps_per_s': len(secs) / sum(secs) if secs else None,
                     'median_step_s': statistics.median(secs) if secs else None,
                     'last_val': vals[-1] if vals else None, 'best_mean': max((v['mean'] for v in vals), default=None),
                     'max_live_gib': max((l['live_bytes'] for l in lines if l['type'] == 'step'), default=0) / 2**30}
json.dump(summary, open(os.path.join(out, 'summary.json'), 'w'), indent=1)
for name, s in summary.items():
    print(f"{name}: {s['steps']} steps ({s['reason']}), {s['steps_per_s'] or 0:.3g} steps/s, median step {s['median_step_s'] or 0:.3g} s, "
          f"last validation {s['last_val'] and round(s['last_val']['mean'], 4)} {s['last_val'] and s['last_val']['dice']}")
PYEOF
exit $status
