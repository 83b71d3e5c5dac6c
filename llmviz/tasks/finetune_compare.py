"""Fine-tuning runs side by side (the "Pre-training and fine-tuning" page and `finetune --json`): what
each must keep beside its base, its numbers, the table's rows, and the sentence that reads them."""

from __future__ import annotations

from llmviz.tasks.finetune import to_keep
from llmviz.training.record import mean_tokens_per_s
from llmviz.training.train import TrainingRun


def bytes_to_keep(run: TrainingRun) -> int:
    """What must be kept beside the base to use the result: only what trained. LoRA: its adapter file;
    the frozen body: the tensors that trained (the rest is the base's, unchanged); full: the whole model."""
    if run.model.adapters is not None or run.n_trainable == run.n_params:
        return len(to_keep(run))
    from safetensors.torch import save

    return len(save({n: p.detach().cpu().contiguous() for n, p in run.model.named_parameters() if p.requires_grad}))


def measures(runs: dict[str, TrainingRun], sizes: bool = True) -> dict[str, dict]:
    """The numbers of each fine-tuning run: parameters that train, losses on the new and the original text
    at the first and the latest estimate, ms per step and (sizes=True, once done) the bytes to keep."""
    out = {}
    for method, run in runs.items():
        hist = run.history
        first, last = (hist[0], hist[-1]) if hist else (None, None)
        speed = mean_tokens_per_s(hist)
        out[method] = {
            "trainable": run.n_trainable, "params": run.n_params, "steps": run.step,
            "new_start": first.val_loss if first else None, "new": last.val_loss if last else None,
            "original_start": (first.other or {}).get("original") if first else None,
            "original": (last.other or {}).get("original") if last else None,
            "ms": 1000 * run.train_cfg.batch_size * run.model_cfg.block_size / speed if speed else None,
            "bytes": bytes_to_keep(run) if sizes and run.usable else None,
            "rank": run.model.adapters.rank if run.model.adapters is not None else None,
        }
    return out


def compare(numbers: dict[str, dict]) -> list[dict]:
    """One table row per fine-tuning run (from measures): what trains, how fast, how well on the new text,
    how much it forgot, and the bytes of what must be kept beside the base."""
    def trend(start, now):
        return f"{start:.3f} → {now:.3f}" if start is not None and now is not None else ""

    return [{"method": method, "trains": f"{100 * m['trainable'] / m['params']:.2f} % ({m['trainable']:,})",
             "new text: loss": trend(m["new_start"], m["new"]),
             "original text: loss": trend(m["original_start"], m["original"]),
             "bytes to keep": f"{m['bytes']:,}" if m["bytes"] else "",
             "ms per step": round(m["ms"], 1) if m["ms"] else None, "steps": m["steps"]}
            for method, m in numbers.items()]


def reading(numbers: dict[str, dict]) -> str:
    """The table read in one sentence, from its numbers: what LoRA learned, forgot and keeps, against
    full fine-tuning when both ran ("" until LoRA has a loss)."""
    lo, full = numbers.get("lora"), numbers.get("full")
    if not lo or lo["new"] is None:
        return ""
    words = [f"LoRA r = {lo['rank']} trains {100 * lo['trainable'] / lo['params']:.1f} % of the weights and "
             f"learns the new text to a loss of {lo['new']:.3f}"]
    if full and full["new"] is not None:
        gap = lo["new"] - full["new"]
        words[0] += (f", {gap:.2f} nats above full fine-tuning's {full['new']:.3f}" if gap > 0.005 else
                     f", {-gap:.2f} nats below full fine-tuning's {full['new']:.3f}" if gap < -0.005 else
                     f", as low as full fine-tuning ({full['new']:.3f})")
        if lo["original"] is not None and full["original"] is not None:
            d = lo["original"] - full["original"]
            words.append(f"it forgets {'less' if d < 0 else 'more'} of the original text "
                         f"({lo['original']:.3f} against {full['original']:.3f})" if abs(d) > 0.005 else
                         f"it forgets as much of the original text ({lo['original']:.3f})")
    elif lo["original"] is not None and lo["original_start"] is not None:
        words.append(f"its loss on the original text went from {lo['original_start']:.3f} to {lo['original']:.3f}")
    if lo["bytes"]:
        size = f"it keeps {lo['bytes']:,} bytes"
        if full and full["bytes"]:
            size += f", {full['bytes'] / lo['bytes']:.0f}× less than the whole model"
        words.append(size)
    return "; ".join(words) + "."


def low_rank_reading(singular_values, r: int) -> str:
    """What the spectrum of full fine-tuning's ΔW says about LoRA's premise, from its numbers: the share
    of the update rank r keeps, how many directions 90 % of it takes, and whether it is nearly low-rank."""
    energy = [float(s) ** 2 for s in singular_values]
    total = sum(energy) or 1.0
    share = sum(energy[:r]) / total
    kept, k90 = 0.0, len(energy)
    for k, e in enumerate(energy, 1):
        kept += e / total
        if kept >= 0.9 - 1e-9:
            k90 = k
            break
    head = (f"Rank {r} keeps {share:.0%} of full fine-tuning's update to this matrix; 90% of it takes "
            f"{k90} of its {len(energy)} directions")
    if share >= 0.8:
        return head + ": a few directions carry most of it, as LoRA assumes."
    if share >= 0.5:
        return head + ": the update is only partly low-rank; rank r catches its main directions and misses the rest."
    return (head + ": here the update is not low-rank. LoRA does not compress full fine-tuning's ΔW; it learns "
            "its own, smaller update, and the losses on the previous page say how much that costs.")
