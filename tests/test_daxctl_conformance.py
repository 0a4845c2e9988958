"""pycxl's ``daxctl`` against upstream's (Debian's v76.1 binary) on twin emulated platforms.

Both run the same command sequence, each on its own copy of the same booted platform:
upstream through ``fake-sysfs run`` (the FUSE mount in place of /sys and /dev), pycxl on
the state directly. Every command must print the same stdout and stderr and exit the same,
and at the end both kernels must hold the same state: pycxl wrote what upstream wrote. The
sequences go through the system-ram configuration (onlining movable and normal, offlining,
the refusals), the devdax configuration (resizing, alignment, enable/disable), the kernel's
auto-online policy, and bad input.

The differences between v76.1 and v81 (pycxl's target) are all listed in V76_DIFFERENCES,
the one place they are recorded for daxctl; nothing else is normalized.

``create-device`` is covered too: upstream finds a new device through its ``/dev`` node,
which ``fake-sysfs run`` serves live (a device a store registers appears at once).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs.store import StateStore
from tests.helpers import environment
from tests.test_fuse_mount import require_fuse

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
UPSTREAM = "/usr/bin/daxctl"
TIMEOUT = 120

#: command line -> (what v76.1 prints on stderr and its exit status, why v81 differs)
V76_DIFFERENCES: dict[str, tuple[str, int, str]] = {
    "online-memory dax9.9": (
        "error onlining memory: No such device or address\nonlined memory for 0 devices\n",
        250,
        "v81 returns the last failing action's result (0 when no device matches); v76.1 "
        "returned the last device's, starting from -ENXIO",
    ),
    "reconfigure-device -m system-ram -r 5 all": (
        "error reconfiguring devices: No such device or address\nreconfigured 0 devices\n",
        250,
        "as for online-memory dax9.9: no device matched",
    ),
    "destroy-device -f dax0.0": (
        "error destroying devices: Device or resource busy\ndestroyed 0 devices\n",
        240,
        "v81 takes the kernel's EBUSY for deleting daxX.0 (which is never deleted, only "
        "emptied) as success",
    ),
}


#: Differences kept out of the twin sequences (their stdout or effect differs, which the
#: sequences cannot normalize): command line -> what v76.1 does and why v81 differs.
V76_UNCOMPARED: dict[str, str] = {
    "create-device -m devdax": (
        "v76.1 takes -m on create-device and creates the device; v81's create-device has no "
        "-m option (usage error, 129), and pycxl follows v81"
    ),
    "offline-memory all": (
        "with no system-ram device, v76.1 exits with the last device's result and v81 with "
        "the last failing action's (as for online-memory dax9.9 above)"
    ),
}


def _why_not_here() -> str | None:
    if not os.path.exists(UPSTREAM):
        return "needs Debian's daxctl (apt-get install daxctl)"
    return None


def _boot(state: Path, platform: str) -> None:
    subprocess.run(
        [*FAKE_SYSFS, "init", "--state", str(state), "--platform", platform],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )


def _upstream(state: Path, argv: list[str]) -> tuple[str, str, int]:
    proc = subprocess.run(
        [*FAKE_SYSFS, "run", "--state", str(state), "--", *argv],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return proc.stdout, proc.stderr, proc.returncode


def _pycxl(state: Path, argv: list[str]) -> tuple[str, str, int]:
    from tests.test_daxctl_cmds import run_daxctl

    r = run_daxctl(argv, state)
    return r.out.decode(), r.err.decode(), r.rc


def _stored(state: Path) -> dict[str, object]:
    data = StateStore(state).load()[0].to_json()
    del data["log"], data["printed_once"]
    return data


class Twins:
    def __init__(self, tmp: Path, platform: str) -> None:
        self.up, self.py = tmp / "upstream", tmp / "pycxl"
        _boot(self.up, platform)
        _boot(self.py, platform)

    def daxctl(self, *lines: str) -> None:
        """Each command line, in order, on both platforms. Upstream runs them all in one
        ``fake-sysfs run`` (one mount, one namespace: every write is live), each command's
        output kept apart in files."""
        out = self.up.parent / "upstream-out"
        out.mkdir(exist_ok=True)
        script = "".join(
            f"{UPSTREAM} {line} >{out}/{i}.out 2>{out}/{i}.err; echo $? >{out}/{i}.rc\n"
            for i, line in enumerate(lines)
        )
        assert _upstream(self.up, ["sh", "-c", script])[2] == 0
        for i, line in enumerate(lines):
            up = (
                (out / f"{i}.out").read_text(),
                (out / f"{i}.err").read_text(),
                int((out / f"{i}.rc").read_text()),
            )
            py = _pycxl(self.py, shlex.split(line))
            assert py[0] == up[0], f"daxctl {line}: stdout differs"
            known = V76_DIFFERENCES.get(line)
            if known is not None:
                assert (up[1], up[2]) == known[:2], f"daxctl {line}: v76.1 changed: {up[1:]}"
                continue
            assert (py[1], py[2]) == (up[1], up[2]), f"daxctl {line}: stderr/exit differ"

    def shell(self, script: str) -> None:
        """The same shell commands (writes to the emulated /sys) on both platforms."""
        for state in (self.up, self.py):
            out = _upstream(state, ["sh", "-c", script])
            assert out[2] == 0, out

    def same_state(self) -> None:
        assert _stored(self.py) == _stored(self.up)


@pytest.fixture
def twins(tmp_path: Path) -> Twins:
    require_fuse()
    why = _why_not_here()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    assert shutil.which("sh")
    return Twins(tmp_path, "cxl_test")


def test_system_ram_configuration(twins: Twins) -> None:
    # cxl_test's region0 comes up as system-ram with offline blocks (auto_online offline).
    twins.daxctl(
        *[
            "list -RDMi",
            "reconfigure-device -m system-ram dax0.0",
            "list -RDMu",
            "online-memory dax0.0",
            "offline-memory dax0.0",
            "offline-memory dax0.0",
            "online-memory --no-movable dax0.0",
            # ZONE_NORMAL memory holds kernel allocations: the emulated kernel refuses.
            "reconfigure-device -f -m devdax dax0.0",
            "reconfigure-device -m devdax dax0.0",
            "reconfigure-device -N -m system-ram dax0.0",
            "online-memory dax9.9",
            "list -d 0.0 -u",
        ]
    )
    twins.same_state()


def test_devdax_configuration_and_resizing(twins: Twins) -> None:
    twins.daxctl(
        *[
            "reconfigure-device -m devdax -f dax0.0",
            "disable-device dax0.0",
            "reconfigure-device -s 256M dax0.0",
            "reconfigure-device -s 3M dax0.0",
            "reconfigure-device -s 1G dax0.0",
            "enable-device dax0.0",
            "list -RDMi",
            "destroy-device dax0.0",
            "disable-device all",
            "reconfigure-device -a 1G dax0.0",
            "reconfigure-device -s 128M -a 4K dax0.0",
            "list -i -d 0.0",
            "enable-device dax0.0",
            "reconfigure-device -m system-ram dax0.0",
            "reconfigure-device -f -m devdax dax0.0",
            "disable-device dax0.0",
            "destroy-device -f dax0.0",
            "list -RDi",
        ]
    )
    twins.same_state()


def test_create_and_destroy_devices_until_the_region_is_full(twins: Twins) -> None:
    twins.daxctl(
        *[
            "reconfigure-device -m devdax -f dax0.0",
            "disable-device dax0.0",
            "destroy-device -f dax0.0",
            "create-device -r 0 -s 1G",
            "create-device -r 0 -s 256M -a 4K",
            "create-device -r 0",
            "create-device -r 0 -s 1G",
            "list -RDi",
            "disable-device dax0.2",
            "destroy-device dax0.2",
            "list -RD",
        ]
    )
    twins.same_state()


def test_verbose_library_messages(twins: Twins) -> None:
    # -v: libdaxctl's debug lines (the walk, module loading, enabling) as upstream's.
    twins.daxctl(
        *[
            "reconfigure-device -v -f -m devdax dax0.0",
            "disable-device -v dax0.0",
            "enable-device -v dax0.0",
            "reconfigure-device -v -m system-ram dax0.0",
        ]
    )
    twins.same_state()


def test_kernel_auto_online_policy(twins: Twins) -> None:
    twins.daxctl("reconfigure-device -m devdax -f dax0.0")
    twins.shell("echo online_movable > /sys/devices/system/memory/auto_online_blocks")
    twins.daxctl(
        *[
            "reconfigure-device -N -m system-ram dax0.0",
            "reconfigure-device -f -m system-ram dax0.0",
            "list",
            "offline-memory all",
            "enable-device dax0.0",
        ]
    )
    twins.same_state()


#: Bad input, and commands that find nothing to do: messages, usage blocks, exit codes.
BAD_INPUT = [
    "reconfigure-device",
    "reconfigure-device dax0.0",
    "reconfigure-device -m foo dax0.0",
    "reconfigure-device -N -m devdax dax0.0",
    "reconfigure-device -C dax0.0",
    "reconfigure-device -C -m devdax dax0.0",
    "reconfigure-device -a 1G -m system-ram dax0.0",
    "reconfigure-device -s foo dax0.0",
    "reconfigure-device -m devdax dax0.0 dax0.1",
    "online-memory",
    "offline-memory -x dax0.0",
    "enable-device",
    "disable-device dax0.0 extra",
    "destroy-device",
    "list foo",
    "list -r 7",
    "list -d dax7.7",
    "list --idle --human --regions",
    "enable-device dax0.0",
    "offline-memory dax0.0",
    "reconfigure-device -m system-ram -r 5 all",
]


def test_bad_input(twins: Twins) -> None:
    twins.daxctl(*BAD_INPUT)
    twins.same_state()


def test_pycxl_environment_is_isolated(tmp_path: Path) -> None:
    # The twins' pycxl side never reads the host's /sys: the state is selected explicitly.
    with environment({"PYCXL_SYSFS_ROOT": None}):
        _boot(tmp_path / "s", "cxl_test")
        out, err, rc = _pycxl(tmp_path / "s", ["list"])
    assert rc == 0 and '"chardev":"dax0.0"' in out and err == ""


def test_check_config_with_an_nvdimm_namespace(tmp_path: Path) -> None:
    # -C with a section for a pmem devdax namespace's uuid: mode, online and movable come
    # from /etc/daxctl.conf.d (upstream: a directory bound over it inside the namespace;
    # pycxl: PYCXL_DAXCTL_CONF_DIR).
    import json

    require_fuse()
    if _why_not_here():
        pytest.skip(str(_why_not_here()))
    bindir = Path(sys.executable).parent
    twins = Twins(tmp_path, "qemu-mixed")
    outputs = []
    for side, state in (("up", twins.up), ("py", twins.py)):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYCXL_")}
        env["FAKE_SYSFS_STATE"] = str(state)
        for argv in (
            ["cxl", "create-region", "-d", "decoder0.1", "-t", "pmem", "-m", "mem2", "mem3"],
            ["ndctl", "create-namespace", "-m", "devdax", "-s", "256M"],
        ):
            subprocess.run(
                [str(bindir / argv[0]), *argv[1:]],
                env=env,
                check=True,
                capture_output=True,
                timeout=TIMEOUT,
            )
        listing = subprocess.run(
            [str(bindir / "ndctl"), "list", "-N"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        uuid = json.loads(listing.stdout)[0]["uuid"]
        conf = tmp_path / f"conf-{side}"
        conf.mkdir()
        (conf / "cxl.conf").write_text(
            f"# persistent memory as system RAM\n[reconfigure-device pmem0]\n"
            f"nvdimm.uuid = {uuid}\nmode = system-ram\nonline = true\nmovable = false\n"
        )
        if side == "up":
            # The command under fake-sysfs run may not mount (it runs without CAP_SYS_ADMIN),
            # so the bind is made in a namespace of its own that fake-sysfs run inherits.
            run = [*FAKE_SYSFS, "run", "--state", str(state), "--"]
            script = (
                f"mount --bind {conf} /etc/daxctl.conf.d && "
                f"exec {shlex.join(run)} {UPSTREAM} reconfigure-device -C dax1.0"
            )
            proc = subprocess.run(
                ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            outputs.append((proc.stdout, proc.stderr, proc.returncode))
        else:
            with environment({"PYCXL_DAXCTL_CONF_DIR": str(conf)}):
                outputs.append(_pycxl(state, ["reconfigure-device", "-C", "dax1.0"]))
    assert outputs[1] == outputs[0]
    assert '"movable":false' in outputs[1][0]
