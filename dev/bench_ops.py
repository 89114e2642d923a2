"""The PyTorch side of bench/ops.sh: the same ops and shapes as
bench/bench_ops.c, timed the same way (fastest of R runs after a warm-up;
forward with autograd recording as in training, backward = y.backward(dy)).

    /usr/bin/python3 dev/bench_ops.py [--reps R] [--quick] [--threads T]
prints: op  shape  fwd_ms  bwd_ms  fwd_gflops  bwd_gflops  (tab-separated)
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twin_ops as T  # noqa: E402

REPS = 5


def timed(make_inputs, fwd, dy=None):
    """Fastest forward and backward time in ms. fwd(*inputs) -> tensor."""
    tf, tb = [], []
    for r in range(REPS + 1):
        inputs = make_inputs()
        t0 = time.perf_counter()
        y = fwd(*inputs)
        t1 = time.perf_counter()
        g = dy if dy is not None else torch.ones_like(y)
        if y.requires_grad:
            y.backward(g)
        t2 = time.perf_counter()
        if r:
            tf.append((t1 - t0) * 1e3)
            tb.append((t2 - t1) * 1e3)
    return min(tf), min(tb)


def report(op, shape, fb, flops=0.0):
    f, b = fb
    if flops:
        print("%s\t%s\t%.3f\t%.3f\t%.1f\t%.1f" % (op, shape, f, b, flops / f * 1e-6, 2 * flops / b * 1e-6))
    else:
        print("%s\t%s\t%.3f\t%.3f\t-\t-" % (op, shape, f, b))
    sys.stdout.flush()


def leaf(*shape, scale=1.0):
    return ((torch.rand(*shape) * 2 - 1) * scale).requires_grad_(True)


def bench_linear(name, N, fin, fout, bias):
    x = leaf(N, fin)
    lin = torch.nn.Linear(fin, fout, bias=bias)
    dy = torch.rand(N, fout)
    report(name, "%dx%d->%d%s" % (N, fin, fout, "+b" if bias else ""),
           timed(lambda: (x,), lin, dy), 2.0 * N * fin * fout)


def main():
    global REPS
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    REPS = max(1, a.reps)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, S, H, NH, DH, Fm, G, K = 64, 64, 128, 12, 58, 2784, 2000, 32
    N = B * S
    pairs = N * 4 if a.quick else N * K
    A = NH * DH
    print("op\tshape\tfwd_ms\tbwd_ms\tfwd_gflops\tbwd_gflops")
    bench_linear("linear_basal_enc", N, G, H, True)
    bench_linear("linear_qkv", N, H, 3 * A, False)
    bench_linear("linear_attn_out", N, A, H, False)
    bench_linear("linear_gate_up", N, H, 2 * Fm, False)
    bench_linear("linear_down", N, Fm, H, False)
    bench_linear("linear_decoder", N, H, G, True)
    bench_linear("linear_scorer1", pairs, 3 * H, H, True)

    x, w = leaf(N, H), leaf(H)
    report("rmsnorm", "%dx%d" % (N, H), timed(lambda: (x, w), T.rms_norm))

    qkv = leaf(N, 3 * A)
    report("attention", "%dx%d,%dx%d,causal" % (B, S, NH, DH),
           timed(lambda: (qkv,), lambda q: T.attention(q, B, S, NH, DH, True)),
           4.0 * B * NH * S * S * DH)
    cos, sin = T.rope_cos_sin(S, DH)
    qk = leaf(B, 2 * NH, S, DH)
    report("rope", "%dx(2x%d)x%d" % (N, NH, DH), timed(lambda: (qk,), lambda t: T.apply_rope(t, cos, sin)))

    gu = leaf(N, 2 * Fm, scale=2)
    report("swiglu", "%dx%d" % (N, 2 * Fm), timed(lambda: (gu,), lambda t: T.swiglu(t, Fm)))
    xg = leaf(pairs, H, scale=2)
    report("gelu", "%dx%d" % (pairs, H), timed(lambda: (xg,), F.gelu))
    xr = leaf(N, G, scale=2)
    report("relu", "%dx%d" % (N, G), timed(lambda: (xr,), torch.relu))
    report("dropout", "%dx%d" % (pairs, H), timed(lambda: (xg,), lambda t: F.dropout(t, 0.1, True)))
    lg = leaf(pairs, 2, scale=2)
    report("gumbel_st", "%dx2" % pairs, timed(lambda: (lg,), lambda t: F.gumbel_softmax(t, tau=0.5, hard=True)))
    report("stdnorm", "%dx2" % pairs, timed(lambda: (lg,), T.std_normalize))
    emb = torch.nn.Embedding(48, H)
    ids = torch.randint(0, 48, (N,))
    report("embedding", "%dx%d(of 48)" % (N, H), timed(lambda: (ids,), emb))

    X, Y = leaf(B, S, G), torch.rand(B, S, G)
    report("energy", "%dx%dx%d" % (B, S, G),
           timed(lambda: (X,), lambda t: T.energy_loss(t, Y)), 3.0 * 2 * B * S * S * G)
    report("set_mean_mse", "%dx%dx%d" % (B, S, G),
           timed(lambda: (X,), lambda t: ((t.mean(1) - Y.mean(1)) ** 2).mean(1)))

    # Adam over the C port's parameter count: "fwd" = clip norm, "bwd" = the update
    n = 12215890
    p = torch.nn.Parameter(torch.rand(n))
    p.grad = torch.rand(n)
    opt = torch.optim.Adam([p], lr=1e-3)
    opt.step()
    tn, tu = [], []
    for _ in range(REPS):
        t0 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_([p], 1e30)
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        tn.append((t1 - t0) * 1e3)
        tu.append((t2 - t1) * 1e3)
    report("adam_step(norm|update)", "%d" % n, (min(tn), min(tu)))

    nn_ = 1024 if a.quick else 2048
    ma, mb = torch.rand(nn_, nn_), torch.rand(nn_, nn_)
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        ma @ mb
        best = min(best, time.perf_counter() - t0)
    print("sgemm_peak\t%dx%dx%d\t%.1f GFLOP/s" % (nn_, nn_, nn_, 2.0 * nn_ ** 3 / best * 1e-9))


if __name__ == "__main__":
    main()
