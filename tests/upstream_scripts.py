"""Running upstream ndctl's own test scripts against the emulation.

The scripts are an external suite (GPL; they live in ``shared/upstream-tests`` beside the
checkout and are never copied into the project): each one is copied into a scratch
directory at test time and run, unmodified, inside ``fake-sysfs run``, which puts the
emulated ``/sys`` and ``/dev/cxl`` in place of the host's in a private mount namespace.

What the scripts expect of a machine running the ``cxl_test`` kernel module is given by
small shims first on ``PATH``: ``modprobe cxl_test`` (re)boots the ``cxl_test`` preset
(``interleave_arithmetic=1``: ``cxl_test-xor``) into the mounted state, ``modprobe -r``
unloads it, ``journalctl -k`` prints the emulated kernel log (so the scripts' check for a
``Call Trace`` reads what the emulated kernel said), ``udevadm settle`` has nothing to wait
for, ``uuidgen`` comes from Python.

Exit status as upstream's harness reads it: 0 pass, 77 skip, anything else fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def upstream_tests_dir() -> Path | None:
    """``shared/upstream-tests`` beside the checkout (or ``$PYCXL_UPSTREAM_TESTS``)."""
    explicit = os.environ.get("PYCXL_UPSTREAM_TESTS")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(REPO.parent / "shared" / "upstream-tests")
    for candidate in candidates:
        if (candidate / "ndctl-v81" / "test" / "common").is_file():
            return candidate
    return None


_MODPROBE = """#!/bin/sh
# modprobe, as upstream's CXL scripts use it: cxl_test is the emulated cxl_test preset.
remove=0 xor=0 module=
for arg; do
    case "$arg" in
        -r) remove=1 ;;
        interleave_arithmetic=1) xor=1 ;;
        -*|*=*) ;;
        *) module=$(printf %s "$arg" | tr - _) ;;
    esac
done
[ "$module" = cxl_test ] || exit 1
loaded="$SHIMS/.cxl_test-loaded"
if [ $remove = 1 ]; then rm -f "$loaded"; exit 0; fi
[ -e "$loaded" ] && exit 0       # loading a loaded module changes nothing
platform=cxl_test
[ $xor = 1 ] && platform=cxl_test-xor
"$FAKE_SYSFS" init --force --platform "$platform" >/dev/null && : > "$loaded"
"""

_JOURNALCTL = """#!{python}
# journalctl -k, as upstream's check_dmesg uses it: the emulated kernel's log.
import sys

from fake_sysfs.kernel.log import journal, journal_since
from fake_sysfs.store import StateStore

args = sys.argv[1:]
since = None
if "--since" in args:
    since = journal_since(args[args.index("--since") + 1])
kernel, _ = StateStore().load()
sys.stdout.write(journal(kernel.log, since=since, reverse="-r" in args))
"""

_SIMPLE = {
    "udevadm": "#!/bin/sh\n# Nothing is ever pending in the emulation.\nexit 0\n",
    "modinfo": "#!/bin/sh\nexit 0\n",
    # One write(), as uuidgen's stdio makes: a region's uuid store takes exactly 37 bytes.
    "uuidgen": "#!{python}\nimport os, uuid\nos.write(1, f'{{uuid.uuid4()}}\\n'.encode())\n",
}


@dataclass
class Outcome:
    status: str  # "pass", "skip" or "fail"
    rc: int
    log: str  # the script's stdout and stderr (its set -x trace)


def write_shims(directory: Path) -> None:
    directory.mkdir()
    python = sys.executable
    scripts = {"modprobe": _MODPROBE, "journalctl": _JOURNALCTL.format(python=python)}
    scripts |= {name: text.format(python=python) for name, text in _SIMPLE.items()}
    for name, text in scripts.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o755)


def run_script(
    version: str,
    script: str,
    work: Path,
    tools: str,
    timeout: float = 300,
    platform: str = "cxl_test",
) -> Outcome:
    """Run ``script`` of upstream ``version`` ("v81" or "v76.1") in ``work``.

    ``tools``: "pycxl" (pycxl's ``cxl``, ``daxctl`` and ``ndctl``) or
    "upstream" (Debian's binaries in /usr/bin). ``platform``: the preset booted first."""
    source = upstream_tests_dir()
    assert source is not None
    scratch = work / "scratch"
    shutil.copytree(source / f"ndctl-{version}" / "test", scratch / "test")
    # shared/ may come without write or execute bits; the scripts are run as meson runs
    # them, directly, so that their ``-Ex`` shebangs apply.
    (scratch / "test").chmod(0o755)
    for path in (scratch / "test").iterdir():
        path.chmod(0o755 if path.suffix == ".sh" else 0o644)
    shims = work / "shims"
    write_shims(shims)
    state = work / "state"
    state.mkdir(mode=0o700)
    fake_sysfs = str(BIN / "fake-sysfs")
    subprocess.run(
        [fake_sysfs, "init", "--state", str(state), "--platform", platform],
        check=True,
        capture_output=True,
    )
    if tools == "pycxl":
        cxl, ndctl, daxctl = str(BIN / "cxl"), str(BIN / "ndctl"), str(BIN / "daxctl")
    else:
        cxl, ndctl, daxctl = "/usr/bin/cxl", "/usr/bin/ndctl", "/usr/bin/daxctl"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYCXL_", "FAKE_SYSFS_", "PYTEST_"))
    }
    env.update(
        PATH=f"{shims}:{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        CXL=cxl,
        NDCTL=ndctl,
        DAXCTL=daxctl,
        TEST_PATH=str(scratch / "test"),
        FAKE_SYSFS=fake_sysfs,
        FAKE_SYSFS_STATE=str(state),
        SHIMS=str(shims),
    )
    env.pop("TMPDIR", None)
    command = [fake_sysfs, "run", "--state", str(state), "--", str(scratch / "test" / script)]
    try:
        done = subprocess.run(
            command,
            cwd=scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        return Outcome("fail", -1, out + f"\n[harness] timed out after {timeout} s\n")
    status = {0: "pass", 77: "skip"}.get(done.returncode, "fail")
    return Outcome(status, done.returncode, done.stdout.decode(errors="replace"))
