/* Times the training step (forward + backward + gradient clipping + Adam) of
 * the C model on synthetic inputs of the right shapes, and inference.
 *
 *   bench_train_step --model state|rag|ptrag [--preset paper] [--precision fp32|bf16|auto] [--steps 10]
 *       [--warmup 2] [--freeze-backbone] [--G 2000] [--E 1536] [--P 2000]
 *       [--n-batches 0] [--infer-steps 5] [--set-size S] [--batch B] [--peak] [--shapes]
 *   bench_train_step --peak-only      (just OpenBLAS's sgemm peak, see below)
 *
 * Prints one line of key=value pairs: the median ms per step and of its
 * forward / backward / optimiser parts, the median CPU seconds of a step
 * (all threads; on a shared machine the steadier measure at one thread), FLOPs per step (ptrag_model_flops:
 * what this implementation computes; flops_dense: the direct formulation the
 * PyTorch twin computes), GFLOP/s, inference cells/s (forward only, the
 * config's selection), activation and peak memory. --peak also measures
 * OpenBLAS's own sgemm (2048^3, its threads = OMP_NUM_THREADS) and prints the
 * step's share of it; with --precision bf16 also oneDNN's own bf16 matmul
 * peak (2048^3, N threads) and the rate of the step's bf16 products against
 * it (their FLOPs over the thread-seconds inside them), the attention's
 * batched products apart, and the rate inside oneDNN against what the same
 * primitives reach alone on cache-hot buffers (gemm_frac_of_shapes_alone:
 * how much the model's data movement costs the products, separate from what
 * their shapes allow). --shapes (implies --peak) lists every shape on stderr.
 * Threads: OMP_NUM_THREADS (the model's pool). */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ptrag/bf16.h"
#include "ptrag/config.h"
#include "ptrag/model.h"
#include "ptrag/optim.h"
#include "ptrag/params.h"
#include "ptrag/rng.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* OpenBLAS's own threaded sgemm on n^3, best of 3, GFLOP/s. */
static double sgemm_peak(int n, int threads) {
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_train_step --model state|rag|ptrag [--preset paper] [--steps N] "
                    "[--precision fp32|bf16|auto] [--warmup N] [--freeze-backbone] [--G N] [--E N] [--P N] [--n-batches N] [--infer-steps N] "
                    "[--set-size S] [--batch B] "
                    "[--peak] [--shapes]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *model = "state", *preset = "paper", *precision = "fp32";
    int steps = 10, warmup = 2, freeze = 0, G = 2000, E = 1536, P = 2000, infer_steps = 5, peak = 0, shapes = 0;
    int n_batches = 0, set_size = 0, batch_sets = 0; /* 0: the preset's */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) model = v, i++;
        else if (!strcmp(a, "--preset") && v) preset = v, i++;
        else if (!strcmp(a, "--steps") && v) steps = atoi(v), i++;
        else if (!strcmp(a, "--precision") && v) precision = v, i++;
        else if (!strcmp(a, "--warmup") && v) warmup = atoi(v), i++;
        else if (!strcmp(a, "--G") && v) G = atoi(v), i++;
        else if (!strcmp(a, "--E") && v) E = atoi(v), i++;
        else if (!strcmp(a, "--P") && v) P = atoi(v), i++;
        else if (!strcmp(a, "--infer-steps") && v) infer_steps = atoi(v), i++;
        else if (!strcmp(a, "--n-batches") && v) n_batches = atoi(v), i++;
        else if (!strcmp(a, "--set-size") && v) set_size = atoi(v), i++;
        else if (!strcmp(a, "--batch") && v) batch_sets = atoi(v), i++;
        else if (!strcmp(a, "--freeze-backbone")) freeze = 1;
        else if (!strcmp(a, "--peak")) peak = 1;
        else if (!strcmp(a, "--shapes")) peak = shapes = 1;
        else if (!strcmp(a, "--peak-only")) {
            printf("sgemm_peak_gflops=%.1f\n", sgemm_peak(2048, omp_get_max_threads()));
            return 0;
        }
        else usage();
    }
    if (steps < 1) usage();
    ptrag_error err;
    ptrag_config c;
    ptrag_config_default(&c);
    if (ptrag_model_kind_parse(model, &c.model, &err) || ptrag_config_preset(&c, preset, &err) ||
        ptrag_config_set(&c, "precision", precision, &err)) {
        fprintf(stderr, "bench_train_step: %s\n", err.msg);
        return 2;
    }
    c.n_genes = G, c.pert_dim = E, c.freeze_backbone = freeze, c.n_batches = n_batches;
    if (set_size > 0) c.set_size = set_size;
    if (batch_sets > 0) c.batch_sets = batch_sets;
    c.selection = PTRAG_SELECT_SAMPLE; /* inference as the published code: sampled */
    ptrag_model *m;
    if (ptrag_model_new(&c, NULL, &m, &err) || ptrag_params_init(ptrag_model_params(m), 1, &err)) {
        fprintf(stderr, "bench_train_step: %s\n", err.msg);
        return 1;
    }
    const int B = c.batch_sets, S = c.set_size, N = B * S, K = c.top_k;
    float *xc = malloc(sizeof(float) * (size_t)N * G), *y = malloc(sizeof(float) * (size_t)N * G);
    float *pert = malloc(sizeof(float) * (size_t)B * E), *db = malloc(sizeof(float) * (size_t)P * E);
    int32_t *cand = malloc(sizeof(int32_t) * (size_t)B * K);
    int32_t *batch_id = malloc(sizeof(int32_t) * (size_t)N);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 2);
    for (long i = 0; i < (long)N * G; i++) xc[i] = (float)ptrag_rng_uniform(&rng), y[i] = (float)ptrag_rng_uniform(&rng);
    for (long i = 0; i < (long)B * E; i++) pert[i] = (float)ptrag_rng_normal(&rng);
    for (int i = 0; i < N; i++) batch_id[i] = n_batches > 0 ? (int32_t)ptrag_rng_below(&rng, (uint64_t)n_batches) : 0;
    for (long i = 0; i < (long)P * E; i++) db[i] = (float)ptrag_rng_normal(&rng);
    for (int b = 0; b < B; b++) /* K distinct random rows per set */
        for (int k = 0; k < K; k++) {
            int32_t r;
            int dup;
            do {
                r = (int32_t)ptrag_rng_below(&rng, (uint64_t)P);
                dup = 0;
                for (int j = 0; j < k; j++) dup |= cand[b * K + j] == r;
            } while (dup);
            cand[b * K + k] = r;
        }
    if (c.model != PTRAG_MODEL_STATE && ptrag_model_set_database(m, db, P, &err)) {
        fprintf(stderr, "bench_train_step: %s\n", err.msg);
        return 1;
    }
    ptrag_model_batch bt = {.n_sets = B, .set_len = S, .x_ctrl = xc, .target = y, .pert_feat = pert,
                            .batch_id = n_batches > 0 ? batch_id : NULL,
                            .cand = c.model != PTRAG_MODEL_STATE ? cand : NULL, .noise_seed = 0, .training = 1};
    ptrag_params *ps = ptrag_model_params(m);
    ptrag_param_tensor all = {ptrag_params_values(ps), ptrag_params_grads(ps), ptrag_params_adam_m(ps),
                              ptrag_params_adam_v(ps), (long)ptrag_params_trainable(ps), 0};
    ptrag_adam_config ac = ptrag_adam_defaults((float)c.lr);
    double *t_step = malloc(sizeof(double) * steps), *t_f = malloc(sizeof(double) * steps);
    double *t_b = malloc(sizeof(double) * steps), *t_o = malloc(sizeof(double) * steps);
    double *t_cpu = malloc(sizeof(double) * steps);
    double loss0 = 0, loss1 = 0;
    double gemm_flops = 0, gemm_secs = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) ptrag_bf16_stats_reset();
        ptrag_model_losses l;
        bt.noise_seed = (uint64_t)s;
        double t0 = now(), c0 = cpu_now();
        ptrag_params_zero_grad(ps);
        if (ptrag_model_forward(m, &bt, &l, &err)) break;
        double t1 = now();
        if (ptrag_model_backward(m, &err)) break;
        double t2 = now();
        ptrag_clip_grad_norm(&all, 1, c.clip_norm);
        ptrag_adam_step(&all, 1, &ac, s + 1);
        double t3 = now();
        if (s == 0) loss0 = l.loss;
        loss1 = l.loss;
        if (s >= warmup) {
            int j = s - warmup;
            t_step[j] = t3 - t0, t_f[j] = t1 - t0, t_b[j] = t2 - t1, t_o[j] = t3 - t2;
            t_cpu[j] = cpu_now() - c0;
        }
    }
    if (err.code) {
        fprintf(stderr, "bench_train_step: %s\n", err.msg);
        return 1;
    }
    ptrag_bf16_stats(&gemm_flops, &gemm_secs);
    double ms = median(t_step, steps) * 1e3, cpu_ms = median(t_cpu, steps) * 1e3;
    double flops = ptrag_model_flops(&c, B, S, P, 1), dense = ptrag_model_flops_dense(&c, B, S, P, 1);
    /* inference: forward only, no target */
    bt.target = NULL;
    bt.training = 0;
    double *t_inf = malloc(sizeof(double) * (infer_steps > 0 ? infer_steps : 1));
    for (int s = 0; s < infer_steps + 1; s++) {
        double t0 = now();
        ptrag_model_forward(m, &bt, NULL, &err);
        if (s > 0) t_inf[s - 1] = now() - t0;
    }
    double inf_ms = infer_steps > 0 ? median(t_inf, infer_steps) * 1e3 : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int threads = omp_get_max_threads();
    printf("c model=%s precision=%s frozen=%d threads=%d steps=%d ms_per_step=%.1f cpu_ms_per_step=%.1f fwd_ms=%.1f bwd_ms=%.1f opt_ms=%.1f "
           "gflop_per_step=%.1f gflop_dense=%.1f gflops=%.1f infer_ms=%.1f infer_cells_per_s=%.0f "
           "act_mib=%.0f params_mib=%.0f peak_rss_mib=%.0f loss_first=%.4f loss_last=%.4f",
           model, ptrag_precision_name(ptrag_model_config(m)->precision), freeze, threads, steps, ms, cpu_ms, median(t_f, steps) * 1e3, median(t_b, steps) * 1e3,
           median(t_o, steps) * 1e3, flops / 1e9, dense / 1e9, flops / (ms * 1e-3) / 1e9, inf_ms,
           infer_steps > 0 ? N / (inf_ms * 1e-3) : 0.0, ptrag_model_activation_bytes(m) / 1048576.0,
           ptrag_params_total(ps) * 16.0 / 1048576.0, ru.ru_maxrss / 1024.0, loss0, loss1);
    if (peak) {
        double pk = sgemm_peak(2048, threads);
        printf(" sgemm_peak_gflops=%.1f frac_peak=%.2f", pk, flops / (ms * 1e-3) / 1e9 / pk);
        if (ptrag_model_config(m)->precision == PTRAG_PRECISION_BF16) {
            /* the bf16 products' own rate (their FLOPs over the thread-seconds
             * spent in them, times the threads) against oneDNN's threaded peak */
            double bpk = ptrag_bf16_peak_gflops(2048, threads);
            double g = gemm_secs > 0 ? gemm_flops / gemm_secs * threads / 1e9 : 0;
            printf(" bf16_peak_gflops=%.1f gemm_gflops=%.1f gemm_frac_bf16_peak=%.2f step_frac_bf16_peak=%.2f "
                   "gemm_share_of_step=%.2f",
                   bpk, g, g / bpk, flops / (ms * 1e-3) / 1e9 / bpk, gemm_secs / steps / (cpu_ms * 1e-3)); /* of the step's CPU time */
            /* the attention's batched products, counted apart (ptrag_bf16_bmm) */
            double af, as;
            ptrag_bf16_bmm_stats(&af, &as);
            printf(" attn_gflops=%.1f attn_share_of_step=%.2f", as > 0 ? af / as * threads / 1e9 : 0,
                   as / steps / (cpu_ms * 1e-3));
            /* each shape inside the step against the same primitive alone (cache-hot): what the
             * shapes themselves allow, FLOP-weighted */
            ptrag_bf16_shape sh[256];
            int ns = ptrag_bf16_shapes(sh, 256);
            double f2 = 0, s2 = 0, ideal = 0;
            for (int i = 0; i < ns; i++)
                if (sh[i].alone_gflops > 0 && !strstr(sh[i].desc, " x ")) /* 2-D products only */
                    f2 += sh[i].flops, s2 += sh[i].seconds, ideal += sh[i].flops / (sh[i].alone_gflops * 1e9);
            printf(" gemm_exec_gflops=%.1f shapes_alone_gflops=%.1f gemm_frac_of_shapes_alone=%.2f",
                   s2 > 0 ? f2 / s2 / 1e9 : 0, ideal > 0 ? f2 / ideal / 1e9 : 0, ideal > 0 ? ideal / s2 : 0);
            if (shapes)
                for (int i = 0; i < ns; i++)
                    fprintf(stderr, "# shape %-40s %6.1f GFLOP/step %7.1f ms/step %6.1f GFLOP/s in the step, %6.1f alone\n",
                            sh[i].desc, sh[i].flops / steps / 1e9, sh[i].seconds / steps * 1e3,
                            sh[i].flops / sh[i].seconds / 1e9, sh[i].alone_gflops);
        }
    }
    printf("\n");
    ptrag_model_free(m);
    free(xc), free(y), free(pert), free(db), free(cand), free(batch_id);
    free(t_step), free(t_cpu), free(t_f), free(t_b), free(t_o), free(t_inf);
    return 0;
}
