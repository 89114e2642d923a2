/* Stage src/optim of the pipeline (include/ptrag.h, README "Layout"): the optimiser; uses nn.
 *
 * Optimiser math over flat float32 arrays: Adam / AdamW with bias correction
 * (the arithmetic of torch.optim.Adam/AdamW, single-tensor path), global-norm
 * gradient clipping (torch.nn.utils.clip_grad_norm_), freezing by tensor.
 *
 * The flat functions work on one tensor (params, grads, first and second
 * moments m and v, n floats). The tensor-list functions apply them to a list
 * of ptrag_param_tensor, skipping frozen tensors entirely: a frozen tensor is
 * neither updated nor counted in the clipping norm (like requires_grad=False
 * in PyTorch). The parameter registry / checkpoint layer owns the storage. */
#ifndef PTRAG_OPTIM_H
#define PTRAG_OPTIM_H

typedef struct ptrag_adam_config {
    float lr;           /* learning rate, e.g. 1e-3 */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-8, added to sqrt(v_hat) as torch does */
    float weight_decay; /* 0 = none */
    int decoupled;      /* 0: Adam (L2: g += wd*p); 1: AdamW (p *= 1 - lr*wd) */
} ptrag_adam_config;

/* {lr, 0.9, 0.999, 1e-8, 0, 0}: torch.optim.Adam defaults with the given lr. */
ptrag_adam_config ptrag_adam_defaults(float lr);

/* One update of n parameters. step is the 1-based count of updates applied so
 * far including this one (bias correction 1 - beta^step). m and v start at 0.
 *   g' = g + wd*p (Adam only);  p *= 1 - lr*wd (AdamW only)
 *   m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
 *   p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps) */
void ptrag_adam_update(float *param, const float *grad, float *m, float *v, long n,
                       const ptrag_adam_config *cfg, long step);

/* One parameter tensor as the optimiser sees it. */
typedef struct ptrag_param_tensor {
    float *param;
    float *grad;
    float *m, *v; /* Adam moments, n floats each, zero-initialised */
    long n;
    int frozen;   /* nonzero: skipped by clipping and by the update */
} ptrag_param_tensor;

/* Sum of squares of all non-frozen gradients, then sqrt (double precision,
 * fixed-order blocks: the same bits for any thread count). */
double ptrag_grad_norm(const ptrag_param_tensor *t, int ntensors);
/* torch clip_grad_norm_: total = ptrag_grad_norm; if total > max_norm, every
 * non-frozen gradient is scaled by (float)(max_norm / (total + 1e-6)) (torch
 * scales by min(1, coef) always; below the threshold that is the identity).
 * Returns total (the norm before clipping). max_norm <= 0 disables clipping.
 * Training calls this once per step on the trainable arena (src/run/train.c). */
double ptrag_clip_grad_norm(ptrag_param_tensor *t, int ntensors, double max_norm);
/* Adam/AdamW update of every non-frozen tensor. */
void ptrag_adam_step(ptrag_param_tensor *t, int ntensors, const ptrag_adam_config *cfg,
                     long step);
/* Sets every gradient (frozen ones too) to 0. */
void ptrag_zero_grads(ptrag_param_tensor *t, int ntensors);

#endif
