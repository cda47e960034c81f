#!/usr/bin/env bash
# The perplexity figures of docs/measurements.md ("GGUF export"): the small demo model fully
# fine-tuned on the review data (prompts included, so the whole text is learned), exported to
# F16 and each quantized type, and llama.cpp's perplexity of the validation set per file, next to
# the file llama.cpp's own quantizer makes from our F32 export. Run from a build folder:
#   ../tests/export/measure_quantized_perplexity.sh [WORK_DIR] [STEPS]
set -euo pipefail
BUILD="$(pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${1:-$(mktemp -d)}"
STEPS="${2:-60}"
CLI="$BUILD/app/tunebench-cli"
ORACLE="$BUILD/tests/llamacpp/llama_oracle"
mkdir -p "$WORK" && cd "$WORK"
[[ -d demo-small ]] || "$CLI" make-demo-model --out demo-small --preset small >/dev/null
if [[ ! -d trained/model ]]; then
  /usr/bin/time -f "training: %e s" "$CLI" train --model demo-small --data "$SRC/resources/datasets/reviews-train.jsonl" \
    --val-data "$SRC/resources/datasets/reviews-val.jsonl" --method full --steps "$STEPS" --batch-size 8 --seq-len 96 \
    --lr 5e-4 --train-on-prompt --no-db --out trained >/dev/null
fi
python3 - "$SRC/resources/datasets/reviews-val.jsonl" > val-text.jsonl <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(json.dumps({"text": d["instruction"] + "\n" + d["input"] + "\n" + d["output"]}))
PY
"$CLI" tokenize --model trained/model --add-special-tokens < val-text.jsonl > val-ids.jsonl
ppl() { "$ORACLE" perplexity "$1" --in val-ids.jsonl | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'; }
[[ -f f32.gguf ]] || "$CLI" export --model trained/model --type f32 --out f32.gguf >/dev/null
[[ -f f16.gguf ]] || "$CLI" export --model trained/model --type f16 --out f16.gguf >/dev/null
REF=$(ppl f16.gguf)
echo "type | perplexity (Tunebench's file) | vs f16 | llama.cpp quantizer's file"
echo "f16 | $REF | |"
for t in q8_0 q6_k q5_k_m q4_k_m q4_0; do
  [[ -f "$t.gguf" ]] || "$CLI" export --model trained/model --type "$t" --out "$t.gguf" >/dev/null
  [[ -f "llama-$t.gguf" ]] || "$ORACLE" quantize f32.gguf "llama-$t.gguf" "$t" >/dev/null
  OURS=$(ppl "$t.gguf"); THEIRS=$(ppl "llama-$t.gguf")
  echo "$t | $OURS | $(python3 -c "print(f'{($OURS/$REF-1)*100:+.2f}%')") | $THEIRS"
done
