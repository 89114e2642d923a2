"""ptrag from Python: train, predict, score and compare on AnnData objects.

    import anndata, ptrag
    adata = anndata.read_h5ad("devel.h5ad")
    run = ptrag.train(adata, split="a172.toml", model="ptrag", embeddings="genes.tsv",
                      pert_col="perturbation", control="control", missing="drop", out="runs/a172")
    pred, real = run.predict(with_real=True)          # AnnData, obs as `ptrag predict` writes them
    scores = ptrag.evaluate(pred, real, pert_col="perturbation", control="control")

Every function runs the `ptrag` command of the same name inside this process
(through libptrag.so), so every command-line option is a keyword argument,
`--pert-col` written `pert_col=`; flags take True. See docs/python.md.
"""
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from . import _lib
from ._lib import PtragError
from ._source import from_anndata, from_path

__all__ = ["train", "Run", "evaluate", "baseline", "neighbors", "simulate", "command", "PtragError", "read_results",
           "__version__"]


def _flags(options):
    """Keyword arguments as CLI flags: x_y=V -> --x-y V; True -> --x-y; False/None -> omitted."""
    argv = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return argv


def _open_source(data, x):
    """None -> the split's own file; a path -> that file; an AnnData -> in memory."""
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        return from_path(data, x)
    return from_anndata(data, x)


def command(*argv, data=None, x=None, on_step=None):
    """Runs any `ptrag` subcommand in-process, e.g. command("inspect", path):
    returns its standard output; raises PtragError with the C message."""
    src = _open_source(data, x)
    try:
        return _lib.command([str(a) for a in argv], source=src.handle if src else None, on_step=on_step)
    finally:
        if src:
            src.close()


__version__ = _lib.command(["--version"]).split()[-1]  # the library's own ("ptrag 0.1.0")


def _read_h5ad(path):
    import anndata

    return anndata.read_h5ad(path)


class _Progress:
    """The progress callback: a tqdm bar when tqdm is installed and
    progress=True, the user's callable, or nothing (the C bar on stderr)."""

    def __init__(self, progress, desc="ptrag train", unit="step"):
        self.desc, self.unit = desc, unit
        self.user = progress if callable(progress) else None
        self.bar = None
        self.use_tqdm = False
        if progress is True and not self.user:
            try:
                import tqdm  # noqa: F401

                self.use_tqdm = True
            except ImportError:
                pass

    @property
    def quiet(self):
        """Whether the C progress lines should be silenced (--quiet)."""
        return self.use_tqdm or self.user is not None

    def __call__(self, step, total, loss):
        if self.user:
            self.user(step, total, loss)
        elif self.use_tqdm:
            if self.bar is None:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=step - 1, unit=self.unit, desc=self.desc)
            self.bar.update(step - self.bar.n)
            if loss == loss:  # NaN for prediction
                self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _key_values(path):
    """A run's `key = value` text file as a dict of strings ({} when absent)."""
    out = {}
    if Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


class Run:
    """A run directory written by `ptrag train` (command.txt, config.txt,
    data.txt, meta.txt, train_log.csv, best.ckpt, last.ckpt)."""

    def __init__(self, path, data=None, x=None):
        self.path = Path(path)
        self.data = data      # what it was trained on, when given (AnnData or path)
        self.x = x
        self.output = ""      # standard output of the last command

    @classmethod
    def load(cls, path, data=None, x=None):
        """The run at `path`; `data` (AnnData or path) is what predict() and
        resume() read instead of the split's file; `x` defaults to the
        expression source the run was trained on (data.txt)."""
        p = Path(path)
        if not (p / "config.txt").is_file():
            raise PtragError(f"{p}: not a ptrag run directory (no config.txt)", -5)
        run = cls(p, data, x)
        if x is None:
            run.x = _key_values(p / "data.txt").get("x") or None
        return run

    def __repr__(self):
        return f"Run({str(self.path)!r})"

    @property
    def config(self):
        """config.txt as a dict of strings."""
        return _key_values(self.path / "config.txt")

    @property
    def log(self):
        import pandas as pd

        return pd.read_csv(self.path / "train_log.csv")

    def _data(self, data):
        if data is not None:
            return data
        # record.txt says `input.data = none` for a run trained on in-memory data.
        if self.data is None and _key_values(self.path / "record.txt").get("setting.input.data") == "none":
            warnings.warn(f"{self.path} was trained on an in-memory AnnData; without `data=` the split's file is "
                          "read instead", stacklevel=3)
        return self.data

    def resume(self, steps, data=None, progress=True, **options):
        """Continues training to `steps` total steps (`ptrag train --resume`)."""
        _train_command(["--resume", str(self.path), "--steps", str(steps)] + _flags(options),
                       self._data(data), self.x, progress, self)
        return self

    def predict(self, data=None, out=None, with_real=False, progress=True, **options):
        """Predicts the run's held-out conditions (test; val=True for
        validation) and returns the predicted cells as an AnnData, obs as
        `ptrag predict` writes them (perturbation, cell type, batch columns
        and control_index: the input row of the control cell each predicted
        cell was computed from). with_real=True returns (pred, real).
        progress: as in train(), counted in sets of cells; Ctrl-C stops it."""
        tmp = tempfile.mkdtemp(prefix="ptrag-predict-")
        try:
            pred_path = Path(out) if out else Path(tmp) / "pred.h5ad"
            argv = ["predict", "--run", str(self.path), "--out", str(pred_path)]
            real_path = options.pop("write_real", None)
            if with_real and not real_path:
                real_path = Path(tmp) / "real.h5ad"
            if real_path:
                argv += ["--write-real", str(real_path)]
            if "retrieval" not in options:
                options["retrieval"] = str(Path(tmp) / "RETRIEVAL.tsv") if not out else None
            argv += _flags(options)
            src = _open_source(self._data(data), self.x)
            prog = _Progress(progress, "ptrag predict", "set")
            try:
                self.output = _lib.command(argv, source=src.handle if src else None, on_step=prog)
            finally:
                prog.close()
                if src:
                    src.close()
            pred = _read_h5ad(pred_path)
            if with_real:
                return pred, _read_h5ad(real_path)
            return pred
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _train_command(args, data, x, progress, run):
    prog = _Progress(progress)
    # The library's own progress line only when nothing else reports progress.
    if (prog.quiet or progress is False) and "--quiet" not in args:
        args = args + ["--quiet"]
    src = _open_source(data, x)
    try:
        run.output = _lib.command(["train"] + args, source=src.handle if src else None, on_step=prog)
    finally:
        prog.close()
        if src:
            src.close()


def train(data=None, split=None, model="ptrag", embeddings=None, out=None, progress=True, x=None, **options):
    """Trains a model (`ptrag train`) and returns its Run.

    data: an AnnData (dense or scipy.sparse X; x="layers/NAME" or "obsm/KEY"
    for another matrix), a path to an .h5ad file, or None for the split's own
    file. split: the STATE split file (.toml). out: the run directory (a new
    temporary one when None). options: any `ptrag train` flag, e.g.
    pert_col="perturbation", control="control", preset="small", steps=200,
    threads=1, missing="drop".

    progress: True (a tqdm bar when tqdm is installed, else the C progress
    line on stderr), False (silent) or a callable(step, total, loss). Ctrl-C
    (or any exception raised by the callable) stops training at the next step
    boundary: last.ckpt is written, the exception propagates, and
    Run.load(out).resume(steps) continues the run.
    """
    if split is None:
        raise ValueError("train: split= (a STATE split .toml file) is required")
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="ptrag-run-")) / "run"
    args = ["--split", os.fspath(split), "--model", model, "--out", os.fspath(out)]
    if embeddings is not None:
        args += ["--embeddings", os.fspath(embeddings)]
    if x is not None:
        args += ["--x", x]
    args += _flags(options)
    run = Run(out, data, x)
    _train_command(args, data, x, progress, run)
    return run


def _as_file(obj, tmp, name):
    """A path for an AnnData argument (evaluation reads files: written once)."""
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    path = os.path.join(tmp, name)
    obj.write_h5ad(path)
    return path


def read_results(directory):
    """cell-eval's results.csv of an eval directory, with agg_results.csv in
    .attrs["summary"]."""
    import pandas as pd

    d = Path(directory)
    res = pd.read_csv(d / "results.csv")
    res.attrs["summary"] = pd.read_csv(d / "agg_results.csv")
    return res


def evaluate(pred, real, out=None, **options):
    """Scores predicted cells against real ones (`ptrag eval`). pred and real:
    AnnData or .h5ad paths. Returns cell-eval's per-perturbation table
    (results.csv: a `perturbation` column, one column per metric) as a
    pandas DataFrame; .attrs["summary"] holds agg_results.csv (the
    `statistic` column: count, null_count, mean, std, min, 25%, 50%, 75%,
    max) and .attrs["per_condition"] ptrag's per_condition.csv. options:
    pert_col=, control=, celltype_col=, no_de=True, ..."""
    import pandas as pd

    tmp = tempfile.mkdtemp(prefix="ptrag-eval-")
    try:
        d = out or os.path.join(tmp, "scores")
        argv = ["eval", "--pred", _as_file(pred, tmp, "pred.h5ad"), "--real", _as_file(real, tmp, "real.h5ad"),
                "--out", os.fspath(d)] + _flags(options)
        _lib.command(argv)
        res = read_results(d)
        res.attrs["per_condition"] = pd.read_csv(Path(d) / "per_condition.csv")
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def baseline(kind, data=None, split=None, out=None, with_real=False, x=None, **options):
    """A baseline prediction (`ptrag baseline --kind control|pert-mean|linear`)
    of the split's test conditions, as an AnnData (obs as the CLI writes
    them); with_real=True returns (pred, real). data as in train()."""
    if split is None:
        raise ValueError("baseline: split= is required")
    tmp = tempfile.mkdtemp(prefix="ptrag-baseline-")
    try:
        pred_path = out or os.path.join(tmp, "pred.h5ad")
        real_path = options.pop("write_real", None) or (os.path.join(tmp, "real.h5ad") if with_real else None)
        argv = ["baseline", "--kind", kind, "--split", os.fspath(split), "--out", os.fspath(pred_path)]
        if real_path:
            argv += ["--write-real", os.fspath(real_path)]
        if x is not None:
            argv += ["--x", x]
        argv += _flags(options)
        src = _open_source(data, x)
        try:
            _lib.command(argv, source=src.handle if src else None)
        finally:
            if src:
                src.close()
        pred = _read_h5ad(pred_path)
        return (pred, _read_h5ad(real_path)) if with_real else pred
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def neighbors(genes, embeddings, k=10, **options):
    """Nearest genes by embedding cosine similarity (`ptrag neighbors`):
    a DataFrame with query, rank, gene, cosine, row. genes: a symbol, "A+B",
    or a list of them."""
    import pandas as pd

    if isinstance(genes, str):
        genes = [genes]
    argv = ["neighbors", "--embeddings", os.fspath(embeddings), "--gene", ",".join(genes), "--k", str(k),
            "--json"] + _flags(options)
    doc = json.loads(_lib.command(argv))
    rows = [{"query": q["query"], "rank": n["rank"], "gene": n["gene"], "cosine": n["cosine"], "row": n["row"]}
            for q in doc["queries"] for n in q["neighbors"]]
    return pd.DataFrame(rows, columns=["query", "rank", "gene", "cosine", "row"])


def simulate(source, embeddings, out=None, **options):
    """A simulated Perturb-seq experiment with known truth (`ptrag simulate`)
    written to `out` (a new temporary folder when None): returns sim.h5ad as
    an AnnData, with the folder's files in .uns["ptrag_simulate"] (dir,
    truth, split_fewshot, split_zeroshot) so ptrag.train(sim, split=...)
    follows. source: the .h5ad with control cells, or an AnnData (written once
    to a temporary file: the simulator reads a file). options: every
    `ptrag simulate` flag, e.g. perts=200, cells=40, seed=1."""
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="ptrag-sim-"))
    tmp = tempfile.mkdtemp(prefix="ptrag-sim-src-")
    try:
        argv = ["simulate", "--source", _as_file(source, tmp, "source.h5ad"), "--embeddings", os.fspath(embeddings),
                "--out", str(out)] + _flags(options)
        _lib.command(argv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = {"dir": str(out), "truth": str(out / "truth.h5ad"), "split_fewshot": str(out / "split_fewshot.toml"),
             "split_zeroshot": str(out / "split_zeroshot.toml")}
    if not (out / "sim.h5ad").is_file():  # per_celltype_files=True: data/<cell type>.h5ad
        return files
    sim = _read_h5ad(out / "sim.h5ad")
    sim.uns["ptrag_simulate"] = files
    return sim
