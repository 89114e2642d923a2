#!/usr/bin/env python3
"""The source folders are the stages of the pipeline (README "Layout"): each
folder may include headers of the folders above it only. Reads every
#include "..." under src/ and include/ptrag/ and fails naming each upward
arrow. A public header belongs to the folder of the .c file of the same name
(or the table below where names differ)."""
import glob, os, re, sys

ORDER = ["core", "io", "data", "nn", "optim", "rag", "model", "store", "run", "sim", "eval", "cli"]
# Public headers whose implementation is not a .c file of the same name.
HEADER_HOME = {
    "error": "core", "checksum": "core", "h5ad": "io", "split": "data", "sampler": "data",
    "dataset": "data", "nn": "nn", "bf16": "nn", "optim": "optim", "model": "model",
    "blob": "store", "checkpoint": "store", "train": "run", "simulate": "sim",
    "metrics": "eval", "report": "eval", "command": "cli",
}

def main(root):
    home = {}
    for h in glob.glob(os.path.join(root, "include/ptrag/*.h")):
        name = os.path.basename(h)[:-2]
        if name in HEADER_HOME:
            home[name] = HEADER_HOME[name]
            continue
        impl = sorted(glob.glob(os.path.join(root, "src/*/%s*.c" % name)))
        if not impl:
            print("check_layers: no home for include/ptrag/%s.h (add it to HEADER_HOME)" % name)
            return 1
        home[name] = impl[0].split(os.sep)[-2]
    bad = 0
    files = glob.glob(os.path.join(root, "src/*/*.[ch]")) + glob.glob(os.path.join(root, "include/ptrag/*.h"))
    for f in sorted(files):
        rel = os.path.relpath(f, root)
        parts = rel.split(os.sep)
        me = parts[1] if parts[0] == "src" else home[os.path.basename(f)[:-2]]
        if me not in ORDER:
            print("check_layers: %s: folder '%s' is not in ORDER" % (rel, me))
            bad += 1
            continue
        for inc in re.findall(r'#include "([^"]+)"', open(f, encoding="utf-8").read()):
            if inc.startswith("ptrag/"):
                to = home.get(inc[6:-2])
            elif "/" in inc:
                to = inc.split("/")[0]
            else:
                continue  # a header of the same folder
            if to is None or to == me or to == "ptrag.h":
                continue
            if to not in ORDER or ORDER.index(to) > ORDER.index(me):
                print("check_layers: %s (%s) includes %s (%s): an arrow up the pipeline" % (rel, me, inc, to))
                bad += 1
    print("check_layers: %d files, %d upward includes (order: %s)" % (len(files), bad, " < ".join(ORDER)))
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")))
