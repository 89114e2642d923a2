/* The metric table: names, direction and perfect-prediction values, in the
 * order of ptrag_metric_id (which is also the CSV column order). */
#include <math.h>
#include <string.h>

#include "ptrag/metrics.h"

static const ptrag_metric_info metric_table[PTRAG_M_COUNT] = {
    [PTRAG_M_PEARSON_DELTA] = {"pearson_delta", PTRAG_BEST_HIGH, 1.0,
                               "Pearson of pred vs real mean shift from control"},
    [PTRAG_M_PEARSON_DELTA_DEGENERATE] = {"pearson_delta_degenerate", PTRAG_BEST_NONE, 0.0,
                                          "1 when a delta was constant (pearson_delta set to 0)"},
    [PTRAG_M_MSE] = {"mse", PTRAG_BEST_LOW, 0.0, "MSE of pred vs real mean profile"},
    [PTRAG_M_MAE] = {"mae", PTRAG_BEST_LOW, 0.0, "MAE of pred vs real mean profile"},
    [PTRAG_M_MSE_DELTA] = {"mse_delta", PTRAG_BEST_LOW, 0.0, "MSE of pred vs real delta"},
    [PTRAG_M_MAE_DELTA] = {"mae_delta", PTRAG_BEST_LOW, 0.0, "MAE of pred vs real delta"},
    [PTRAG_M_DISCRIMINATION_L1] = {"discrimination_score_l1", PTRAG_BEST_HIGH, 1.0,
                                   "1 - rank/N of the true condition by L1 delta distance"},
    [PTRAG_M_OVERLAP_AT_N] = {"overlap_at_N", PTRAG_BEST_HIGH, 1.0,
                              "top-k DE overlap, k = #real significant"},
    [PTRAG_M_PRECISION_AT_N] = {"precision_at_N", PTRAG_BEST_HIGH, 1.0,
                                "top-k DE overlap, k = #pred significant"},
    [PTRAG_M_DE_DIRECTION_MATCH] = {"de_direction_match", PTRAG_BEST_HIGH, 1.0,
                                    "log2FC sign agreement on real DE genes"},
    [PTRAG_M_DE_SIG_RECALL] = {"de_sig_recall", PTRAG_BEST_HIGH, 1.0,
                               "fraction of real DE genes also DE in pred"},
    [PTRAG_M_DE_NSIG_REAL] = {"de_nsig_real", PTRAG_BEST_NONE, NAN, "real DE genes (FDR < 0.05)"},
    [PTRAG_M_DE_NSIG_PRED] = {"de_nsig_pred", PTRAG_BEST_NONE, NAN, "pred DE genes (FDR < 0.05)"},
    [PTRAG_M_W1_PCA] = {"w1_pca", PTRAG_BEST_LOW, 0.0, "1-D Wasserstein-1 per PC, mean over PCs"},
    [PTRAG_M_W2_PCA] = {"w2_pca", PTRAG_BEST_LOW, 0.0, "1-D Wasserstein-2 per PC, mean over PCs"},
    [PTRAG_M_MMD_PCA] = {"mmd_pca", PTRAG_BEST_LOW, 0.0, "RBF MMD^2 per PC, mean over PCs"},
    [PTRAG_M_ENERGY_PCA] = {"energy_pca", PTRAG_BEST_LOW, 0.0,
                            "energy distance per PC, mean over PCs"},
    [PTRAG_M_ENERGY_GENES] = {"energy_genes", PTRAG_BEST_LOW, 0.0,
                              "multivariate energy distance in gene space"},
    [PTRAG_M_PEARSON_DELTA_PERT] = {"pearson_delta_pert", PTRAG_BEST_HIGH, 1.0,
                                    "Pearson of pred vs real shift from the training perturbed mean"},
};

const ptrag_metric_info *ptrag_metric_info_of(int id) {
    if (id < 0 || id >= PTRAG_M_COUNT) return NULL;
    return &metric_table[id];
}

int ptrag_metric_by_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < PTRAG_M_COUNT; i++)
        if (strcmp(metric_table[i].name, name) == 0) return i;
    return -1;
}
