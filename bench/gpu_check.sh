#!/usr/bin/env bash
# The one check to run on a machine with a CUDA GPU (CI has none). From the repository root:
#   bash bench/gpu_check.sh [CORPUS] [ITERS]
# CORPUS: a text file or a corpus name (default: ../shared/data/tinyshakespeare.txt if it is there, else
#         tiny-shakespeare from the cache); ITERS: steps of the scaled LM5 run (default 5000, the tutorial's).
# It prints, in order:
#  1. fused vs explicit attention on the GPU (they must agree);
#  2. float32 against bfloat16 autocast: the same 500 steps of lm5-scaled, the losses at the same steps
#     (the bfloat16 curve must stay within 0.02), and each one's ms per step;
#  3. the scaled LM5 (10.8 M parameters) trained for ITERS steps with bfloat16 and torch.compile:
#     ms/iter, tokens/s, MFU, final train and validation loss (the tutorial's target: validation <= 1.63);
#  4. a sample from the checkpoint, and a resume of it.
# Everything goes to $OUT (or a temporary folder); copy the figures into bench/RESULTS.md.
set -euo pipefail
if [[ $# -ge 1 ]]; then CORPUS=$1
elif [[ -f ../shared/data/tinyshakespeare.txt ]]; then CORPUS=../shared/data/tinyshakespeare.txt
else CORPUS=tiny-shakespeare; fi
ITERS=${2:-5000}
OUTDIR=${OUT:-$(mktemp -d)}
mkdir -p "$OUTDIR"
echo "corpus: $CORPUS · steps: $ITERS · output: $OUTDIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

python - <<'PY'
import torch
from llmviz.nn.model import LanguageModel
from llmviz.training.presets import preset_config
assert torch.cuda.is_available(), "no CUDA device"
print("1. device:", torch.cuda.get_device_name(0), "· bfloat16:", torch.cuda.is_bf16_supported())
torch.manual_seed(0)
m = LanguageModel(preset_config("lm5-scaled", 65)).cuda()
idx = torch.randint(65, (4, 256), device="cuda")
a, _ = m(idx)
b, _ = m(idx, record={})  # the textbook formula, as the app's views compute it
print("   fused vs explicit attention, max |diff|:", (a - b).abs().max().item())
assert torch.allclose(a, b, atol=2e-3), "fused and explicit attention disagree on CUDA"
maps = m.attention_maps(idx[0])
assert maps.shape == (6, 6, 256, 256) and maps.triu(1).abs().max().item() == 0
PY

echo "2. float32 against bfloat16 (500 steps of lm5-scaled, losses every 100)"
for p in float32 bfloat16; do
  python -m llmviz train --preset lm5-scaled --corpus "$CORPUS" --iters 500 --eval-interval 100 --eval-iters 50 \
    --device cuda --precision "$p" --sample-tokens 0 --quiet --json --out "$OUTDIR/precision-$p.safetensors" \
    > "$OUTDIR/precision-$p.json"
done
python - "$OUTDIR" <<'PY'
import json, sys
from llmviz.io import checkpoint
out = sys.argv[1]
runs = {p: checkpoint.load(f"{out}/precision-{p}.safetensors").history for p in ("float32", "bfloat16")}
worst = 0.0
for a, b in zip(runs["float32"], runs["bfloat16"]):
    d = max(abs(a.train_loss - b.train_loss), abs(a.val_loss - b.val_loss))
    worst = max(worst, d)
    print(f"   step {a.step:4d}: val float32 {a.val_loss:.4f} · bfloat16 {b.val_loss:.4f} · |diff| {d:.4f}")
for p in runs:
    j = json.load(open(f"{out}/precision-{p}.json"))
    print(f"   {p}: {j['ms_per_iter']:.1f} ms/iter, {j['tokens_per_s']:,} tokens/s, MFU {j['mfu']}")
print(f"   largest difference {worst:.4f} (must be <= 0.02):", "ok" if worst <= 0.02 else "TOO FAR")
PY

echo "3. lm5-scaled, $ITERS steps, bfloat16 + torch.compile"
python -m llmviz train --preset lm5-scaled --corpus "$CORPUS" --iters "$ITERS" --eval-interval 500 --eval-iters 200 \
  --device cuda --compile --quiet --json --out "$OUTDIR/scaled.safetensors" | tee "$OUTDIR/scaled.json"
python - "$OUTDIR/scaled.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"   {j['ms_per_iter']:.1f} ms/iter (compilation included) · {j['tokens_per_s']:,} tokens/s · MFU {j['mfu']} · "
      f"{j['precision']} · train {j['train_loss']:.3f} · val {j['val_loss']:.3f} (target <= 1.63: "
      f"{'met' if j['val_loss'] <= 1.63 else 'NOT met'}) · {j['seconds']:.0f} s")
PY

echo "4. a sample, and a resume"
python -m llmviz generate --checkpoint "$OUTDIR/scaled.safetensors" --prompt "ROMEO:" --max-new-tokens 300 --top-k 20 --seed 1
python -m llmviz train --resume "$OUTDIR/scaled.safetensors" --corpus "$CORPUS" --iters 50 --device cuda --quiet --json
