"""PyTorch twin of ptrag's nn ops (include/ptrag/nn.h): the reference the C
kernels are compared against, plus a tiny tensor-file writer/reader.

Run with Debian's /usr/bin/python3 (python3-torch). Each function mirrors one
C op or one published module (HF LlamaModel pieces, geomloss energy), written
plainly so that a STATE / PT-RAG twin can be assembled from them
(see twin_block.py for the LLaMA block stack).

Tensor file format (little-endian), read by tests/twin_file.h:
    magic   8 bytes  b"PTRAGTW1"
    count   u32      number of tensors
    then per tensor:
      name_len u32, name (utf-8, no terminator)
      dtype    u32   0 = float32, 1 = int32
      ndim     u32, dims u32 * ndim
      data     4 bytes * prod(dims), row-major
"""
import math
import struct

import torch
import torch.nn.functional as F

MAGIC = b"PTRAGTW1"


# ----------------------------------------------------------------- file I/O
class TensorFile:
    """Collects named tensors and writes them in the format above."""

    def __init__(self):
        self.items = []

    def add(self, name, t):
        t = torch.as_tensor(t).detach().cpu().clone().contiguous()  # snapshot now
        if t.dtype in (torch.int32, torch.int64):
            self.items.append((name, 1, t.to(torch.int32)))
        else:
            self.items.append((name, 0, t.to(torch.float32)))

    def write(self, path):
        with open(path, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<I", len(self.items)))
            for name, dtype, t in self.items:
                nb = name.encode()
                f.write(struct.pack("<I", len(nb)))
                f.write(nb)
                f.write(struct.pack("<II", dtype, t.dim()))
                f.write(struct.pack("<%dI" % t.dim(), *t.shape))
                f.write(t.numpy().astype("<f4" if dtype == 0 else "<i4").tobytes())


def read_tensor_file(path):
    """Inverse of TensorFile.write: dict name -> tensor."""
    out = {}
    with open(path, "rb") as f:
        assert f.read(8) == MAGIC, "not a ptrag twin file"
        (count,) = struct.unpack("<I", f.read(4))
        for _ in range(count):
            (nl,) = struct.unpack("<I", f.read(4))
            name = f.read(nl).decode()
            dtype, ndim = struct.unpack("<II", f.read(8))
            dims = struct.unpack("<%dI" % ndim, f.read(4 * ndim))
            n = math.prod(dims)
            dt = torch.float32 if dtype == 0 else torch.int32
            out[name] = torch.frombuffer(bytearray(f.read(4 * n)), dtype=dt).reshape(dims)
    return out


# ----------------------------------------------------------------- init (C: ptrag_init_*)
def init_linear_(lin):
    """nn.Linear default: U(+-1/sqrt(fan_in)) for W and b (what reset_parameters gives)."""
    bound = 1.0 / math.sqrt(lin.in_features)
    with torch.no_grad():
        lin.weight.uniform_(-bound, bound)
        if lin.bias is not None:
            lin.bias.uniform_(-bound, bound)


def init_llama_linear_(lin, std=0.02):
    with torch.no_grad():
        lin.weight.normal_(0.0, std)
        if lin.bias is not None:
            lin.bias.zero_()


# ----------------------------------------------------------------- ops
def rms_norm(x, w, eps=1e-6):
    """HF LlamaRMSNorm (float32 path). C: ptrag_rmsnorm_forward."""
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rope_cos_sin(S, dh, theta=10000.0):
    """HF LlamaRotaryEmbedding: cos/sin [S, dh] = cat(freqs, freqs), float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
    t = torch.arange(S, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, cos, sin):
    """x [..., S, dh]; C: ptrag_rope_forward (in place on the fused QKV)."""
    return x * cos + rotate_half(x) * sin


def attention(qkv, B, S, nh, dh, causal=True, cos=None, sin=None):
    """Fused-QKV multi-head self-attention within each set.
    qkv [B*S, 3*nh*dh] -> [B*S, nh*dh]. RoPE on Q and K when cos/sin given.
    C: ptrag_rope_forward + ptrag_attention_forward."""
    A = nh * dh
    q, k, v = qkv.view(B, S, 3, nh, dh).permute(2, 0, 3, 1, 4)  # each [B, nh, S, dh]
    if cos is not None:
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if causal:
        mask = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    return (p @ v).permute(0, 2, 1, 3).reshape(B * S, A)


def swiglu(gu, F_):
    """gu [N, 2F] from the fused [W_gate; W_up] projection. C: ptrag_swiglu_forward."""
    return F.silu(gu[:, :F_]) * gu[:, F_:]


def gumbel_softmax_hard(logits, tau, noise):
    """F.gumbel_softmax(hard=True) with given Gumbel noise (C draws it from the
    counter-based hash). Forward one-hot, backward through the soft sample."""
    soft = torch.softmax((logits + noise) / tau, dim=-1)
    idx = soft.argmax(dim=-1, keepdim=True)
    hard = torch.zeros_like(soft).scatter_(-1, idx, 1.0)
    return hard - soft.detach() + soft


def std_normalize(a):
    """a / clamp(std_unbiased(a), 1e-6) over all entries. C: ptrag_stdnorm_forward."""
    return a / torch.clamp(a.std(), min=1e-6)


def sparsity(w):
    """mean |w|; torch's abs backward uses sign(0) = 0. C: ptrag_sparsity_forward."""
    return w.abs().mean()


def energy_loss(X, Y):
    """geomloss SamplesLoss('energy') per set, X, Y [B, S, G] -> [B].
    Expanded squared distances clamped at 1e-8 as geomloss.utils.distances.
    The X-X term's gradient through both arguments equals geomloss's
    double_grad trick. C: ptrag_energy_forward."""

    def dist(a, b):
        sq = (a * a).sum(-1).unsqueeze(2) - 2 * a @ b.transpose(1, 2) + (b * b).sum(-1).unsqueeze(1)
        return torch.sqrt(torch.clamp_min(sq, 1e-8))

    S = X.shape[1]
    inv = 1.0 / (S * S)
    return inv * dist(X, Y).sum((1, 2)) - 0.5 * inv * dist(X, X).sum((1, 2)) \
        - 0.5 * inv * dist(Y, Y).sum((1, 2))


# ----------------------------------------------------------------- LLaMA block
class LlamaLayer(torch.nn.Module):
    """One HF LlamaDecoderLayer (no biases) with fused-layout-compatible
    weights: q, k, v, o, gate, up, down kept separate as in HF; the C side
    concatenates [q; k; v] and [gate; up]."""

    def __init__(self, H, nh, dh, Fdim):
        super().__init__()
        A = nh * dh
        self.nh, self.dh, self.F = nh, dh, Fdim
        self.ln1 = torch.nn.Parameter(torch.ones(H))
        self.q = torch.nn.Linear(H, A, bias=False)
        self.k = torch.nn.Linear(H, A, bias=False)
        self.v = torch.nn.Linear(H, A, bias=False)
        self.o = torch.nn.Linear(A, H, bias=False)
        self.ln2 = torch.nn.Parameter(torch.ones(H))
        self.gate = torch.nn.Linear(H, Fdim, bias=False)
        self.up = torch.nn.Linear(H, Fdim, bias=False)
        self.down = torch.nn.Linear(Fdim, H, bias=False)
        for lin in (self.q, self.k, self.v, self.o, self.gate, self.up, self.down):
            init_llama_linear_(lin)

    def forward(self, h, B, S, cos, sin, causal=True):
        n = rms_norm(h, self.ln1)
        qkv = torch.cat((self.q(n), self.k(n), self.v(n)), dim=-1)
        h = h + self.o(attention(qkv, B, S, self.nh, self.dh, causal, cos, sin))
        n = rms_norm(h, self.ln2)
        gu = torch.cat((self.gate(n), self.up(n)), dim=-1)
        return h + self.down(swiglu(gu, self.F))
