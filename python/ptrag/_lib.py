"""ctypes binding to libptrag.so (see docs/python.md for why ctypes).

Everything goes through two C entry points:
  - ptrag_command(argc, argv, hooks, err): one CLI subcommand, in-process, so
    every CLI option is a keyword argument and the files are the CLI's own;
  - ptrag_h5ad_open_memory(spec, &handle, err): an in-memory AnnData behind
    the .h5ad reader interface, borrowing the numpy/scipy buffers.
ctypes releases the GIL for the duration of each foreign call; the progress
callback takes it back only for the moment it runs.
"""
import ctypes
import os
import sys
import tempfile
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))
# The CLI re-executes itself with OMP_WAIT_POLICY=passive (docs/reliability.md):
# spinning OpenMP barriers starve each other on a busy machine. A Python host
# cannot re-exec, but libgomp reads the policy when it is first loaded, which
# is usually here: unless the user chose a policy, or libgomp is already loaded
# (by torch, say: then its policy stands), ask for the passive one.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "passive"
_lib = ctypes.CDLL(os.path.join(_HERE, "libptrag.so"))

# ---- include/ptrag/error.h ----
ERROR_MSG_MAX = 1024
STATUS = {0: "ok", -1: "bad argument", -2: "I/O error", -3: "format error", -4: "out of memory",
          -5: "not found", -6: "numerical error", -7: "invalid state", -8: "unsupported", -9: "cancelled"}
E_CANCELLED = -9


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * ERROR_MSG_MAX)]


class PtragError(RuntimeError):
    """A failure reported by the C library; str() is its message (file, field,
    what was expected). `code` is the ptrag_status, `status` its name."""

    def __init__(self, message, code=-1):
        super().__init__(message)
        self.code = code
        self.status = STATUS.get(code, "error")


def _raise(err, what):
    msg = err.msg.decode("utf-8", "replace") or f"{what} failed"
    raise PtragError(msg, err.code or -1)


# ---- include/ptrag/h5ad.h: columns and in-memory sources ----
COL_CATEGORICAL, COL_STRING, COL_NUMERIC, COL_BOOL = 0, 1, 2, 3
STORAGE_DENSE, STORAGE_CSR = 0, 1
DTYPE_F32, DTYPE_F64, DTYPE_I32, DTYPE_I64 = 0, 1, 2, 3


class Column(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("n", ctypes.c_long),
                ("n_categories", ctypes.c_int), ("categories", ctypes.POINTER(ctypes.c_char_p)),
                ("codes", ctypes.c_void_p), ("values", ctypes.c_void_p)]


class MemorySpec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("x_source", ctypes.c_char_p),
                ("n_obs", ctypes.c_long), ("n_vars", ctypes.c_long),
                ("storage", ctypes.c_int), ("value_dtype", ctypes.c_int), ("values", ctypes.c_void_p),
                ("index_dtype", ctypes.c_int), ("indices", ctypes.c_void_p), ("indptr", ctypes.c_void_p),
                ("obs_names", ctypes.POINTER(ctypes.c_char_p)), ("var_names", ctypes.POINTER(ctypes.c_char_p)),
                ("n_obs_cols", ctypes.c_int), ("obs_cols", ctypes.POINTER(Column))]


_lib.ptrag_h5ad_open_memory.argtypes = [ctypes.POINTER(MemorySpec), ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.POINTER(Error)]
_lib.ptrag_h5ad_open_memory.restype = ctypes.c_int
_lib.ptrag_h5ad_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(Error)]
_lib.ptrag_h5ad_open.restype = ctypes.c_int
_lib.ptrag_h5ad_close.argtypes = [ctypes.c_void_p]
_lib.ptrag_h5ad_close.restype = None
_lib.ptrag_h5ad_n_obs.argtypes = [ctypes.c_void_p]
_lib.ptrag_h5ad_n_obs.restype = ctypes.c_long


def open_memory(spec):
    h = ctypes.c_void_p()
    err = Error()
    if _lib.ptrag_h5ad_open_memory(ctypes.byref(spec), ctypes.byref(h), ctypes.byref(err)):
        _raise(err, "opening the AnnData")
    return h


def open_file(path, x_source):
    h = ctypes.c_void_p()
    err = Error()
    if _lib.ptrag_h5ad_open(os.fsencode(path), x_source.encode() if x_source else None, ctypes.byref(h),
                            ctypes.byref(err)):
        _raise(err, f"opening {path}")
    return h


def close(h):
    if h:
        _lib.ptrag_h5ad_close(h)


# ---- include/ptrag/command.h ----
STEP_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_double)


class Hooks(ctypes.Structure):
    _fields_ = [("input", ctypes.c_void_p), ("on_step", STEP_FN), ("ctx", ctypes.c_void_p)]


_lib.ptrag_command.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(Hooks),
                               ctypes.POINTER(Error)]
_lib.ptrag_command.restype = ctypes.c_int

# The hooks are process-wide while a command runs (command.h): one at a time.
_command_lock = threading.Lock()


class _StdoutCapture:
    """Redirects file descriptor 1 (the C library's printf) into a temporary
    file for the duration of a command and returns what was written."""

    def __enter__(self):
        sys.stdout.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(1)
        os.dup2(self._file.fileno(), 1)
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 1)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        return False


def command(argv, source=None, on_step=None):
    """Runs `ptrag argv...` in-process. `source`: an open h5ad handle (file or
    in-memory) read in place of the split's file. `on_step(step, total, loss)`
    is called after each training step; when it raises (KeyboardInterrupt
    from Ctrl-C included), training stops at that step boundary with a
    resumable run and the exception is re-raised here. Returns the command's
    standard output; raises PtragError with the C message on failure."""
    args = [a if isinstance(a, bytes) else os.fsencode(str(a)) for a in argv]
    arr = (ctypes.c_char_p * (len(args) + 1))(*args, None)
    raised = []

    def trampoline(_ctx, step, total, loss):
        if raised:
            return 1
        try:
            on_step(int(step), int(total), float(loss))
            return 0
        except BaseException as e:  # KeyboardInterrupt too: stop cleanly, re-raise below
            raised.append(e)
            return 1

    hooks = Hooks()
    hooks.input = source.value if isinstance(source, ctypes.c_void_p) else source
    cb = STEP_FN(trampoline) if on_step else STEP_FN()
    hooks.on_step = cb
    err = Error()
    with _command_lock, _StdoutCapture() as out:
        rc = _lib.ptrag_command(len(args), arr, ctypes.byref(hooks), ctypes.byref(err))
    if raised:
        exc = raised[0]
        if err.code == E_CANCELLED:
            exc.ptrag_message = err.msg.decode("utf-8", "replace")
        raise exc
    if rc != 0:
        _raise(err, f"ptrag {argv[0]}")
    return out.text
