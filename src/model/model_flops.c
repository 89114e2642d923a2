/* FLOP counts from the shapes (a multiply-add is 2 FLOPs; transcendental
 * functions count nothing). ptrag_model_flops counts what this
 * implementation computes; ptrag_model_flops_dense counts the direct
 * formulation (what the PyTorch twin computes: stage 2 as two Linear(3H -> H)
 * per (cell, candidate) pair, reference-model.md §9.3). They differ only for
 * ptrag. Distinct candidate rows are estimated as min(P, n_sets * K). */
#include "ptrag/model.h"

typedef struct dims {
    double N, B, S, G, E, H, L, nh, dh, A, F, K, U;
    int onehot, frozen;
} dims;

static dims dims_of(const ptrag_config *c, int n_sets, int set_len, long P) {
    dims d;
    d.B = n_sets, d.S = set_len, d.N = (double)n_sets * set_len;
    d.G = c->n_genes, d.E = c->pert_dim, d.H = c->hidden, d.L = c->layers;
    d.nh = c->heads, d.dh = c->head_dim, d.A = d.nh * d.dh, d.F = c->mlp;
    d.K = c->model == PTRAG_MODEL_STATE ? 0 : c->top_k;
    d.U = d.B * d.K < (double)P ? d.B * d.K : (double)P;
    d.onehot = c->pert_onehot, d.frozen = c->freeze_backbone;
    return d;
}

/* Encoders, backbone, head and loss: shared by every model kind. */
static double common_flops(const dims *d, int backward) {
    const double N = d->N, H = d->H, A = d->A, F = d->F, G = d->G;
    double enc = 2 * N * G * H + (d->onehot ? 0 : 2 * d->B * d->E * H);
    double proj = 2 * N * H * (3 * A + 2 * F) + 2 * N * (A + F) * H; /* per layer */
    double attn = d->B * d->nh * 2 * d->S * d->S * d->dh * 2;         /* per layer */
    double head = 2 * N * H * G;
    double loss = d->B * 3 * 2 * d->S * d->S * G;
    double fwd = enc + d->L * (proj + attn) + head + loss;
    if (!backward) return fwd;
    double bwd = loss * 2.0 / 3.0                     /* two sgemms per set */
                 + d->L * (proj + 2 * attn) + head    /* dX everywhere */
                 + enc;                               /* encoders' dW */
    if (!d->frozen) bwd += d->L * proj + head;        /* backbone and head dW */
    return fwd + bwd;
}

static double rag_flops(const dims *d, int backward) {
    const double N = d->N, H = d->H, U = d->U, E = d->E, K = d->K;
    double fwd = 2 * U * E * H + 2 * 2 * U * H * H + 2 * N * H * H + 2 * 2 * N * K * H;
    if (!backward) return fwd;
    return fwd + 2 * U * E * H + 2 * 2 * 2 * U * H * H + 2 * 2 * N * H * H + 4 * 2 * N * K * H;
}

static double ptrag_flops(const dims *d, int backward) {
    const double N = d->N, H = d->H, U = d->U, E = d->E, NK = d->N * d->K;
    const double parts = N + d->B + U;
    double fwd = 2 * U * E * H + 2 * parts * H * 2 * H + NK * (12 * H + 4 * H);
    if (!backward) return fwd;
    return fwd + 2 * U * E * H + 2 * 2 * parts * H * 2 * H + NK * 28 * H;
}

static double ptrag_dense_flops(const dims *d, int backward) {
    const double H = d->H, U = d->U, E = d->E, NK = d->N * d->K;
    /* two Linear(3H -> H) and Linear(H -> 2) per pair, LayerNorm ~8 FLOPs/feature */
    double fwd = 2 * U * E * H + NK * (2 * 2 * 3 * H * H + 2 * 2 * H + 8 * 3 * H);
    if (!backward) return fwd;
    return fwd + 2 * U * E * H + NK * (2 * 2 * 2 * 3 * H * H + 2 * 2 * 2 * H + 10 * 3 * H);
}

double ptrag_model_flops(const ptrag_config *cfg, int n_sets, int set_len, long P, int backward) {
    dims d = dims_of(cfg, n_sets, set_len, P);
    double f = common_flops(&d, backward);
    if (cfg->model == PTRAG_MODEL_RAG) f += rag_flops(&d, backward);
    if (cfg->model == PTRAG_MODEL_PTRAG) f += ptrag_flops(&d, backward);
    return f;
}

double ptrag_model_flops_dense(const ptrag_config *cfg, int n_sets, int set_len, long P, int backward) {
    dims d = dims_of(cfg, n_sets, set_len, P);
    double f = common_flops(&d, backward);
    if (cfg->model == PTRAG_MODEL_RAG) f += rag_flops(&d, backward);
    if (cfg->model == PTRAG_MODEL_PTRAG) f += ptrag_dense_flops(&d, backward);
    return f;
}
