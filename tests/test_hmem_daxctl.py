"""daxctl on dax_hmem's soft-reserved memory: pycxl's against upstream's (Debian's v76.1
binary on the FUSE mount) on twin platforms, the way tests/test_daxctl_conformance.py runs
them (same stdout, stderr and exit status for every command, then the same kernel state).

``hmem`` is a v6.14 kernel: the region's dax0.0 comes up as System RAM through kmem.
``hmem-devdax`` is a kernel without kmem, as the efi_fake_mem machines upstream's
daxctl-create.sh was written for: dax0.0 comes up as device-dax.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.test_daxctl_conformance import Twins, _boot, _pycxl, _why_not_here
from tests.test_fuse_mount import require_fuse


def _twins(tmp_path: Path, platform: str) -> Twins:
    require_fuse()
    why = _why_not_here()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    assert shutil.which("sh")
    return Twins(tmp_path, platform)


def test_pycxl_lists_the_hmem_region(tmp_path: Path) -> None:
    # Facts of the kernel's layout: the region is the hmem.0 platform device, daxctl names
    # it by its path below /sys/devices.
    _boot(tmp_path / "s", "hmem")
    out, err, rc = _pycxl(tmp_path / "s", ["list", "-R", "-r", "0"])
    assert (rc, err) == (0, "")
    assert out == (
        '[\n  {\n    "path":"\\/platform\\/hmem.0",\n    "id":0,\n    "size":4294967296,\n'
        '    "align":2097152\n  }\n]\n'
    )


def test_system_ram_on_hmem(tmp_path: Path) -> None:
    twins = _twins(tmp_path, "hmem")
    twins.daxctl(
        "list -RDMi",
        "online-memory dax0.0",
        "list -d 0.0",
        "offline-memory dax0.0",
        "reconfigure-device -m devdax dax0.0",
        "disable-device dax0.0",
        "reconfigure-device -s 1G dax0.0",
        "create-device -r 0 -s 1G -a 1G",
        "create-device -r 0",
        "reconfigure-device -m system-ram dax0.2",
        "list -RDMi",
        "offline-memory dax0.2",
        "disable-device -r 0 all",
        "destroy-device -r 0 all",
        "list -RDi",
    )
    twins.same_state()


def test_carving_hmem_without_kmem(tmp_path: Path) -> None:
    # The steps of daxctl-create.sh: empty dax0.0, then devices with holes and alignment.
    twins = _twins(tmp_path, "hmem-devdax")
    twins.daxctl(
        "list -RDi",
        "disable-device dax0.0",
        "reconfigure-device -s 0 dax0.0",
        "create-device -r 0 -s 1G",
        "create-device -r 0 -s 1G",
        "create-device -r 0 -s 512M -a 4K",
        "disable-device dax0.1",
        "destroy-device dax0.1",
        "create-device -r 0 -s 2G",
        "list -RDMi",
        "reconfigure-device -m system-ram dax0.2",
        "disable-device -r 0 all",
        # Not "destroy-device all": v76.1 counts dax0.0's EBUSY as a failure, v81 not.
        "destroy-device dax0.1",
        "destroy-device dax0.2",
        "destroy-device dax0.3",
        "reconfigure-device -s 4G dax0.0",
        "enable-device dax0.0",
        "list -RD",
    )
    twins.same_state()
