"""Runs the PyTorch twin (twin_model.py) on weights and a batch written by the
C test tests/test_model_twin.c, and writes the loss, predictions, keep
weights and EVERY parameter gradient back.

    /usr/bin/python3 dev/twin_model_io.py IN.bin OUT.bin [IN2.bin OUT2.bin ...]

Input tensors (tensor-file format of twin_ops.py):
    config.int   [model(0 state, 1 rag, 2 ptrag), G, E, H, L, nh, dh, F, B, S, K,
                  n_batches, causal, P, onehot, selection(-1 training draw,
                  0 expected, 1 threshold, 2 sample)]
    config.real  [tau, sparsity]
    param.<name> every parameter, shaped as twin_model.param_shapes
    in.xc [B*S, G], in.y [B*S, G], in.pert [B, E] or in.pert_id [B] (one-hot),
    in.batch_idx [B*S] (n_batches > 0), in.db [P, E], in.cand [B*K] (rag,
    ptrag), in.gumbel [B*S*K*2] (ptrag)
Output tensors: out.loss, out.energy, out.sparsity, out.pred [B*S, G],
out.keep [B*S*K] (ptrag), grad.<name> for every parameter.
"""
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import twin_model as tm  # noqa: E402
from twin_ops import TensorFile, read_tensor_file  # noqa: E402

MODELS = ("state", "rag", "ptrag")
SELECTIONS = {-1: "sample", 0: "expected", 1: "threshold", 2: "sample"}


def run(inp, outp):
    t = read_tensor_file(inp)
    ci = [int(v) for v in t["config.int"].tolist()]
    model, G, E, H, L, nh, dh, Fw, B, S, K, NB, causal, P, onehot, sel = ci
    tau, sparsity = [float(v) for v in t["config.real"].tolist()]
    cfg = dict(model=MODELS[model], G=G, E=E, H=H, L=L, nh=nh, dh=dh, F=Fw, B=B, S=S, K=K,
               n_batches=NB, causal=bool(causal), tau=tau, sparsity=sparsity, dropout=0.0)
    W = {}
    for name, shape in tm.param_shapes(cfg).items():
        W[name] = t["param." + name].reshape(shape).clone().requires_grad_(True)
    batch = {"xc": t["in.xc"].reshape(B, S, G), "y": t["in.y"].reshape(B, S, G), "train": sel < 0,
             "selection": SELECTIONS[sel]}
    if onehot:
        batch["pert"] = torch.nn.functional.one_hot(t["in.pert_id"].long(), E).float()
    else:
        batch["pert"] = t["in.pert"].reshape(B, E)
    if NB > 0:
        batch["batch_idx"] = t["in.batch_idx"].reshape(B, S).long()
    if cfg["model"] in ("rag", "ptrag"):
        batch["db"] = t["in.db"].reshape(P, E)
        batch["cand"] = t["in.cand"].reshape(B, K).long()
    if cfg["model"] == "ptrag":
        batch["gumbel"] = t["in.gumbel"].reshape(B, S, K, 2)
    loss, parts = tm.forward(W, cfg, batch)
    loss.backward()
    out = TensorFile()
    out.add("out.loss", loss.reshape(1))
    out.add("out.energy", parts["energy"].reshape(1))
    out.add("out.sparsity", parts.get("sparsity", torch.zeros(())).reshape(1))
    out.add("out.pred", parts["pred"].reshape(B * S, G))
    if "keep" in parts:
        out.add("out.keep", parts["keep"].reshape(-1))
    for name, w in W.items():
        out.add("grad." + name, w.grad if w.grad is not None else torch.zeros_like(w))
    out.write(outp)


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        sys.exit("usage: twin_model_io.py IN.bin OUT.bin [IN2.bin OUT2.bin ...]")
    torch.manual_seed(0)
    for i in range(0, len(argv), 2):
        run(argv[i], argv[i + 1])


if __name__ == "__main__":
    main(sys.argv[1:])
