"""Times one training step (forward + backward + Adam) of the PyTorch twin.

usage: /usr/bin/python3 dev/bench_train_step.py --model state|rag|ptrag [--preset paper]
          [--threads N] [--steps 10] [--warmup 2] [--n-batches 0] [--freeze-backbone] [--predict]
Prints one line: 'torch <model> threads=<n> ms_per_step=<median> ...'.
With --predict it times inference (forward only, no grad) and prints cells/s.
"""
import argparse
import statistics
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import twin_model as tm  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="state")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--G", type=int, default=2000)
    ap.add_argument("--E", type=int, default=1536)
    ap.add_argument("--P", type=int, default=2000)
    ap.add_argument("--n-batches", type=int, default=0)
    ap.add_argument("--freeze-backbone", action="store_true")
    ap.add_argument("--predict", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = tm.make_cfg(a.model, a.preset, G=a.G, E=a.E, n_batches=a.n_batches)
    W = tm.init_params(cfg)
    backbone = lambda n: n.startswith("backbone.") or n.startswith("out.")
    for n, t in W.items():
        t.requires_grad_(not (a.freeze_backbone and backbone(n)))
    opt = torch.optim.Adam([t for t in W.values() if t.requires_grad], lr=cfg["lr"])
    batch = tm.synthetic_batch(cfg, P=a.P)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        if a.predict:
            with torch.no_grad():
                tm.forward(W, cfg, batch)
        else:
            opt.zero_grad(set_to_none=True)
            loss, _ = tm.forward(W, cfg, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([t for t in W.values() if t.requires_grad], 10.0)
            opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    cells = cfg["B"] * cfg["S"]
    print(f"torch {a.model} threads={a.threads} blas_env={__import__('os').environ.get('OPENBLAS_NUM_THREADS', '-')} "
          f"ms_per_step={ms:.1f} cells_per_s={cells / (ms / 1e3):.0f}")


if __name__ == "__main__":
    main()
