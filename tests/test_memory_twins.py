"""The memory side end to end against upstream (Debian 76.1 ``ndctl``, ``daxctl``, ``cxl``):
one session over a CXL pmem region, run by pycxl in-process on one platform and by the
upstream binaries through ``fake-sysfs run`` on its twin.

The session fills the region with namespaces of every mode until a create fails for want
of space, turns the devdax namespace's device into system-ram (and the refusals that
brings: a destroy while its memory is online), brings it back, tears everything down and
makes the whole region one devdax namespace. Every step must print the same and exit the
same; at the end ``ndctl list -BDRNi -v``, ``daxctl list -RDM`` and ``cxl list -vvv
-BPEMDRT -i`` must agree and both kernels must hold the same state.

Only documented differences are normalized: random uuids (create-namespace makes them),
v76.1's ``-u`` iset_id (tests/ndctl_compat_v76.py), v76.1's cxl listing and the mailbox
data upstream cannot reach over the mount (tests/compat_v76.py, tests/twin.py).
Needs root, FUSE and the Debian packages: skipped otherwise, required in CI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from fake_sysfs.kernel import lsa
from fake_sysfs.store import StateStore
from pycxl.ndctl.commands.labels import index_size
from tests import compat_v76
from tests import ndctl_compat_v76 as nd_compat
from tests.helpers import Result, run_cxl
from tests.nd_helpers import pmem_state, run_ndctl
from tests.oracle import require_oracle
from tests.test_daxctl_cmds import run_daxctl
from tests.test_fuse_mount import require_fuse
from tests.twin import without_mailbox_data, without_mailbox_errors
from tests.upstream_session import run_session

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
LISTING = ["-vvv", "-BPEMDRT", "-i"]

SESSION = [
    "ndctl create-namespace -m devdax -s 256M -n dax",
    "ndctl create-namespace -m fsdax -s 128M -n fs",
    "ndctl create-namespace -m sector -s 64M",
    "ndctl create-namespace -m raw -s 32M",
    "ndctl create-namespace",
    # The region is full now.
    "ndctl create-namespace -s 64M",
    "ndctl create-namespace -m devdax",
    "ndctl list -RNi -u",
    "daxctl list -RDM",
    "daxctl reconfigure-device -m system-ram dax0.0",
    "daxctl list -DM",
    # Its memory is online: the namespace stays.
    "ndctl disable-namespace namespace0.0",
    "ndctl destroy-namespace -f namespace0.0",
    "daxctl offline-memory dax0.0",
    "daxctl reconfigure-device -m devdax dax0.0",
    "ndctl disable-namespace namespace0.1",
    "ndctl destroy-namespace namespace0.2",
    "ndctl destroy-namespace -f all",
    "ndctl list -RNi",
    "ndctl create-namespace -m devdax",
    "ndctl create-namespace -s 64M",
    "ndctl list -BDRNi -v",
    "daxctl list -RDM",
]


def _pycxl(line: str, state: Path) -> Result:
    tool, *argv = shlex.split(line)
    if tool == "ndctl":
        return run_ndctl(argv, state)
    if tool == "daxctl":
        return run_daxctl(argv, state)
    return run_cxl(argv, {"FAKE_SYSFS_STATE": str(state)})


def _masked(data: bytes) -> bytes:
    return nd_compat.uuids(nd_compat.human_iset(data))


#: Where a 256-byte namespace label holds its random uuid, and its checksum (which covers
#: the uuid), as offsets in the label (ndctl-daxctl.md 7.4; v6.14 writes a CXL DIMM's
#: labels in the EFI v1.2 layout, whose uuid leads the label).
_LABEL_UUID, _LABEL_CHECKSUM = slice(0, 16), slice(248, 256)


def _masked_lsa(pages: dict[str, str], size: int) -> str:
    """A memdev's label area with each label's uuid and checksum zeroed: the index blocks
    and every other label byte are compared as written."""
    area = bytearray(size)
    for page, data in pages.items():
        start = int(page) * lsa.PAGE
        area[start : start + lsa.PAGE] = base64.b64decode(data)
    index, nslot = index_size(size, 256)
    for slot in range(nslot):
        label = 2 * index + slot * 256
        for part in (_LABEL_UUID, _LABEL_CHECKSUM):
            area[label + part.start : label + part.stop] = bytes(part.stop - part.start)
    return hashlib.sha256(area).hexdigest()


def _stored(state: Path) -> str:
    data = StateStore(state).load()[0].to_json()
    del data["log"], data["printed_once"]
    for mem in data["memdevs"].values():
        mem["lsa"] = _masked_lsa(mem["lsa"], mem["lsa_size"])
    return re.sub(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "UUID",
        json.dumps(data, sort_keys=True),
    )


def test_memory_session_twins(tmp_path: Path) -> None:
    require_oracle()
    require_fuse()
    ours = pmem_state(tmp_path / "ours", tmp_path)
    theirs = pmem_state(tmp_path / "theirs", tmp_path)
    v76_listing = compat_v76.command_lines(LISTING)
    assert v76_listing is not None
    upstream_lines = [shlex.split(line) for line in SESSION]
    upstream_lines.append(["cxl", "list", *v76_listing[1]])
    upstream = run_session(upstream_lines, theirs, tmp_path / "upstream-out")

    for line, up in zip(SESSION, upstream, strict=False):
        mine = _pycxl(line, ours)
        assert (_masked(mine.out), _masked(mine.err), mine.rc) == (
            _masked(up.out),
            _masked(up.err),
            up.rc,
        ), line

    # v81 -vvv is v76.1 -vvv plus -F -X -L: pycxl runs the v76.1 meaning (compat_v76).
    mine = run_cxl(["list", *v76_listing[0]], {"FAKE_SYSFS_STATE": str(ours)})
    up = upstream[-1]
    assert mine.rc == up.rc == 0, (mine.err, up.err)
    assert without_mailbox_errors(compat_v76.stderr(mine.err)) == without_mailbox_errors(up.err)
    a, b = _masked(without_mailbox_data(mine.out)), _masked(without_mailbox_data(up.out))
    import difflib

    diff = list(difflib.unified_diff(b.decode().splitlines(), a.decode().splitlines(), lineterm=""))
    assert not diff, "\n".join(diff[:80])

    assert _stored(ours) == _stored(theirs)


@pytest.fixture(autouse=True)
def _no_log_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NDCTL_LOG", "DAXCTL_LOG", "CXL_LOG"):
        monkeypatch.delenv(name, raising=False)
