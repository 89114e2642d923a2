"""PyTorch twin of ptrag's models: STATE transition, vanilla RAG and PT-RAG.

The same mathematics as the C library (src/model/, src/run/), written plainly in torch so
that (1) a C test can compare losses and every gradient for the same weights
and batch, and (2) bench/train_step.sh can time the reference implementation
on the same CPU. Run with Debian's /usr/bin/python3 (python3-torch).

Shapes: B sets of S cells, G genes, E perturbation-feature dim, H hidden,
L layers, nh heads x dh, F MLP width, K retrieved candidates, P database rows.
"""
import math

import torch
import torch.nn.functional as F


def rms_norm(x, w, eps=1e-6):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope_tables(S, dh, theta=10000.0):
    inv = 1.0 / theta ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh)
    ang = torch.arange(S, dtype=torch.float64)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float(), ang.sin().float()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def attention(x, wqkv, wo, nh, dh, causal):
    """x [B,S,H] -> [B,S,H]; wqkv [3*nh*dh, H] (q rows, then k, then v)."""
    B, S, _ = x.shape
    qkv = x @ wqkv.t()
    q, k, v = qkv.split(nh * dh, dim=-1)
    q = q.view(B, S, nh, dh).transpose(1, 2)
    k = k.view(B, S, nh, dh).transpose(1, 2)
    v = v.view(B, S, nh, dh).transpose(1, 2)
    cos, sin = rope_tables(S, dh)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    att = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
    if causal:
        mask = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
        att = att.masked_fill(mask, float("-inf"))
    att = att.softmax(-1)
    y = (att @ v).transpose(1, 2).reshape(B, S, nh * dh)
    return y @ wo.t()


def llama(h, W, cfg):
    for l in range(cfg["L"]):
        n = rms_norm(h, W[f"backbone.layer{l}.attn_norm"])
        h = h + attention(n, W[f"backbone.layer{l}.wqkv"], W[f"backbone.layer{l}.wo"], cfg["nh"], cfg["dh"], cfg["causal"])
        n = rms_norm(h, W[f"backbone.layer{l}.mlp_norm"])
        gu = n @ W[f"backbone.layer{l}.wgate_up"].t()
        g, u = gu.split(cfg["F"], dim=-1)
        h = h + (F.silu(g) * u) @ W[f"backbone.layer{l}.wdown"].t()
    return rms_norm(h, W["backbone.final_norm"])


def energy_loss(x, y):
    """geomloss 'energy' (half the energy distance) per set: x, y [B,S,G] -> [B]."""

    def dist(a, b):
        d2 = (a * a).sum(-1)[:, :, None] - 2 * a @ b.transpose(-1, -2) + (b * b).sum(-1)[:, None, :]
        return d2.clamp_min(1e-8).sqrt()

    S1, S2 = x.shape[1], y.shape[1]
    return (dist(x, y).sum((1, 2)) / (S1 * S2)
            - dist(x, x).sum((1, 2)) / (2 * S1 * S1)
            - dist(y, y).detach().sum((1, 2)) / (2 * S2 * S2))


def param_shapes(cfg):
    """Name -> shape, the same names and order as the C model's registry."""
    G, E, H, L, nh, dh, Fw = (cfg[k] for k in ("G", "E", "H", "L", "nh", "dh", "F"))
    A = nh * dh
    shapes = {"basal_enc.w": (H, G), "basal_enc.b": (H,), "pert_enc.w": (H, E), "pert_enc.b": (H,)}
    if cfg.get("n_batches", 0) > 0:
        shapes["batch_emb"] = (cfg["n_batches"], H)
    if cfg["model"] == "ptrag":
        shapes.update({"ctx_norm.w": (3 * H,), "ctx_norm.b": (3 * H,),
                       "scorer1.w": (H, 3 * H), "scorer1.b": (H,),
                       "scorer2.w": (2, H), "scorer2.b": (2,),
                       "ctx_proj.w": (H, 3 * H), "ctx_proj.b": (H,)})
    if cfg["model"] == "rag":
        shapes.update({"cand_proj.w": (H, E), "cand_proj.b": (H,),
                       "rag_query.w": (H, H), "rag_query.b": (H,),
                       "rag_key.w": (H, H), "rag_key.b": (H,),
                       "rag_value.w": (H, H), "rag_value.b": (H,)})
    for l in range(L):
        shapes.update({f"backbone.layer{l}.attn_norm": (H,), f"backbone.layer{l}.wqkv": (3 * A, H), f"backbone.layer{l}.wo": (H, A),
                       f"backbone.layer{l}.mlp_norm": (H,), f"backbone.layer{l}.wgate_up": (2 * Fw, H),
                       f"backbone.layer{l}.wdown": (H, Fw)})
    shapes.update({"backbone.final_norm": (H,), "out.w": (G, H), "out.b": (G,)})
    return shapes


def init_params(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = {}
    for name, shape in param_shapes(cfg).items():
        if name.endswith("norm") or name == "ctx_norm.w":
            t = torch.ones(shape)
        elif name == "ctx_norm.b":
            t = torch.zeros(shape)
        elif name.startswith("backbone.layer"):
            t = torch.randn(shape, generator=g) * 0.02
        elif name == "batch_emb":
            t = torch.randn(shape, generator=g)
        else:
            fan_in = param_shapes(cfg)[name[:-2] + ".w"][1]
            bound = 1.0 / math.sqrt(fan_in)
            t = (torch.rand(shape, generator=g) * 2 - 1) * bound
        W[name] = t
    return W


def forward(W, cfg, batch):
    """Returns (loss, parts). batch: xc [B,S,G], y [B,S,G], pert [B,E],
    optional batch_idx [B,S] long; for rag/ptrag: db [P,E], cand [B,K] long;
    for ptrag: gumbel [B,S,K,2] noise (fixed for parity), optional
    selection ("sample" default | "threshold" | "expected") and train (dropout
    cfg["dropout"] in the scorer when true; parity tests use dropout 0)."""
    xc, y = batch["xc"], batch["y"]
    B, S, G = xc.shape
    H = cfg["H"]
    c = xc @ W["basal_enc.w"].t() + W["basal_enc.b"]
    p = batch["pert"] @ W["pert_enc.w"].t() + W["pert_enc.b"]  # [B,H]
    parts = {}
    if cfg["model"] == "state":
        x0 = c + p[:, None, :]
    elif cfg["model"] == "ptrag":
        K = batch["cand"].shape[1]
        R = batch["db"] @ W["pert_enc.w"].t() + W["pert_enc.b"]  # encode DB rows once
        Rc = R[batch["cand"]]  # [B,K,H]
        u = torch.cat([c[:, :, None, :].expand(B, S, K, H),
                       p[:, None, None, :].expand(B, S, K, H),
                       Rc[:, None, :, :].expand(B, S, K, H)], dim=-1)
        un = F.layer_norm(u, (3 * H,), W["ctx_norm.w"], W["ctx_norm.b"], eps=1e-5)
        hdn = F.gelu(un @ W["scorer1.w"].t() + W["scorer1.b"])
        if batch.get("train", True) and cfg.get("dropout", 0.0) > 0:
            hdn = F.dropout(hdn, cfg["dropout"], training=True)
        a = hdn @ W["scorer2.w"].t() + W["scorer2.b"]  # [B,S,K,2]
        sigma = a.std().clamp_min(1e-6)
        ahat = a / sigma
        # selection: "sample" (training, or inference with noise), "threshold"
        # (no noise), "expected" (keep probability sigmoid(ahat1 - ahat0) = P(hard = 1))
        sel = batch.get("selection", "sample")
        if sel == "expected":
            soft = ahat.softmax(-1)
            hard = soft
            wsel = soft[..., 1]
        else:
            noise = batch["gumbel"] if sel == "sample" else torch.zeros_like(ahat)
            soft = ((ahat + noise) / cfg["tau"]).softmax(-1)
            hard = F.one_hot(soft.argmax(-1), 2).to(soft.dtype)
            wsel = (hard - soft.detach() + soft)[..., 1]  # [B,S,K]
        e = un @ W["ctx_proj.w"].t() + W["ctx_proj.b"]
        x0 = (wsel[..., None] * e).sum(2)
        parts["sparsity"] = wsel.abs().mean()
        parts["kept"] = (hard[..., 1] >= 0.5).float().mean()
        parts["keep"] = wsel
    elif cfg["model"] == "rag":
        Rc = (batch["db"] @ W["cand_proj.w"].t() + W["cand_proj.b"])[batch["cand"]]  # [B,K,H]
        q = (c + p[:, None, :]) @ W["rag_query.w"].t() + W["rag_query.b"]  # [B,S,H]
        k = Rc @ W["rag_key.w"].t() + W["rag_key.b"]
        v = Rc @ W["rag_value.w"].t() + W["rag_value.b"]
        att = (q @ k.transpose(1, 2) / math.sqrt(H)).softmax(-1)  # [B,S,K]
        x0 = att @ v
    else:
        raise ValueError(cfg["model"])
    if "batch_emb" in W:
        x0 = x0 + W["batch_emb"][batch["batch_idx"]]
    yb = llama(x0, W, cfg)
    pred = F.relu((yb + c) @ W["out.w"].t() + W["out.b"])
    energy = energy_loss(pred, y).mean()
    loss = energy + (cfg.get("sparsity", 0.0) * parts["sparsity"] if "sparsity" in parts else 0.0)
    parts["energy"] = energy
    parts["pred"] = pred
    return loss, parts


PRESETS = {
    "paper": dict(H=128, L=8, nh=12, dh=58, F=2784, S=64, B=64, K=32, lr=1e-3),
    "small": dict(H=64, L=2, nh=4, dh=16, F=256, S=32, B=16, K=8, lr=1e-3),
}


def make_cfg(model, preset="paper", G=2000, E=1536, n_batches=0, causal=True, **over):
    cfg = dict(PRESETS[preset])
    cfg.update(model=model, G=G, E=E, n_batches=n_batches, causal=causal, tau=0.5,
               sparsity=0.1 if model == "ptrag" else 0.0, dropout=0.1 if model == "ptrag" else 0.0)
    cfg.update(over)
    return cfg


def synthetic_batch(cfg, P=2000, seed=1):
    g = torch.Generator().manual_seed(seed)
    B, S, G, E, K = cfg["B"], cfg["S"], cfg["G"], cfg["E"], cfg["K"]
    batch = {"xc": torch.rand(B, S, G, generator=g), "y": torch.rand(B, S, G, generator=g),
             "pert": torch.randn(B, E, generator=g)}
    if cfg.get("n_batches", 0) > 0:
        batch["batch_idx"] = torch.randint(0, cfg["n_batches"], (B, S), generator=g)
    if cfg["model"] in ("rag", "ptrag"):
        batch["db"] = torch.randn(P, E, generator=g)
        batch["cand"] = torch.stack([torch.randperm(P, generator=g)[:K] for _ in range(B)])
    if cfg["model"] == "ptrag":
        u = torch.rand(B, S, K, 2, generator=g).clamp(1e-10, 1 - 1e-10)
        batch["gumbel"] = -torch.log(-torch.log(u))
    return batch
