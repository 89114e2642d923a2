/* Adam / AdamW, global-norm clipping and freezing (see ptrag/optim.h). The
 * arithmetic follows torch.optim.Adam's single-tensor path step by step, so a
 * run matches PyTorch to float rounding. Elementwise updates have no
 * reduction; the clipping norm is a fixed-order one (ptrag/nn.h), so both
 * give the same bits for any thread count. */
#include "ptrag/optim.h"

#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

ptrag_adam_config ptrag_adam_defaults(float lr) {
    ptrag_adam_config c = {lr, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
    return c;
}

void ptrag_adam_update(float *param, const float *grad, float *m, float *v, long n,
                       const ptrag_adam_config *cfg, long step) {
    const float b1 = cfg->beta1, b2 = cfg->beta2, lr = cfg->lr, wd = cfg->weight_decay;
    const double bc1 = 1.0 - pow((double)b1, (double)step);
    const double bc2 = 1.0 - pow((double)b2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const int l2 = wd != 0.0f && !cfg->decoupled;
    const float decay = cfg->decoupled ? 1.0f - lr * wd : 1.0f;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float p = param[i] * decay;
        float g = l2 ? grad[i] + wd * p : grad[i];
        float mi = m[i] * b1 + (1.0f - b1) * g;
        float vi = v[i] * b2 + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = p - step_size * (mi / (sqrtf(vi) / bc2_sqrt + cfg->eps));
    }
}

/* Per tensor by the fixed-order reduction, tensors in order: the norm (and so
 * every clipped step) does not depend on the thread count. */
double ptrag_grad_norm(const ptrag_param_tensor *t, int ntensors) {
    double ss = 0.0;
    for (int k = 0; k < ntensors; k++)
        if (!t[k].frozen) ss += ptrag_dot_fixed(t[k].grad, t[k].grad, t[k].n);
    return sqrt(ss);
}

double ptrag_clip_grad_norm(ptrag_param_tensor *t, int ntensors, double max_norm) {
    double total = ptrag_grad_norm(t, ntensors);
    if (max_norm <= 0.0 || !(total > max_norm)) return total;
    float c = (float)(max_norm / (total + 1e-6));
    for (int k = 0; k < ntensors; k++) {
        if (t[k].frozen) continue;
        float *g = t[k].grad;
        long n = t[k].n;
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
        for (long i = 0; i < n; i++) g[i] *= c;
    }
    return total;
}

void ptrag_adam_step(ptrag_param_tensor *t, int ntensors, const ptrag_adam_config *cfg,
                     long step) {
    for (int k = 0; k < ntensors; k++)
        if (!t[k].frozen) ptrag_adam_update(t[k].param, t[k].grad, t[k].m, t[k].v, t[k].n, cfg, step);
}

void ptrag_zero_grads(ptrag_param_tensor *t, int ntensors) {
    for (int k = 0; k < ntensors; k++)
        if (t[k].grad) memset(t[k].grad, 0, sizeof(float) * (size_t)t[k].n);
}
