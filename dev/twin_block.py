"""PyTorch twin of a small STATE-style model: encoders, a LLaMA block stack
(RMSNorm, RoPE, causal fused-QKV attention, SwiGLU), output head with
residual and ReLU, energy + MSE loss. Writes inputs, weights, activations,
the loss, EVERY gradient, and 10 Adam steps (losses, grad norms, final
weights) to a tensor file (format in twin_ops.py). tests/test_nn_twin.c
rebuilds the same model from ptrag's C ops and compares.

    /usr/bin/python3 dev/twin_block.py OUT.bin

Model (all shapes small; head dim 10 is deliberately not a power of two):
    c   = basal(Xc)                       Linear(G->H)
    p   = pert(P)                         Linear(E->H)
    x0  = p + c + batch_emb[ids]
    h   = L x LlamaLayer(x0), causal, per set of S tokens
    y   = rms_norm(h, final_norm)
    pred = relu(out(y + c))               Linear(H->G)
    loss = mean_b energy(pred_b, Y_b) + 0.5 * mse(pred, Y)
Adam phase: lr 1e-2, clip_grad_norm_ 1.0, `out` and `final_norm` frozen.
"""
import sys

import torch

import twin_ops as T

CFG = dict(B=3, S=6, G=20, E=12, NB=4, H=24, NH=3, DH=10, F=40, L=2)
LR, CLIP, MSE_W, STEPS = 1e-2, 1.0, 0.5, 10
FROZEN = ("out.weight", "out.bias", "final_norm")


class TwinModel(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.basal = torch.nn.Linear(c["G"], c["H"])
        self.pert = torch.nn.Linear(c["E"], c["H"])
        self.batch_emb = torch.nn.Parameter(torch.randn(c["NB"], c["H"]))
        self.layers = torch.nn.ModuleList(
            [T.LlamaLayer(c["H"], c["NH"], c["DH"], c["F"]) for _ in range(c["L"])])
        self.final_norm = torch.nn.Parameter(torch.ones(c["H"]))
        self.out = torch.nn.Linear(c["H"], c["G"])
        for lin in (self.basal, self.pert, self.out):
            T.init_linear_(lin)
        with torch.no_grad():
            # Larger-than-LLaMA weights and non-unit norm gains, so that
            # attention is far from uniform and every weight matters.
            for layer in self.layers:
                for lin in (layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down):
                    lin.weight.normal_(0.0, 0.15)
                layer.ln1.add_(0.1 * torch.randn(c["H"]))
                layer.ln2.add_(0.1 * torch.randn(c["H"]))
            self.final_norm.add_(0.1 * torch.randn(c["H"]))

    def forward(self, Xc, P, ids, Y, acts=None):
        c = self.c
        B, S, G = c["B"], c["S"], c["G"]
        cos, sin = T.rope_cos_sin(S, c["DH"])
        cenc = self.basal(Xc)
        h = self.pert(P) + cenc + self.batch_emb[ids.long()]
        if acts is not None:
            acts["act.x0"] = h
        for i, layer in enumerate(self.layers):
            h = layer(h, B, S, cos, sin, causal=True)
            if acts is not None:
                acts["act.h%d" % i] = h
        y = T.rms_norm(h, self.final_norm)
        pred = torch.relu(self.out(y + cenc))
        energy = T.energy_loss(pred.view(B, S, G), Y.view(B, S, G))
        mse = torch.mean((pred - Y) ** 2)
        loss = energy.mean() + MSE_W * mse
        if acts is not None:
            acts.update({"act.pred": pred, "act.energy": energy, "act.mse": mse, "act.loss": loss})
        return loss


def main(path):
    torch.manual_seed(1234)
    c = CFG
    N = c["B"] * c["S"]
    model = TwinModel(c)
    Xc = torch.randn(N, c["G"]).abs()
    P = torch.randn(c["B"], 1, c["E"]).expand(c["B"], c["S"], c["E"]).reshape(N, c["E"]).contiguous()
    ids = torch.randint(0, c["NB"], (N,), dtype=torch.int32)
    Y = torch.randn(N, c["G"]).abs() + 0.3
    Xc.requires_grad_(True)

    tf = T.TensorFile()
    tf.add("config", torch.tensor([c[k] for k in ("B", "S", "G", "E", "NB", "H", "NH", "DH", "F", "L")],
                                  dtype=torch.int32))
    tf.add("hyper", torch.tensor([LR, CLIP, MSE_W, STEPS], dtype=torch.float32))
    tf.add("in.Xc", Xc)
    tf.add("in.P", P)
    tf.add("in.ids", ids)
    tf.add("in.Y", Y)
    for name, prm in model.named_parameters():
        tf.add("param." + name, prm)

    acts = {}
    loss = model(Xc, P, ids, Y, acts)
    loss.backward()
    for k, v in acts.items():
        tf.add(k, v)
    tf.add("grad.Xc", Xc.grad)
    for name, prm in model.named_parameters():
        tf.add("grad." + name, prm.grad)

    # Adam phase, frozen head; losses are taken before each update.
    for name, prm in model.named_parameters():
        prm.grad = None
        if name in FROZEN:
            prm.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=LR)
    Xc = Xc.detach()
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = model(Xc, P, ids, Y)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(trainable, CLIP)))
        opt.step()
        losses.append(float(loss))
    tf.add("adam.loss", torch.tensor(losses))
    tf.add("adam.grad_norm", torch.tensor(norms))
    for name, prm in model.named_parameters():
        tf.add("adam.final." + name, prm)
    tf.write(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: twin_block.py OUT.bin")
    main(sys.argv[1])
