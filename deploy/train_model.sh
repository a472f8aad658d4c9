#!/usr/bin/env bash
# Train a model on your own photos, check it, and swap it in atomically.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: deploy/train_model.sh --data DIR [--dev DIR] [--models DIR] [--min-accuracy X] [-- extra train options]

  --data DIR          one sub-folder of photos per class (about 50 per class)
  --dev DIR           held-out photos in the same layout; scored before the swap (recommended)
  --models DIR        where models live (default: models); the bot's MODEL_DIR should be DIR/current
  --min-accuracy X    refuse the swap below this dev accuracy (default 0.8)

Trains into DIR/<date>-<time>, evaluates it, then points DIR/current at it with an atomic
rename. The previous model stays on disk; to roll back, point DIR/current at it again.
Restart the bot afterwards (systemctl restart hashtag-bot) to load the new model.
USAGE
}

data="" dev="" models=models min=0.8
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --dev) dev="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --min-accuracy) min="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$data" ] || { usage >&2; exit 2; }
[ -d "$data" ] || { echo "no such folder: $data" >&2; exit 2; }

cd "$(dirname "$0")/.."
python=".venv/bin/python"
[ -x "$python" ] || { echo "no .venv: run 'make test' or 'make run' once first" >&2; exit 1; }
out="$models/$(date +%Y%m%d-%H%M%S)"
"$python" -m inference.train --data "$data" --out "$out" --fine-tune 5 "$@"
if [ -n "$dev" ]; then
  "$python" -m inference.evaluate --model "$out" --data "$dev" --tflite-only --json "$out/dev.json" --card
  accuracy=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['litert']['accuracy'])" "$out/dev.json")
  if ! "$python" -c "import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))" "$accuracy" "$min"; then
    echo "dev accuracy $accuracy is below $min: keeping the current model ($out left for inspection)" >&2
    exit 1
  fi
fi
ln -sfn "$(basename "$out")" "$models/current.new"
mv -T "$models/current.new" "$models/current"
echo "models/current -> $(basename "$out"); restart the bot to load it"
