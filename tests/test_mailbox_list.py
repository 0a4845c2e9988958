"""``cxl list -H -I -A -F`` on the emulated type-3 devices: golden JSON.

The expected objects are the worked examples of specs/mailbox.md §3.1 (a freshly loaded
cxl_test ``mem0``) and §3.2 (the QEMU documentation's persistent device, captured from a
real guest), kept verbatim in tests/data/mailbox. Where each value comes from:

* cxl_test: Get Health Info's record (health 0x07, media 0x03 = data lost, additional
  status 0x18 = temperature critical + corrected volatile warning, life 15 %, 25 °C,
  counters 10/20/30); Identify (8 units total, alignment 1 unit = 256 MiB, nothing volatile-
  or persistent-only); Get Partition Info (4 + 4 units active, nothing pending); Get FW Info
  (3 slots, slot 2 active, revisions cxl_test_fw_00N, no online activation); the firmware
  loader's ``status`` (idle). Get Alert Configuration is not in the mock's CEL: ENOTTY, and
  the key is left out silently.
* QEMU: Get Health Info is unsupported (ENOTTY, no key); the alert defaults 75/40/35/10/25/20;
  Identify reports the capacity as persistent-only with alignment 0, so Get Partition Info
  is never sent; 2 firmware slots, slot 1 ``BWFW VERSION 0``, online activation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_sysfs.platform.presets import load_preset
from fake_sysfs.platform.qemu import parse_qemu
from fake_sysfs.store import Origin, StateStore
from tests.helpers import DATA, Result, run_cxl

GOLDEN = DATA / "mailbox"

#: The QEMU documentation's example: 256 MiB persistent memory, a 256 MiB LSA, no ``sn``.
QEMU_DOCS = " ".join(
    [
        "qemu-system-x86_64 -machine q35,cxl=on -m 4G,maxmem=8G,slots=8",
        "-object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M",
        "-object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M",
        "-device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1",
        "-device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2",
        "-device cxl-type3,bus=root_port13,persistent-memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0",
        "-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",
    ]
)


def init_preset(state: Path, preset: str) -> Path:
    StateStore(state, create=True).init(load_preset(preset), Origin("preset", preset), True)
    return state


def init_qemu(state: Path, cmdline: str) -> Path:
    StateStore(state, create=True).init(parse_qemu(cmdline), Origin("qemu", cmdline), True)
    return state


def cxl(state: Path, *args: str) -> Result:
    return run_cxl(list(args), {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None})


@pytest.fixture(scope="module")
def cxl_test(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_preset(tmp_path_factory.mktemp("cxl_test") / "state", "cxl_test")


@pytest.fixture(scope="module")
def qemu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_qemu(tmp_path_factory.mktemp("qemu") / "state", QEMU_DOCS)


def test_cxl_test_memdev(cxl_test: Path) -> None:
    r = cxl(cxl_test, "list", "-m", "mem0", "-H", "-I", "-A", "-F")
    assert (r.out.decode(), r.err, r.rc) == ((GOLDEN / "cxl_test-mem0.json").read_text(), b"", 0)


def test_cxl_test_memdev_human(cxl_test: Path) -> None:
    """§3.1's ``-u`` variant: the single element unwrapped, the non-zero partition sizes in
    human form, the serial as a hex string; health and firmware values unchanged."""
    plain = (GOLDEN / "cxl_test-mem0.json").read_text()
    lines = plain.splitlines()[1:-1]  # unwrap
    expected = "\n".join(line[2:] for line in lines) + "\n"
    for key, value in [
        ("pmem_size", '"1024.00 MiB (1073.74 MB)"'),
        ("ram_size", '"1024.00 MiB (1073.74 MB)"'),
        ("serial", '"0"'),
        ("total_size", '"2.00 GiB (2.15 GB)"'),
        ("partition_alignment_size", '"256.00 MiB (268.44 MB)"'),
        ("active_volatile_size", '"1024.00 MiB (1073.74 MB)"'),
        ("active_persistent_size", '"1024.00 MiB (1073.74 MB)"'),
    ]:
        before = expected
        expected = (
            "\n".join(
                line.split(":", 1)[0] + ":" + value + ("," if line.endswith(",") else "")
                if line.strip().startswith(f'"{key}":')
                else line
                for line in expected.splitlines()
            )
            + "\n"
        )
        assert expected != before, key
    r = cxl(cxl_test, "list", "-m", "mem0", "-H", "-I", "-A", "-F", "-u")
    assert (r.out.decode(), r.err, r.rc) == (expected, b"", 0)


def test_cxl_test_rcd_partition_info(cxl_test: Path) -> None:
    """§3.1: the RCD's capacity is volatile-only and not partitionable (alignment 0: only
    the four Identify keys)."""
    r = cxl(cxl_test, "list", "-m", "cxl_rcd.10", "-I")
    text = r.out.decode()
    assert (
        '"partition_info":{\n'
        '      "total_size":2147483648,\n'
        '      "volatile_only_size":2147483648,\n'
        '      "persistent_only_size":0,\n'
        '      "partition_alignment_size":0\n'
        "    }"
    ) in text, text
    assert r.err == b""


def test_qemu_memdev(qemu: Path) -> None:
    """§3.2 (captured with ndctl 84, the same keys as v81's here). The capture has no
    ``pmem_qos_class``: the emulated platform gives QEMU devices qos class 0 (a platform
    fact, not a mailbox one; see the report), so that one line is added."""
    expected = (GOLDEN / "qemu-mem0.json").read_text()
    expected = expected.replace(
        '"pmem_size":268435456,\n', '"pmem_size":268435456,\n    "pmem_qos_class":0,\n'
    )
    r = cxl(qemu, "list", "-m", "mem0", "-H", "-I", "-A", "-F")
    assert (r.out.decode(), r.err, r.rc) == (expected, b"", 0)


def test_vvv_turns_every_mailbox_key_on(cxl_test: Path) -> None:
    r = cxl(cxl_test, "list", "-m", "mem0", "-vvv")
    for key in ("health", "partition_info", "firmware"):
        assert f'"{key}":{{'.encode() in r.out, key
    assert b'"alert_config"' not in r.out


def test_qemu_volatile_and_persistent_device(tmp_path: Path) -> None:
    """§3.2: a 256 MiB vmem + 256 MiB pmem QEMU device reports each capacity as only
    volatile or only persistent, alignment 0 (the generated scale presets' devices are
    such)."""
    state = init_preset(tmp_path / "state", "scale:1x1")
    r = cxl(state, "list", "-m", "mem0", "-I")
    assert (
        '"partition_info":{\n'
        '      "total_size":536870912,\n'
        '      "volatile_only_size":268435456,\n'
        '      "persistent_only_size":268435456,\n'
        '      "partition_alignment_size":0\n'
        "    }"
    ) in r.out.decode()


# -- -L: media errors --------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "golden"), [("cxl_test", "cxl_test"), ("qemu", "qemu")])
def test_media_errors_key_absent_without_poison(
    request: pytest.FixtureRequest, fixture: str, golden: str
) -> None:
    """cxl-cli.md §3.3 key 15: ``media_errors`` only with at least one record; both
    devices start without poison, so -L leaves the golden objects as they are."""
    state = request.getfixturevalue(fixture)
    plain = cxl(state, "list", "-m", "mem0", "-H", "-I", "-A", "-F")
    with_l = cxl(state, "list", "-m", "mem0", "-H", "-I", "-A", "-F", "-L")
    assert (with_l.out, with_l.err, with_l.rc) == (plain.out, b"", 0)


def test_media_errors_worked_example(tmp_path: Path) -> None:
    """mailbox.md §2.8's example: a cxl_test memdev with no committed decoder, poisoned at
    0x40000000 then 0x0 (debugfs ``inject_poison``), lists both records in the kernel's
    emission order, pmem range first: DPA offsets, 64 bytes each, source Injected; with
    ``-u`` the offsets in hex. The key is the memdev's last (§3.3, key 15)."""
    from pycxl.sysfs.emulated import EmulatedSysfs
    from tests.helpers import environment

    state = init_preset(tmp_path / "state", "cxl_test")
    name = _idle_memdev(state)
    with environment({"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}):
        s = EmulatedSysfs()
        for dpa in (b"0x40000000\n", b"0x0\n"):
            s.write(f"/sys/kernel/debug/cxl/{name}/inject_poison", dpa)
        s.close()
    r = cxl(state, "list", "-m", name, "-L")
    assert r.rc == 0 and r.err == b"", r.err
    obj = json.loads(r.out)[0]
    assert list(obj)[-1] == "media_errors"
    assert obj["media_errors"] == [
        {"offset": 1073741824, "length": 64, "source": "Injected"},
        {"offset": 0, "length": 64, "source": "Injected"},
    ]
    r = cxl(state, "list", "-m", name, "-L", "-u")
    human = json.loads(r.out)
    assert [e["offset"] for e in human["media_errors"]] == ["0x40000000", "0"]


def _idle_memdev(state: Path) -> str:
    """A memdev with persistent capacity whose endpoint has no committed decoder (none of
    cxl_test's auto region)."""
    for endpoint in json.loads(cxl(state, "list", "-E", "-i").out):
        name = str(endpoint["host"])
        idle = endpoint.get("decoders_committed") == 0 and name.startswith("mem")
        if idle and "pmem_size" in json.loads(cxl(state, "list", "-m", name).out)[0]:
            return name
    raise AssertionError("cxl_test has no idle memdev")
