"""What changed since GPT-2, checked against independent references: Muon's Newton–Schulz step against
torch's SVD (and a whole Muon step against torch.optim.Muon), rotary embeddings against the complex-number
form of the same rotation, RMSNorm and QK-norm against the formula, ReLU², zero-initialised outputs, the
warm-up/constant/decay schedule, and a Muon run that trains and resumes."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmviz.nn import rotary
from llmviz.nn.model import FeedForward, LanguageModel, ModelConfig, MultiHeadAttention
from llmviz.training.config import TrainConfig
from llmviz.training.muon import CUBIC, QUINTIC, Muon, newton_schulz
from llmviz.training.optim import learning_rate_at, make_optimizer, muon_matrices, state_by_name


@pytest.mark.parametrize("shape", [(32, 32), (64, 256), (256, 64)])
def test_newton_schulz_keeps_the_singular_vectors_and_lands_in_the_band(shape):
    torch.manual_seed(0)
    g = torch.randn(shape) * torch.logspace(-1, 0.5, shape[1])[None, :]  # spread singular values
    x = newton_schulz(g)
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    inner = u.T @ x @ vh.T  # diagonal when x = U·S'·Vᵀ
    off = inner - torch.diag(inner.diagonal())
    assert off.abs().max() < 1e-4
    kept = s / g.norm() >= 0.0015  # the band holds for singular values above 0.15 % of the norm
    band = inner.diagonal()[kept]
    assert band.min() > 0.67 and band.max() < 1.22
    assert band.max() - band.min() > 0.05  # not exactly orthogonal: the quintic trades accuracy for speed


def test_the_band_follows_from_the_quintic_polynomial():
    # the scalar map a·σ + b·σ³ + c·σ⁵ applied five times, on a grid: the same band as the matrices show
    a, b, c = QUINTIC
    s = np.logspace(np.log10(0.0015), 0, 5000)
    x = s.copy()
    for _ in range(5):
        x = a * x + b * x**3 + c * x**5
    assert 0.67 < x.min() < 0.69 and 1.19 < x.max() < 1.22


def test_the_cubic_iteration_run_long_converges_to_the_polar_factor():
    torch.manual_seed(1)
    g = torch.randn(48, 96)
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    assert (newton_schulz(g, 5, CUBIC) - u @ vh).abs().max() > 1e-2  # five steps are not enough
    assert (newton_schulz(g, 40, CUBIC) - u @ vh).abs().max() < 1e-4


def test_muon_steps_as_torch_optim_muon_does():
    torch.manual_seed(2)
    w0 = torch.randn(24, 40)
    ours, theirs = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    opt_a = Muon([ours], lr=0.02, momentum=0.95, weight_decay=0.1)
    opt_b = torch.optim.Muon([theirs], lr=0.02, momentum=0.95, weight_decay=0.1)
    for step in range(3):
        grad = torch.randn(24, 40)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        opt_a.step()
        opt_b.step()
    moved = (theirs - w0).abs().max()
    # torch orthogonalises in bfloat16, here in float32: the same step to bfloat16's precision
    assert (ours - theirs).abs().max() < 0.02 * moved
    with pytest.raises(ValueError, match="matrices"):
        Muon([torch.nn.Parameter(torch.zeros(3))])


def test_rotary_is_the_complex_rotation_and_sees_only_relative_position():
    torch.manual_seed(3)
    T, d = 12, 16
    x = torch.randn(2, T, d)
    phi = rotary.angles(T, d)
    z = torch.complex(x[..., : d // 2], x[..., d // 2:]) * torch.polar(torch.ones_like(phi), phi)
    assert torch.allclose(rotary.rotate(x, phi), torch.cat((z.real, z.imag), dim=-1), atol=1e-5)
    # the same query and key placed at (m, n) and at (m + 3, n + 3) give the same score
    q, k = torch.randn(d), torch.randn(d)
    long = rotary.angles(20, d)
    score = lambda m, n: rotary.rotate(q[None], long[m:m + 1]) @ rotary.rotate(k[None], long[n:n + 1]).T
    assert torch.allclose(score(5, 2), score(8, 5), atol=1e-5) and not torch.allclose(score(5, 2), score(5, 4))


def test_qk_norm_and_rms_norm_follow_the_formula():
    torch.manual_seed(4)
    cfg = ModelConfig(vocab_size=11, block_size=8, n_embd=16, n_head=2, n_layer=1, rms_norm=True, qk_norm=True)
    model = LanguageModel(cfg)
    x = torch.randn(3, 8, 16)
    by_hand = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + torch.finfo(x.dtype).eps)
    assert torch.allclose(model.blocks[0].ln1(x), by_hand * model.blocks[0].ln1.weight, atol=1e-5)
    # QK-norm: with every query and key of unit RMS, a score is at most √d in size, whatever the inputs
    attn = MultiHeadAttention(cfg)
    record = {}
    attn(x * 1000.0, record=record)
    assert torch.isfinite(record["attention"][0]).all()
    plain = MultiHeadAttention(ModelConfig(vocab_size=11, block_size=8, n_embd=16, n_head=2))
    plain.load_state_dict(attn.state_dict())
    record_plain = {}
    plain(x * 1000.0, record=record_plain)
    # without the norm, huge inputs make the softmax one-hot; with it, it stays soft
    assert record_plain["attention"][0].amax(-1).mean() > record["attention"][0].amax(-1).mean()


def test_relu_squared_feed_forward():
    torch.manual_seed(5)
    ff = FeedForward(ModelConfig(n_embd=8, ffwd="relu2", ff_mult=2))
    x = torch.randn(4, 8)
    first, last = ff.net[0], ff.net[2]
    assert torch.allclose(ff(x), last(F.relu(first(x)) ** 2), atol=1e-6)


def test_zero_init_starts_every_block_as_the_identity_and_the_loss_at_ln_v():
    cfg = ModelConfig(vocab_size=50, block_size=8, n_embd=16, n_head=2, n_layer=3, zero_init=True)
    model = LanguageModel(cfg)
    idx = torch.randint(50, (2, 8))
    record = {}
    _, loss = model(idx, idx, record=record)
    emb = record["token_emb"] + record["pos_emb"]
    for out in record["block_out"]:
        assert torch.equal(out, emb)  # each block adds exactly nothing
    assert math.isclose(loss.item(), math.log(50), rel_tol=1e-6)


def test_warmup_constant_decay_schedule():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, max_iters=100, warmup_iters=10, cooldown_frac=0.4)
    lrs = [learning_rate_at(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-3 / 11) and lrs[9] == pytest.approx(1e-3 * 10 / 11)
    assert all(lr == 1e-3 for lr in lrs[10:61])  # constant until the last 40 steps
    assert lrs[61] < 1e-3 and lrs[99] == pytest.approx(1e-4 + 0.9e-3 / 40)  # a straight line down
    assert np.allclose(np.diff(lrs[60:]), -0.9e-3 / 40)


@pytest.mark.slow
def test_a_muon_run_trains_and_its_momentum_is_saved_by_name():
    from llmviz.training.train import TrainingRun

    text = "to be or not to be that is the question " * 60
    cfg = ModelConfig(vocab_size=1, block_size=16, n_embd=32, n_head=2, n_layer=2, rope=True, pos_emb=False,
                      qk_norm=True, rms_norm=True, ffwd="relu2", zero_init=True)
    train_cfg = TrainConfig(optimizer="muon", learning_rate=3e-3, muon_lr=0.02, max_iters=120, eval_interval=60,
                            eval_iters=5, batch_size=16, sample_tokens=0, cooldown_frac=0.3, device="cpu")
    run = TrainingRun.new(cfg, train_cfg, text)
    snap = run.train()
    assert snap.state == "finished", snap.reason
    first, last = snap.history[0], snap.history[-1]
    assert last.val_loss < first.val_loss - 0.5
    matrices = set(muon_matrices(run.model))
    assert matrices and all(".blocks." in f".{n}" for n in matrices)
    state = state_by_name(run.optimizer, run.model)
    assert all("momentum_buffer" in state[n] for n in matrices)
    assert "exp_avg" in state["token_embedding.weight"] and "exp_avg" in state["lm_head.weight"]
    assert len(make_optimizer(run.model, train_cfg, "cpu").parts) == 2
    # Muon's momentum travels in the checkpoint by name, beside AdamW's averages
    from llmviz.io import checkpoint

    saved = checkpoint.from_bytes(checkpoint.run_to_bytes(run))
    assert saved.train_config.optimizer == "muon"
    for n in matrices:
        assert torch.equal(saved.optimizer_state[n]["momentum_buffer"], state[n]["momentum_buffer"])
