"""pycxl's ``ndctl`` on the emulated platform: listing, the namespace life cycle in every
mode, region enable/disable, and bad input (upstream's message and exit status, nothing
changed, ``fake-sysfs check`` still consistent).

Expected outputs are upstream's: the listing and every message below were checked against
Debian's ndctl 76.1 on an exported twin tree and on the FUSE-mounted live kernel (see
test_ndctl_conformance.py, which runs those comparisons where the oracle exists), the JSON
shapes and write sequences against ndctl-daxctl.md 3-6.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.check import check
from fake_sysfs.kernfs.view import View
from fake_sysfs.store import StateStore
from tests.helpers import Result, environment
from tests.nd_helpers import pmem_state, run_ndctl

MiB = 1 << 20
UUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ndctl-template")


@pytest.fixture
def state(tmp_path: Path, template_root: Path) -> Path:
    return pmem_state(tmp_path, template_root)


def ok(state: Path, *argv: str) -> Any:
    result = run_ndctl(list(argv), state)
    assert result.rc == 0, result.err.decode()
    return json.loads(result.out) if result.out else None


def kernel_json(state: Path) -> dict[str, Any]:
    data = StateStore(state).load()[0].to_json()
    del data["log"]
    del data["printed_once"]
    return data


def consistent(state: Path) -> None:
    report = check(View(StateStore(state).load()[0]))
    assert report.problems == []


# -- list --------------------------------------------------------------------------------------


def test_list_of_a_fresh_pmem_region(state: Path) -> None:
    # As ndctl 76.1 prints it for the same tree (test_ndctl_conformance.py).
    found = ok(state, "list", "-BDRNi", "-v")
    assert found == [
        {
            "provider": "CXL",
            "dev": "ndbus0",
            "dimms": [
                {"dev": "nmem1", "id": "4", "security": "disabled"},
                {"dev": "nmem3", "id": "2", "security": "disabled"},
                {"dev": "nmem0", "id": "3", "security": "disabled"},
                {"dev": "nmem2", "id": "1", "security": "disabled"},
            ],
            "regions": [
                {
                    "dev": "region0",
                    "size": 1 << 30,
                    "align": 16 * MiB,
                    "available_size": 1 << 30,
                    "max_available_extent": 1 << 30,
                    "type": "pmem",
                    "numa_node": 0,
                    "target_node": 1,
                    "iset_id": found[0]["regions"][0]["iset_id"],
                    "mappings": [
                        {"dimm": "nmem0", "offset": 512 * MiB, "length": 512 * MiB, "position": 1},
                        {"dimm": "nmem2", "offset": 512 * MiB, "length": 512 * MiB, "position": 0},
                    ],
                    "persistence_domain": "memory_controller",
                    "namespaces": [
                        {
                            "dev": "namespace0.0",
                            "mode": "raw",
                            "size": 0,
                            "uuid": "00000000-0000-0000-0000-000000000000",
                            "sector_size": 512,
                            "state": "disabled",
                            "numa_node": 0,
                            "target_node": 1,
                        }
                    ],
                }
            ],
        }
    ]


def test_list_without_idle_hides_the_seed(state: Path) -> None:
    result = run_ndctl(["list"], state)
    assert (result.rc, result.out, result.err) == (0, b"", b"")


def test_list_human_single_region_is_a_bare_object(state: Path) -> None:
    result = run_ndctl(["list", "-R", "-u"], state)
    region = json.loads(result.out)
    assert region["size"] == "1024.00 MiB (1073.74 MB)"
    assert region["iset_id"].startswith("0x")


# -- create-namespace --------------------------------------------------------------------------


def test_create_fsdax_then_destroy(state: Path) -> None:
    created = ok(state, "create-namespace", "-r", "region0", "-s", "256M", "-u", UUID)
    assert created["dev"] == "namespace0.0"
    assert {k: v for k, v in created.items() if k != "uuid"} == {
        "dev": "namespace0.0",
        "mode": "fsdax",
        "map": "dev",
        "size": 262144000,
        "sector_size": 512,
        "align": 2097152,
        "blockdev": "pmem0",
    }
    # The JSON names the pfn's uuid; the namespace's own is raw_uuid (-v).
    listed = ok(state, "list", "-n", "namespace0.0", "-v")
    assert listed[0]["raw_uuid"] == UUID
    consistent(state)
    busy = run_ndctl(["destroy-namespace", "namespace0.0"], state)
    assert busy.rc == 240
    assert busy.err == (
        b"  Error: namespace0.0 is active, specify --force for re-configuration\n\n"
        b"error destroying namespaces: Device or resource busy\n"
        b"destroyed 0 namespaces\n"
    )
    gone = run_ndctl(["destroy-namespace", "-f", "namespace0.0"], state)
    assert (gone.rc, gone.err) == (0, b"destroyed 1 namespace\n")
    assert ok(state, "list") is None
    region = ok(state, "list", "-R")[0]
    assert region["available_size"] == 1 << 30
    consistent(state)


def test_create_devdax(state: Path) -> None:
    created = ok(state, "create-namespace", "-m", "devdax", "-s", "128M", "-n", "mydax")
    assert created["mode"] == "devdax"
    assert created["daxregion"] == {
        "id": 0,
        "size": 130023424,
        "align": 2097152,
        "devices": [
            {
                "chardev": "dax0.0",
                "size": 130023424,
                "target_node": 1,
                "align": 2097152,
                "mode": "devdax",
            }
        ],
    }
    assert created["name"] == "mydax"
    listed = ok(state, "list")
    assert listed[0]["chardev"] == "dax0.0"
    consistent(state)


def test_create_sector_and_raw(state: Path) -> None:
    sector = ok(state, "create-namespace", "-m", "sector", "-s", "64M")
    assert (sector["mode"], sector["sector_size"], sector["blockdev"]) == ("sector", 4096, "pmem0s")
    raw = ok(state, "create-namespace", "-m", "raw", "-s", "32M")
    assert raw["dev"] == "namespace0.1"
    assert (raw["mode"], raw["size"], raw["blockdev"]) == ("raw", 32 * MiB, "pmem0.1")
    consistent(state)


def test_create_continue_fills_the_region_then_no_space(state: Path) -> None:
    first = run_ndctl(["create-namespace", "-c"], state)
    assert first.rc == 0
    assert first.err == b"created 1 namespace\n"
    assert json.loads(first.out)["blockdev"] == "pmem0"
    full = run_ndctl(["create-namespace", "-r", "region0"], state)
    assert (full.rc, full.err) == (237, b"failed to create namespace: No space left on device\n")
    none = run_ndctl(["create-namespace"], state)
    assert none.err == b"failed to create namespace: No such device or address\n"


def test_write_sequence_of_fsdax_create(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ndctl-daxctl.md 4.4 (captured with strace from upstream v81).
    from pycxl.sysfs.emulated import EmulatedSysfs

    writes: list[tuple[str, bytes]] = []
    real = EmulatedSysfs.write

    def record(self: EmulatedSysfs, path: str, data: bytes) -> None:
        writes.append((path.rpartition("/region0/")[2] or path, data))
        real(self, path, data)

    monkeypatch.setattr(EmulatedSysfs, "write", record)
    ok(state, "create-namespace", "-r", "region0", "-s", "256M", "-u", UUID)
    names = list(writes)
    assert [p for p, _ in names[:9]] == [
        "namespace0.0/uuid",
        "namespace0.0/alt_name",
        "namespace0.0/size",
        "namespace0.0/sector_size",
        "namespace0.0/holder_class",
        "pfn0.0/uuid",
        "pfn0.0/mode",
        "pfn0.0/align",
        "pfn0.0/namespace",
    ]
    # Then util_bind: every nd driver's bind in readdir order, until nd_pmem takes it.
    binds = [p for p, _ in names[9:]]
    assert binds[-1] == "/sys/bus/nd/drivers/nd_pmem/bind"
    assert all(p.startswith("/sys/bus/nd/drivers/") and p.endswith("/bind") for p in binds)
    assert {d for p, d in names[9:]} == {b"pfn0.0\0"}
    values = dict(names)
    assert values["namespace0.0/uuid"] == f"{UUID}\0".encode()
    assert values["namespace0.0/alt_name"] == b"\0"
    assert values["namespace0.0/size"] == b"0x10000000\n\0"
    assert values["namespace0.0/sector_size"] == b"512\n\0"
    assert values["namespace0.0/holder_class"] == b"pfn\0"
    assert values["pfn0.0/mode"] == b"pmem\0"
    assert values["pfn0.0/align"] == b"2097152\n\0"
    assert values["pfn0.0/namespace"] == b"namespace0.0\0"


def test_reconfigure_through_every_mode(state: Path) -> None:
    ok(state, "create-namespace", "-s", "256M", "-n", "hello")
    busy = run_ndctl(["create-namespace", "-e", "namespace0.0", "-m", "devdax"], state)
    assert (busy.rc, busy.err) == (
        240,
        b"  Error: namespace0.0 is active, specify --force for re-configuration\n\n"
        b"failed to reconfigure namespace: Device or resource busy\n",
    )
    for mode, size in (("devdax", 262144000), ("sector", None), ("raw", 256 * MiB)):
        found = ok(state, "create-namespace", "-e", "namespace0.0", "-m", mode, "-f")
        # Same namespace, same name and capacity; a new uuid each time (4.7).
        assert (found["dev"], found["mode"], found["name"]) == ("namespace0.0", mode, "hello")
        if size is not None:
            assert found["size"] == size
    consistent(state)


def test_devdax_memory_online_as_system_ram_cannot_be_disabled(state: Path) -> None:
    # ndctl-daxctl.md 5.3: disable-safe refuses a dax device with online memory blocks.
    from pycxl.daxctl.main import run as daxctl

    ok(state, "create-namespace", "-m", "devdax", "-s", "256M")
    with environment({"FAKE_SYSFS_STATE": str(state)}):
        rc = daxctl(["reconfigure-device", "-m", "system-ram", "dax0.0"])
    assert rc == 0
    busy = run_ndctl(["disable-namespace", "namespace0.0"], state)
    assert (busy.rc, busy.err) == (
        240,
        b"error disabling namespaces: Device or resource busy\ndisabled 0 namespaces\n",
    )
    region = run_ndctl(["disable-region", "region0"], state)
    assert (region.rc, region.err) == (0, b"disabled 0 regions\n")
    consistent(state)


# -- enable / disable --------------------------------------------------------------------------


def test_disable_enable_namespace_and_region(state: Path) -> None:
    ok(state, "create-namespace", "-s", "256M")
    off = run_ndctl(["disable-namespace", "namespace0.0"], state)
    assert (off.rc, off.err) == (0, b"disabled 1 namespace\n")
    assert ok(state, "list", "-n", "0.0", "-i")[0]["state"] == "disabled"
    on = run_ndctl(["enable-namespace", "namespace0.0"], state)
    assert (on.rc, on.err) == (0, b"enabled 1 namespace\n")
    assert ok(state, "list")[0]["mode"] == "fsdax"
    region_off = run_ndctl(["disable-region", "all"], state)
    assert (region_off.rc, region_off.err) == (0, b"disabled 1 region\n")
    assert ok(state, "list", "-Ri")[0]["state"] == "disabled"
    consistent(state)
    region_on = run_ndctl(["enable-region", "region0"], state)
    assert (region_on.rc, region_on.err) == (0, b"enabled 1 region\n")
    # The labels and the info block bring the fsdax namespace back.
    back = ok(state, "list")
    assert [(n["dev"], n["mode"], n["size"]) for n in back] == [
        ("namespace0.0", "fsdax", 262144000)
    ]
    consistent(state)


# -- bad input: upstream's words and status, nothing changed -----------------------------------

BAD_INPUT = [
    (["list", "-m", "foo"], 234, b"  Error: invalid mode: 'foo'\n\n"),
    (["list", "-t", "foo"], 234, b'  Error: unknown type "foo" must be "pmem" or "blk"\n\n'),
    (["create-namespace", "-s", "100M"], 234, None),
    (["create-namespace", "-s", "8M", "-m", "fsdax"], 234, None),
    (
        ["create-namespace", "-s", "2G"],
        237,
        b"failed to create namespace: No space left on device\n",
    ),
    (
        ["create-namespace", "-r", "5"],
        237,
        b"failed to create namespace: No such device or address\n",
    ),
    (["create-namespace", "-m", "raw", "-a", "2M"], 237, None),
    # x86-64 pfn devices support 1 GiB (nd_pfn_supported_alignments()): 32M does not align.
    (["create-namespace", "-s", "32M", "-a", "1G"], 234, None),
    (["create-namespace", "-l", "999"], 234, None),
    (["create-namespace", "-m", "sector", "-l", "999"], 234, None),
    (["create-namespace", "-n", "x" * 70], 234, None),
    (["create-namespace", "-e", "namespace9.9"], 250, None),
    (["create-namespace", "-u", "xyz"], 129, None),
    (["create-namespace", "-m", "foo"], 129, None),
    (["create-namespace", "-a", "3"], 129, None),
    (["create-namespace", "extra"], 129, None),
    (["destroy-namespace"], 129, None),
    (["destroy-namespace", "a", "b"], 129, None),
    (["destroy-namespace", "namespace9.9"], 250, None),
    (["enable-namespace"], 129, None),
    (["disable-namespace", "namespace9.9"], 250, None),
    (["enable-region"], 129, None),
    (["disable-region", "-t", "foo", "all"], 129, None),
    (["enable-region", "region7"], 0, b"enabled 0 regions\n"),
    (["frobnicate"], 1, b"Unknown command: 'frobnicate'\n"),
]


@pytest.mark.parametrize(("argv", "rc", "err"), BAD_INPUT, ids=lambda v: str(v))
def test_bad_input(state: Path, argv: list[str], rc: int, err: bytes | None) -> None:
    before = kernel_json(state)
    result = run_ndctl(argv, state)
    assert result.rc == rc, result.err
    if err is not None:
        assert result.err == err
    assert b"Traceback" not in result.err
    assert kernel_json(state) == before
    consistent(state)


def test_misaligned_size_message(state: Path) -> None:
    result = run_ndctl(["create-namespace", "-s", "100M"], state)
    assert result.err == (
        b"  Error: create namespace: region0: align setting is 0x1000000 size 0x6400000"
        b" is misaligned\n\n"
    )


# -- labels ------------------------------------------------------------------------------------


def test_labels_live_in_the_label_storage_area(state: Path) -> None:
    # Before any namespace the areas hold no index: nothing to verify.
    none = run_ndctl(["check-labels", "nmem0"], state)
    assert (none.rc, none.err) == (1, b"successfully verified 0 nmem label\n")
    ok(state, "create-namespace", "-s", "256M", "-n", "hello", "-u", UUID)
    checked = run_ndctl(["check-labels", "all"], state)
    # nmem0 and nmem2 are the region's; nmem1 and nmem3 hold no labels.
    assert (checked.rc, checked.err) == (0, b"successfully verified 2 nmem labels\n")
    index = run_ndctl(["read-labels", "nmem2", "-I", "-j"], state)
    blocks = json.loads(index.out)[0]["index"]
    # nd_label_write_index() writes version 1.2 for 256-byte labels, CXL's included.
    assert [(b["signature"], b["major"], b["minor"], b["labelsize"]) for b in blocks] == [
        ("NAMESPACE_INDEX", 1, 2, 256)
    ] * 2
    assert {b["seq"] for b in blocks} <= {1, 2, 3}
    # The label slots follow the two 128 KiB index blocks of a 256 MiB area. The label
    # update is two passes (nd_pmem_namespace_label_update): slot 0 takes the UPDATING
    # copy, slot 1 the final label (flags 0), and slot 0 is freed. v6.14 writes a CXL
    # DIMM's labels in the EFI v1.2 layout: the namespace's uuid, then its name.
    # (Read from 0: libndctl v81's --offset arithmetic fails past the first 4 KiB; see
    # pycxl.ndctl.config_data and test_ndctl_labels_cmds.py.)
    whole = run_ndctl(["read-labels", "nmem2", "-s", str(2 * 256 + (256 << 10))], state)
    assert whole.err == b"read 1 nmem\n"
    raw = Result(whole.out[(256 << 10) + 256 :], whole.err, whole.rc)
    assert raw.out[:16] == bytes.fromhex(UUID.replace("-", ""))
    assert raw.out[16:22] == b"hello\0"
    assert int.from_bytes(raw.out[80:84], "little") == 0  # flags
    assert int.from_bytes(raw.out[120:124], "little") == 1  # slot
    updating = whole.out[256 << 10 : (256 << 10) + 256]
    assert int.from_bytes(updating[80:84], "little") == 0x8  # NSLABEL_FLAG_UPDATING
    # ndctl decodes them as such, every slot whose slot field matches (the free bitmap
    # is not consulted): the stale UPDATING copy and the label, position 0 of 2.
    shown = json.loads(run_ndctl(["read-labels", "nmem2", "-j"], state).out)[0]["label"]
    assert [(lb["uuid"], lb["name"], lb["nlabel"], lb["position"], lb["slot"]) for lb in shown] == [
        (UUID, "hello", 2, 0, 0),
        (UUID, "hello", 2, 0, 1),
    ]
    assert [lb["flags"] for lb in shown] == [8, 0]
