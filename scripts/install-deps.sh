#!/usr/bin/env bash
# Installs what ptrag needs from Debian's package archive, and nothing else.
# Idempotent: packages already present are skipped, so a second run is fast.
#   scripts/install-deps.sh            build + test dependencies
#   PTRAG_NO_PYTHON=1 scripts/...      skip the Python stack (torch, anndata, pandas)
#   PTRAG_NO_FUZZ=1 scripts/...        skip clang/libFuzzer (scripts/fuzz.sh)
set -euo pipefail

# libdnnl-dev: oneDNN, for --precision bf16 (optional at build time: fp32 only without it).
need=(build-essential cmake pkg-config libhdf5-dev libopenblas-dev zlib1g-dev libdnnl-dev)
# libopenmpi-dev + openmpi-bin: MPI, for `mpirun -np N ptrag train` (docs/distributed.md;
# optional at build time: one process only without it).
need+=(libopenmpi-dev openmpi-bin)
# Fuzzing (scripts/fuzz.sh, CI): clang with libFuzzer (libclang-rt-14-dev holds
# libclang_rt.fuzzer) and LLVM's OpenMP runtime, which clang links for -fopenmp.
if [ "${PTRAG_NO_FUZZ:-0}" != 1 ]; then
  need+=(clang libclang-rt-14-dev libomp-dev)
fi
if [ "${PTRAG_NO_PYTHON:-0}" != 1 ]; then
  # The Python package (docs/python.md) and the reference and interop tests: the PyTorch
  # twin and anndata round-trips.
  need+=(python3 python3-numpy python3-scipy python3-pandas python3-h5py python3-anndata python3-torch)
fi

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#need[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
