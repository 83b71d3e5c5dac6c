#!/usr/bin/env bash
# The model core on a CUDA GPU: fused vs explicit attention, a scaled LM5 run, a checkpoint, streaming.
# Not run by CI (it needs a GPU). Usage, from the repository root:
#   bash bench/gpu_check.sh [CORPUS] [ITERS]
# CORPUS: shakespeare (built in, default), tiny-shakespeare (needs the cached file) or a text file path.
# ITERS: training steps of lm5-scaled (default 1000; the tutorial's 5000 takes several minutes).
set -euo pipefail
CORPUS=${1:-shakespeare}
ITERS=${2:-1000}
OUTDIR=${OUT:-$(mktemp -d)}
python - <<'PY'
import time, torch
from llmviz.model import LanguageModel, preset_config
assert torch.cuda.is_available(), "no CUDA device"
print(torch.cuda.get_device_name(0))
torch.manual_seed(0)
m = LanguageModel(preset_config("lm5-scaled", 65)).cuda().eval()
idx = torch.randint(65, (4, 256), device="cuda")
a, _ = m(idx)
b, _ = m(idx, explicit=True)
print("fused vs explicit attention, max |diff|:", (a - b).abs().max().item())
assert torch.allclose(a, b, atol=2e-3), "fused and explicit attention disagree on CUDA"
maps = m.attention_maps(idx[0])
assert maps.shape == (6, 6, 256, 256) and maps.triu(1).abs().max().item() == 0
PY
python -m llmviz train --preset lm5-scaled --corpus "$CORPUS" --iters "$ITERS" --eval-interval 250 \
  --eval-iters 50 --device cuda --out "$OUTDIR/scaled" --json
python -m llmviz generate --checkpoint "$OUTDIR/scaled.safetensors" --prompt "ROMEO:" --max-new-tokens 300 --top-k 20 --seed 1
python -m llmviz train --resume "$OUTDIR/scaled.safetensors" --corpus "$CORPUS" --iters 50 --device cuda --quiet --json
