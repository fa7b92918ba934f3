#!/usr/bin/env bash
# The long crash-model run (on demand; CI runs a bounded one): the filesystem-layer model over
# many seeds, then the real-mount SIGKILL harness for many rounds.
#   npm run soak -- [--seed N] [--rounds N] [--model-seeds N]
# A failure prints its seed; run again with --seed to repeat it exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=$(( $(date +%s) % 100000 ))
rounds=100
model_seeds=200
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --model-seeds) model_seeds=$2; shift 2 ;;
    *) echo "usage: npm run soak -- [--seed N] [--rounds N] [--model-seeds N]" >&2; exit 2 ;;
  esac
done
echo "soak: seed $seed, $rounds mount rounds, $model_seeds model seeds"
CAIRN_MODEL_FIRST_SEED=$seed CAIRN_MODEL_SEEDS=$model_seeds npx vitest run test/unit/crash-model.test.ts
CAIRN_CRASH_SEED=$seed CAIRN_CRASH_ROUNDS=$rounds npx vitest run test/mount/crash-model.test.ts --testTimeout=0
