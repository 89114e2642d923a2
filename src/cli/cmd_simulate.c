/* ptrag simulate: a Perturb-seq experiment with known truth (docs/simulate.md). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "ptrag/progress.h"
#include "ptrag/simulate.h"

static const cli_opt opts[] = {
    {"--source", "FILE", ".h5ad with control cells (per-gene means and dispersions come from them)"},
    {"--embeddings", "FILE", "gene embedding table: the perturbation genes and their vectors"},
    {"--out", "DIR", "output folder (sim.h5ad, truth.h5ad, split_fewshot.toml, split_zeroshot.toml)"},
    {"--source-pert-col", "NAME", "source perturbation column (default: perturbation)"},
    {"--source-control", "LABEL", "source control label (default: control)"},
    {"--source-celltype-col", "NAME", "source cell-type column (default: cell_type)"},
    {"--source-scale", "S", "auto | counts | log1p (default: auto)"},
    {"--source-libsize-col", "NAME", "library sizes of a log1p source (default: the smallest step, see docs)"},
    {"--source-target-sum", "T", "normalisation total of a log1p source (default: 10000)"},
    {"--seed", "N", "random seed (default: 1); same seed and flags: same bytes"},
    {"--cell-types", "N", "cell types (default: those of the source; more are jittered copies)"},
    {"--perts", "N", "perturbations, the same genes in every cell type (default: 600)"},
    {"--modules", "N", "latent modules of perturbation genes (default: 40)"},
    {"--cells", "N", "mean cells per perturbed condition (default: 40)"},
    {"--cells-spread", "SD", "sd of log cells per condition (default: 0.3)"},
    {"--controls", "N", "control cells per cell type (default: 1000)"},
    {"--genes", "N", "genes (default: the source's; fewer: most expressed; more: jittered copies)"},
    {"--per-celltype-files", NULL, "write data/<cell type>.h5ad instead of one sim.h5ad"},
    {"--layout", "L", "sim (default) | replogle: data/<cell line>.h5ad, counts X + log1p obsm/X_hvg, obs cell_line"},
    {"--no-truth", NULL, "skip truth.h5ad (minutes at Replogle-Nadig's size with several batches)"},
    {"--hvg-genes", "N", "replogle layout: width of obsm/X_hvg, the first N genes (default: 2000)"},
    {"--cell-type-names", "LIST", "names of the cell types, comma-separated (replogle: K562,RPE1,Jurkat,HepG2)"},
    {"--output", "S", "log1p (log1p(counts * T / library), default) or counts"},
    {"--target-sum", "T", "normalisation total T of the log1p output (default: 10000)"},
    {"--depth", "X", "library-size multiplier against the source (default: 1)"},
    {"--effect", "SD", "sd of a module program's log-fold changes (default: 2)"},
    {"--density", "F", "share of genes a module program touches (default: 0.1)"},
    {"--individual", "R", "sd of each perturbation's own part, relative to --effect (default: 0.15)"},
    {"--stress", "SD", "sd of the shared stress program (default: 0.25)"},
    {"--silent", "P", "probability that a module is silent in a cell type (default: 0.15)"},
    {"--celltype-sd", "SD", "sd of log (module, cell type) factors (default: 0.3)"},
    {"--strength-min", "S", "knock-down strength ~ Uniform(S, 1) (default: 0.5)"},
    {"--batches", "N", "batches (gem_group) with per-gene effects (default: 1 = none)"},
    {"--batch-sd", "SD", "sd of a batch's log-fold changes (default: 0.1)"},
    {"--libsize-sd", "SD", "sd of log library size (default: fitted to the source controls)"},
    {"--heldout", "CT", "cell type held out in the split files (default: the first)"},
    {"--test-frac", "F", "share of perturbations that are test in the held-out cell type (default: 0.65)"},
    {"--val-frac", "F", "share that are validation (default: 0.1)"},
    {"--quiet", NULL, "no progress on stderr"},
};

typedef struct {
    int started, tty, last_tenth;
    double t0;
} sim_progress;

/* "cells 120000/643000 (18%) 12.3k cells/s": redrawn on a terminal, a line per 10% otherwise. */
static void on_progress(void *ctx, long done, long total) {
    sim_progress *p = ctx;
    double now = ptrag_monotonic_seconds();
    if (!p->started) {
        p->started = 1;
        p->tty = cli_stderr_is_tty();
        p->t0 = now;
        p->last_tenth = -1;
    }
    int tenth = total ? (int)(10 * done / total) : 10;
    if (!p->tty && tenth == p->last_tenth) return;
    p->last_tenth = tenth;
    double rate = now > p->t0 ? (double)done / (now - p->t0) : 0;
    fprintf(stderr, "%scells %ld/%ld (%d%%) %.0f cells/s%s", p->tty ? "\r" : "", done, total,
            total ? (int)(100 * done / total) : 100, rate, p->tty ? "" : "\n");
    fflush(stderr);
}

int cmd_simulate(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv,
                       "ptrag simulate --source FILE.h5ad --embeddings TABLE --out DIR [options]",
                       "Writes a simulated Perturb-seq experiment with known truth: cells drawn from a\n"
                       "negative-binomial model fitted to the source's control cells, perturbation genes\n"
                       "grouped into modules by their embedding vectors, effects = module program x\n"
                       "knock-down strength + an individual part + shared stress. Writes DIR/sim.h5ad\n"
                       "(columns gene, cell_type, gem_group, ncounts; control 'non-targeting'),\n"
                       "DIR/truth.h5ad (true mean shift per condition, module, strength),\n"
                       "DIR/split_fewshot.toml, DIR/split_zeroshot.toml and DIR/simulate.txt.\n"
                       "--layout replogle writes Replogle-Nadig's layout instead: DIR/data/<cell line>.h5ad\n"
                       "(raw counts in X, log1p in obsm/X_hvg, obs gene, cell_line, gem_group); read its\n"
                       "split with --celltype-col cell_line --x obsm/X_hvg.\n"
                       "The model and its formulas: docs/simulate.md.",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    ptrag_sim_opts o;
    ptrag_sim_opts_default(&o);
    o.source = cli_get(&a, "--source", NULL);
    o.embeddings = cli_get(&a, "--embeddings", NULL);
    o.out_dir = cli_get(&a, "--out", NULL);
    if (!o.source) return cli_usage_error("simulate", "--source FILE.h5ad is required");
    if (!o.embeddings) return cli_usage_error("simulate", "--embeddings TABLE is required");
    if (!o.out_dir) return cli_usage_error("simulate", "--out DIR is required");
    o.pert_col = cli_get(&a, "--source-pert-col", o.pert_col);
    o.control = cli_get(&a, "--source-control", o.control);
    o.celltype_col = cli_get(&a, "--source-celltype-col", o.celltype_col);
    o.source_scale = cli_get(&a, "--source-scale", o.source_scale);
    o.libsize_col = cli_get(&a, "--source-libsize-col", o.libsize_col);
    o.heldout = cli_get(&a, "--heldout", NULL);
    const char *out = cli_get(&a, "--output", "log1p");
    if (strcmp(out, "log1p") == 0) o.output_log1p = 1;
    else if (strcmp(out, "counts") == 0) o.output_log1p = 0;
    else return cli_usage_error("simulate", "--output expects log1p or counts, got '%s'", out);
    o.per_celltype_files = cli_has(&a, "--per-celltype-files");
    const char *layout = cli_get(&a, "--layout", "sim");
    if (strcmp(layout, "replogle") == 0) o.replogle_layout = 1;
    else if (strcmp(layout, "sim") != 0)
        return cli_usage_error("simulate", "--layout expects sim or replogle, got '%s'", layout);
    o.celltype_names = cli_get(&a, "--cell-type-names", NULL);
    o.no_truth = cli_has(&a, "--no-truth");
    long hvg_genes;
    if (cli_get_long(&a, "--hvg-genes", 2000, 1, 100000, &hvg_genes)) return 2;
    o.hvg_genes = (int)hvg_genes;
    long seed, ct, perts, modules, controls, genes, batches;
    if (cli_get_long(&a, "--seed", 1, 0, 1L << 62, &seed) || cli_get_long(&a, "--cell-types", 0, 1, 1000, &ct) ||
        cli_get_long(&a, "--perts", o.n_perts, 2, 100000, &perts) ||
        cli_get_long(&a, "--modules", o.n_modules, 1, 100000, &modules) ||
        cli_get_long(&a, "--controls", o.n_controls, 2, 10000000, &controls) ||
        cli_get_long(&a, "--genes", 0, 1, 100000, &genes) || cli_get_long(&a, "--batches", 1, 1, 1000, &batches) ||
        cli_get_double(&a, "--source-target-sum", o.source_target_sum, 1e-9, 1e12, &o.source_target_sum) ||
        cli_get_double(&a, "--cells", o.cells_per_pert, 1, 1e7, &o.cells_per_pert) ||
        cli_get_double(&a, "--cells-spread", o.cells_spread, 0, 5, &o.cells_spread) ||
        cli_get_double(&a, "--target-sum", o.target_sum, 1e-9, 1e12, &o.target_sum) ||
        cli_get_double(&a, "--depth", o.depth, 1e-6, 1e6, &o.depth) ||
        cli_get_double(&a, "--effect", o.effect, 0, 10, &o.effect) ||
        cli_get_double(&a, "--density", o.program_density, 1e-9, 1, &o.program_density) ||
        cli_get_double(&a, "--individual", o.individual, 0, 100, &o.individual) ||
        cli_get_double(&a, "--stress", o.stress, 0, 10, &o.stress) ||
        cli_get_double(&a, "--silent", o.silent_frac, 0, 1, &o.silent_frac) ||
        cli_get_double(&a, "--celltype-sd", o.celltype_sd, 0, 10, &o.celltype_sd) ||
        cli_get_double(&a, "--strength-min", o.strength_min, 0, 1, &o.strength_min) ||
        cli_get_double(&a, "--batch-sd", o.batch_sd, 0, 10, &o.batch_sd) ||
        cli_get_double(&a, "--libsize-sd", -1, 0, 10, &o.libsize_sd) ||
        cli_get_double(&a, "--test-frac", o.test_frac, 0, 1, &o.test_frac) ||
        cli_get_double(&a, "--val-frac", o.val_frac, 0, 1, &o.val_frac))
        return 2;
    if (!cli_has(&a, "--libsize-sd")) o.libsize_sd = -1;
    o.seed = (uint64_t)seed;
    o.n_celltypes = (int)ct;
    if (!cli_has(&a, "--cell-types")) o.n_celltypes = 0;
    if (!cli_has(&a, "--genes")) genes = 0;
    o.n_perts = (int)perts;
    o.n_modules = (int)modules;
    o.n_controls = controls;
    o.n_genes = (int)genes;
    o.n_batches = (int)batches;
    /* o.threads stays 0: --threads is the execution setting cli_parse applied. */
    sim_progress prog = {0};
    if (!cli_has(&a, "--quiet")) {
        o.progress = on_progress;
        o.progress_ctx = &prog;
    }
    ptrag_sim_summary s;
    ptrag_error err;
    if (ptrag_simulate(&o, &s, &err)) return cli_report("simulate", &err);
    if (prog.started && prog.tty) fputc('\n', stderr);
    printf("wrote %s: %ld cells, %d cell types, %d perturbations in %d modules, %d genes\n", s.data_path, s.n_cells,
           s.n_celltypes, s.n_perts, s.n_modules, s.n_genes);
    printf("held out %s: %d test, %d val perturbations (split_fewshot.toml); zero-shot: split_zeroshot.toml\n",
           s.heldout, s.n_test, s.n_val);
    if (o.no_truth) printf("settings: %s/simulate.txt (no truth: --no-truth)\n", o.out_dir);
    else printf("truth: %s/truth.h5ad; settings: %s/simulate.txt\n", o.out_dir, o.out_dir);
    return 0;
}
