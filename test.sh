#!/bin/sh
# Install everything pycxl's tests need on a fresh Debian-like machine, then run them.
#
#   ./test.sh [pytest arguments]
#
# System packages: ndctl and daxctl (the upstream 76.1 binaries, the conformance oracles),
# numactl and hwloc-nox (clients of the emulated NUMA nodes), jq (admin script tests),
# util-linux (unshare, lsmem), fuse3 (libfuse3 and fusermount3 for the FUSE mount),
# e2fsprogs (a file system made and checked on an emulated /dev/pmemN), gcc (builds the
# ioctl shim through which upstream's binaries reach the emulated /dev/cxl/memN, /dev/nmemN).
# They are installed with apt-get when missing, as root or through sudo. Python packages go
# into .venv. Then: ruff, ruff format, mypy, pytest.
# The conformance tests need root (private mount namespaces); without it they skip, except
# under CI=true, where a missing oracle fails the run.
set -eu
cd "$(dirname "$0")"

need=""
command -v jq >/dev/null 2>&1 || need="$need jq"
[ -x /usr/bin/cxl ] || need="$need ndctl"
command -v unshare >/dev/null 2>&1 || need="$need util-linux"
command -v fusermount3 >/dev/null 2>&1 || need="$need fuse3"
[ -x /usr/bin/daxctl ] || need="$need daxctl"
command -v numactl >/dev/null 2>&1 || need="$need numactl"
command -v lstopo-no-graphics >/dev/null 2>&1 || need="$need hwloc-nox"
[ -x /usr/sbin/mkfs.ext4 ] || [ -x /sbin/mkfs.ext4 ] || need="$need e2fsprogs"
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
    if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: cannot install$need (no apt-get or no root); those tests will skip" >&2
    else
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check pycxl fake_sysfs tests bench
.venv/bin/ruff format --check pycxl fake_sysfs tests bench
.venv/bin/mypy
# One pytest worker per CPU, at most 4 (pytest-xdist), each taking whole test files: a
# file's fixtures are set up once, and tests that share a platform stay in one process.
# PYTEST_WORKERS=1 runs them all in this process.
workers=${PYTEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}
[ "$workers" -gt 4 ] && workers=4
if [ "$workers" -gt 1 ]; then
    set -- -n "$workers" --dist loadfile "$@"
fi
exec .venv/bin/python -m pytest "$@"
