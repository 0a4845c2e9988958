"""kernfs semantics of the emulated /sys (kernel-sysfs.md section 0), its readdir order, the
in-process frontend and the export frontend."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from fake_sysfs.errors import StateError
from fake_sysfs.frontends.export import export
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.kernfs.order import kernfs_name_hash, kernfs_sorted
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests.kernel_helpers import (
    CXL,
    errno_of,
    fresh_kernel,
    kind,
    mode,
    shared_view,
    uevent_vars,
    value,
    walk,
)
from tests.kernfs_reference import reference_hash, reference_sorted

# == readdir order ===========================================================================

#: Values worked out from the algorithm. "a": (97*16 + 97//16) * 11 = 17138, and
#: 17138 * GOLDEN_RATIO_64 mod 2^64 >> 32 = 0x222d1bd4. The empty name hashes to 0, which
#: is reserved, so it becomes 2.
KNOWN_HASHES = {
    "": 2,
    "a": 0x222D1BD4,
    "dport0": 1679408482,
    "dport1": 502664666,
    "root0": 21850222,
    "uevent": 45078383,
    "mem0": 1939910683,
    "decoder0.0": 732859822,
    "subsystem": 1429880257,
    "modalias": 2099233685,
    # Two names with the same hash (the per-byte sums coincide).
    "aaal": 1852742713,
    "aaba": 1852742713,
}


@pytest.mark.parametrize("name", sorted(KNOWN_HASHES))
def test_kernfs_name_hash_known_values(name: str) -> None:
    assert reference_hash(name) == KNOWN_HASHES[name]
    assert kernfs_name_hash(name) == KNOWN_HASHES[name]


def test_kernfs_sorted_order() -> None:
    # The oracle notes: a real readdir lists dport1 before dport0.
    assert kernfs_sorted(["dport0", "dport1"]) == ["dport1", "dport0"]
    # Equal hashes fall back to the name.
    assert kernfs_sorted(["aaba", "aaal"]) == ["aaal", "aaba"]
    assert kernfs_sorted(["aaal", "aaba"]) == ["aaal", "aaba"]
    names = ["uevent", "root0", "a", "mem0", "decoder0.0", "subsystem", "modalias"]
    assert kernfs_sorted(names) == [
        "root0",
        "uevent",
        "a",
        "decoder0.0",
        "subsystem",
        "mem0",
        "modalias",
    ]
    assert kernfs_sorted([]) == []


def test_kernfs_sorted_matches_reference_on_many_names() -> None:
    prefixes = ("memory", "decoder3.", "dport", "endpoint", "nmem")
    names = [f"{p}{i}" for p in prefixes for i in range(300)]
    assert kernfs_sorted(names) == reference_sorted(names)
    assert [kernfs_name_hash(n) for n in names] == [reference_hash(n) for n in names]


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-switch"])
def test_every_listing_is_in_kernfs_order(preset: str) -> None:
    view = shared_view(preset)
    count = 0
    for path, what in [("/sys", "dir"), *walk(view, "/sys")]:
        if what == "dir":
            names = view.listdir(path)
            assert names == reference_sorted(names), path
            assert len(set(names)) == len(names), path
            count += 1
    assert count > 100


def test_scan_is_a_filtered_listing() -> None:
    view = shared_view("cxl_test")
    for prefix in ("decoder", "mem", "port", "endpoint", "root", "x"):
        assert view.scan(CXL, prefix) == [n for n in view.listdir(CXL) if n.startswith(prefix)]


# == lookups agree with listings ==============================================================


def snapshot(view: View) -> dict[str, tuple[str, bytes | str | int | None]]:
    """Every path below /sys with what a fresh lookup should find there."""
    found: dict[str, tuple[str, bytes | str | int | None]] = {}
    for path, what in walk(view, "/sys"):
        if what == "link":
            found[path] = (what, view.readlink(path))
        elif what == "dir":
            found[path] = (what, None)
        else:
            try:
                found[path] = (what, view.read(path))
            except OSError as e:
                found[path] = (what, e.errno)
    return found


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed"])
def test_direct_lookups_agree_with_listings(preset: str) -> None:
    # A path resolved on a fresh view (no directory listed yet) finds exactly what a
    # listing shows: same kind, same value, same link text.
    kernel = fresh_kernel(preset)
    expected = snapshot(View(kernel))
    for path, (what, content) in expected.items():
        view = View(kernel)
        assert kind(view, path) == what, path
        if what == "link":
            assert view.readlink(path) == content, path
        elif what == "file":
            try:
                got: bytes | int = view.read(path)
            except OSError as e:
                got = e.errno or 0
            assert got == content, path


HIDDEN_CANDIDATES = [
    "driver",
    "parent_dport",
    "trigger_poison_list",
    "create_pmem_region",
    "create_ram_region",
    "delete_region",
    "region",
    "target_list",
    "target_type",
    "mode",
    "dpa_size",
    "dpa_resource",
    "cap_ram",
    "qos_class",
    "CDAT",
    "devtype",
    "modalias",
    "uuid",
    "target2",
    "pmem10",
    "nonexistent",
]


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-pmem"])
def test_direct_lookup_of_hidden_names_fails_enoent(preset: str) -> None:
    # 0.3: attributes hidden by is_visible (or absent for the device type) do not exist.
    kernel = fresh_kernel(preset)
    listed = View(kernel)
    for device in listed.listdir(CXL):
        present = set(listed.listdir(f"{CXL}/{device}"))
        for name in HIDDEN_CANDIDATES:
            if name in present:
                continue
            view = View(kernel)
            assert errno_of(view.lstat, f"{CXL}/{device}/{name}") == errno.ENOENT, (device, name)
            assert errno_of(view.read, f"{CXL}/{device}/{name}") == errno.ENOENT


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed"])
def test_driver_directories_hold_only_their_bound_devices(preset: str) -> None:
    # A driver directory is looked up entry by entry (a store to bind must not draw a link
    # for every device of the bus): a device of the bus that another driver (or none)
    # holds is no entry of it, a bound one is a link to its device, and unbinding
    # takes it away at once.
    kernel = fresh_kernel(preset)
    listed = View(kernel)
    drivers = "/sys/bus/cxl/drivers"
    devices = listed.listdir("/sys/bus/cxl/devices")
    checked = 0
    for driver in listed.listdir(drivers):
        present = set(listed.listdir(f"{drivers}/{driver}"))
        for device in devices:
            view = View(kernel)
            if device in present:
                assert view.readlink(f"{drivers}/{driver}/{device}") == listed.readlink(
                    f"{drivers}/{driver}/{device}"
                )
                checked += 1
            else:
                assert errno_of(view.lstat, f"{drivers}/{driver}/{device}") == errno.ENOENT
    assert checked > 0
    View(kernel).write(f"{drivers}/cxl_mem/unbind", b"mem0")
    assert errno_of(View(kernel).lstat, f"{drivers}/cxl_mem/mem0") == errno.ENOENT
    assert "mem0" not in View(kernel).listdir(f"{drivers}/cxl_mem")


# == errors and permissions (0.2, 0.3) ========================================================


def test_read_of_write_only_file_is_eacces() -> None:
    view = shared_view("cxl_test")
    for path in (
        "/sys/bus/cxl/flush",
        f"{CXL}/decoder0.0/delete_region",
        f"{CXL}/mem0/security/sanitize",
        "/sys/bus/cxl/drivers/cxl_port/bind",
    ):
        assert mode(view, path) == 0o200
        assert errno_of(view.read, path) == errno.EACCES, path


def test_read_many_reports_errors_per_file() -> None:
    view = shared_view("cxl_test")
    d = f"{CXL}/decoder0.0"
    results = view.read_many(d, ["size", "delete_region", "nope", "interleave_ways"])
    assert results[0] == view.read(f"{d}/size")
    assert isinstance(results[1], OSError) and results[1].errno == errno.EACCES
    assert isinstance(results[2], OSError) and results[2].errno == errno.ENOENT
    assert results[3] == b"1\n"


@pytest.mark.parametrize(
    "path",
    [
        f"{CXL}/decoder0.0/size",
        f"{CXL}/decoder0.0/start",  # 0400: no write bit either
        f"{CXL}/mem0/serial",
        f"{CXL}/root0/decoders_committed",
        f"{CXL}/region0/uuid",  # read-only for a ram region
        "/sys/devices/system/memory/block_size_bytes",
    ],
)
def test_write_to_file_without_write_bit_is_eacces(path: str) -> None:
    # 0.3: open for writing fails with EACCES even for root; the size check comes after.
    view = View(fresh_kernel("cxl_test"))
    before = view.read(path)
    assert errno_of(view.write, path, b"1\n") == errno.EACCES
    assert errno_of(view.write, path, b"1" * 5000) == errno.EACCES
    assert view.read(path) == before


def test_writes_over_a_page_are_e2big() -> None:
    # 0.2: at most one page (4096 bytes) per write.
    view = View(fresh_kernel("cxl_test"))
    flush = "/sys/bus/cxl/flush"
    assert errno_of(view.write, flush, b"1" + b"\0" * 4096) == errno.E2BIG
    assert errno_of(view.write, flush, b"1\n" * 4000) == errno.E2BIG
    assert errno_of(view.write, f"{CXL}/root0/uevent", b"add" + b" " * 5000) == errno.E2BIG
    # Exactly a page is fine: the value ends at the first NUL.
    assert view.write(flush, b"1" + b"\0" * 4095) == 4096


def test_missing_paths() -> None:
    view = shared_view("cxl_test")
    assert errno_of(view.read, f"{CXL}/root0/nope") == errno.ENOENT
    assert errno_of(view.read, f"{CXL}/nothing/uevent") == errno.ENOENT
    assert errno_of(view.listdir, "/sys/bus/cxl/devices/endpoint99") == errno.ENOENT
    assert errno_of(view.lstat, "/sys/bus/nope") == errno.ENOENT
    assert errno_of(view.readlink, f"{CXL}/root0/dport9") == errno.ENOENT
    assert errno_of(view.realpath, "/proc/self") == errno.ENOENT
    assert errno_of(view.write, f"{CXL}/root0/nope", b"1") == errno.ENOENT


def test_not_a_directory_and_is_a_directory() -> None:
    view = shared_view("cxl_test")
    assert errno_of(view.read, "/sys/bus/cxl/flush/x") == errno.ENOTDIR
    assert errno_of(view.listdir, "/sys/bus/cxl/flush") == errno.ENOTDIR
    assert errno_of(view.lstat, f"{CXL}/mem0/serial/x") == errno.ENOTDIR
    assert errno_of(view.listdir, f"{CXL}/mem0/serial") == errno.ENOTDIR
    assert errno_of(view.read, f"{CXL}/root0") == errno.EISDIR
    assert errno_of(view.write, f"{CXL}/root0", b"1") == errno.EISDIR


def test_stat_types() -> None:
    view = shared_view("cxl_test")
    assert stat.S_ISLNK(view.lstat(f"{CXL}/root0").mode)
    assert stat.S_ISDIR(view.stat(f"{CXL}/root0").mode)
    assert stat.S_ISREG(view.stat(f"{CXL}/root0/uevent").mode)
    assert stat.S_ISDIR(view.stat("/sys").mode)
    assert stat.S_ISLNK(view.lstat(f"{CXL}/root0/subsystem").mode)
    assert stat.S_ISDIR(view.stat(f"{CXL}/root0/subsystem").mode)
    assert view.stat(f"{CXL}/decoder0.0/start").mode & 0o7777 == 0o400


# == links (0.4, 1.5) =========================================================================


def test_readlink_text_is_relative_like_sysfs() -> None:
    view = shared_view("cxl_test")
    root = "/sys/devices/platform/cxl_acpi.0/root0"
    assert view.readlink(f"{CXL}/root0") == "../../../devices/platform/cxl_acpi.0/root0"
    assert view.readlink(f"{CXL}/port1") == "../../../devices/platform/cxl_acpi.0/root0/port1"
    assert view.readlink(f"{root}/uport") == "../../cxl_acpi.0"
    assert view.readlink(f"{root}/subsystem") == "../../../../bus/cxl"
    assert view.readlink(f"{root}/port1/driver") == "../../../../../bus/cxl/drivers/cxl_port"
    assert view.readlink("/sys/bus/cxl/drivers/cxl_port/port1") == (
        "../../../../devices/platform/cxl_acpi.0/root0/port1"
    )
    # Up to the first ancestor holding the target's parent, then down: self links, links
    # to a parent, links across the tree.
    assert view.readlink("/sys/devices/platform/cxl_host_bridge.0/physical_node") == (
        "../cxl_host_bridge.0"
    )
    assert view.readlink("/sys/devices/platform/cxl_host_bridge.3/firmware_node") == (
        "../cxl_host_bridge.3"
    )
    # The class device sits in the ``nd`` glue directory (3.4.1, seen on a real kernel).
    assert view.readlink(f"{root}/nvdimm-bridge0/ndbus0/nd/ndctl0/device") == "../../../ndbus0"
    assert view.readlink("/sys/class/nd/ndctl0") == (
        "../../devices/platform/cxl_acpi.0/root0/nvdimm-bridge0/ndbus0/nd/ndctl0"
    )
    assert view.readlink("/sys/devices/system/memory/memory7682/node0") == "../../node/node0"
    # The same link read through a path that crosses a symlink gives the same text.
    assert view.readlink(f"{CXL}/root0/uport") == "../../cxl_acpi.0"
    assert errno_of(view.readlink, f"{root}/uevent") == errno.EINVAL
    assert errno_of(view.readlink, root) == errno.EINVAL


def test_realpath_follows_links_and_dotdot() -> None:
    view = shared_view("cxl_test")
    mem0 = (
        "/sys/devices/platform/cxl_host_bridge.0/cxl_root_port.0/cxl_switch_uport.0"
        "/cxl_switch_dport.0/cxl_mem.0/mem0"
    )
    assert view.realpath(f"{CXL}/mem0") == mem0
    assert view.realpath(f"{CXL}/endpoint5/uport") == mem0
    # ".." after a link applies to the link's target, like the VFS.
    assert view.realpath(f"{CXL}/mem0/..") == mem0.rsplit("/", 1)[0]
    assert view.realpath(f"{CXL}/endpoint5/uport/../..") == mem0.rsplit("/", 2)[0]
    assert view.realpath(f"{CXL}/../devices/root0") == "/sys/devices/platform/cxl_acpi.0/root0"
    assert view.realpath(f"{CXL}/root0/./port1") == "/sys/devices/platform/cxl_acpi.0/root0/port1"
    assert view.realpath(f"{CXL}/endpoint5/uport/driver") == "/sys/bus/cxl/drivers/cxl_mem"
    assert view.realpath("/sys/") == "/sys"
    assert view.read(f"{CXL}/endpoint5/uport/serial") == b"0x0\n"
    assert "mem0" in view.listdir(f"{CXL}/mem0/..")


# == bus/cxl/flush and uevent stores (0.2, 1.1) ==============================================


@pytest.mark.parametrize("data", [b"1", b"1\n", b"1\0", b"1\n\0"])
def test_flush_accepts_one(data: bytes) -> None:
    view = View(fresh_kernel("cxl_test"))
    assert view.write("/sys/bus/cxl/flush", data) == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"0",
        b"2",
        b"11",
        b"yes",
        b"0x1",
        b"\n",
        b"1\n1",
        b" 1",
        b"1 ",
        b"1\n\n",
        b"\t1\n",
    ],
)
def test_flush_refuses_anything_else(data: bytes) -> None:
    view = View(fresh_kernel("cxl_test"))
    assert errno_of(view.write, "/sys/bus/cxl/flush", data) == errno.EINVAL


@pytest.mark.parametrize("data", [b"add", b"change\n", b"add\0", b"online"])
def test_uevent_store_synthesizes_without_changing_anything(data: bytes) -> None:
    # 0.4: uevent is RW; a write synthesizes an event and leaves the device as it was.
    view = View(fresh_kernel("cxl_test"))
    for device in ("root0", "port1", "mem0", "decoder0.0", "region0"):
        path = f"{CXL}/{device}/uevent"
        assert mode(view, path) == 0o644
        before = uevent_vars(view, f"{CXL}/{device}")
        assert view.write(path, data) == len(data)
        assert uevent_vars(view, f"{CXL}/{device}") == before


# == the in-process frontend ==================================================================


@pytest.fixture
def cxl_test_store(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state")
    store.init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=False)
    return store


def file_identity(path: Path) -> tuple[int, int, bytes]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


def test_inprocess_reads_the_stored_state(cxl_test_store: StateStore) -> None:
    frontend = InProcess(cxl_test_store)
    assert value(frontend.view, f"{CXL}/decoder0.0/create_ram_region") == "region6"
    assert frontend.view.realpath(f"{CXL}/root0") == "/sys/devices/platform/cxl_acpi.0/root0"


def test_inprocess_validating_writes_do_not_touch_the_state(cxl_test_store: StateStore) -> None:
    frontend = InProcess(cxl_test_store)
    before = file_identity(cxl_test_store.file)
    assert frontend.write("/sys/bus/cxl/flush", b"1\n\0") == 3
    assert frontend.write(f"{CXL}/mem0/uevent", b"change\n") == 7
    assert errno_of(frontend.write, "/sys/bus/cxl/flush", b"0") == errno.EINVAL
    assert file_identity(cxl_test_store.file) == before


def test_inprocess_failed_store_changes_nothing(cxl_test_store: StateStore) -> None:
    # create_ram_region is compare-and-exchange on the offered name (2.3): a wrong name
    # must fail, and a failed store saves nothing.
    # Only the kernel log keeps a record of why (test_kernel_log.py).
    frontend = InProcess(cxl_test_store)
    before = cxl_test_store.load()[0]
    with pytest.raises(OSError):
        frontend.write(f"{CXL}/decoder0.0/create_ram_region", b"region42\0")
    assert errno_of(frontend.write, f"{CXL}/decoder0.0/size", b"0") == errno.EACCES
    after = cxl_test_store.load()[0]
    assert len(after.log.records) > len(before.log.records)
    after.log = before.log
    assert after == before
    assert value(frontend.view, f"{CXL}/decoder0.0/create_ram_region") == "region6"


def test_inprocess_dev_nodes(cxl_test_store: StateStore) -> None:
    # 1.4 / 6: /dev/cxl/memN is a char device whose numbers match memN/dev.
    frontend = InProcess(cxl_test_store)
    for mem in range(11):
        st = frontend.stat_dev(f"/dev/cxl/mem{mem}")
        assert stat.S_ISCHR(st.mode)
        assert f"{st.rdev[0]}:{st.rdev[1]}" == value(frontend.view, f"{CXL}/mem{mem}/dev")
        assert st.rdev[1] == mem
    assert errno_of(frontend.stat_dev, "/dev/cxl/mem11") == errno.ENOENT
    assert errno_of(frontend.open_dev, "/dev/cxl/mem0") == errno.ENXIO
    assert errno_of(frontend.open_dev, "/dev/cxl/mem42") == errno.ENOENT


# == the export frontend ======================================================================


def exported(out: Path, sys_path: str) -> Path:
    assert sys_path.startswith("/sys")
    return out / sys_path.lstrip("/")


def test_export_reproduces_the_view(tmp_path: Path) -> None:
    view = View(fresh_kernel("cxl_test"))
    out = tmp_path / "tree"
    count = export(view, out, char_devices=False)
    entries = list(walk(view, "/sys"))
    assert count == len(entries) + len(view.dev_nodes())
    for path, what in entries:
        target = exported(out, path)
        st = target.lstat()
        if what == "link":
            assert stat.S_ISLNK(st.st_mode), path
            assert os.readlink(target) == view.readlink(path), path
            assert not os.path.isabs(os.readlink(target))
        elif what == "dir":
            assert stat.S_ISDIR(st.st_mode), path
            assert stat.S_IMODE(st.st_mode) == 0o755, path
        else:
            assert stat.S_ISREG(st.st_mode), path
            assert stat.S_IMODE(st.st_mode) == mode(view, path), path
            if not mode(view, path) & 0o444:
                assert st.st_size == 0, path  # write-only attributes export empty
                continue
            try:
                content = view.read(path)
            except OSError:
                content = b""
            assert target.read_bytes() == content, path
    for name in ("root0", "mem0", "endpoint19", "region0"):
        link = exported(out, f"{CXL}/{name}")
        assert os.path.realpath(link) == str(exported(out, view.realpath(f"{CXL}/{name}")))
    assert (out / "sys/bus/cxl/flush").read_bytes() == b""
    assert stat.S_IMODE((out / "sys/bus/cxl/flush").stat().st_mode) == 0o200
    start = exported(out, "/sys/devices/platform/cxl_acpi.0/root0/decoder0.0/start")
    assert stat.S_IMODE(start.stat().st_mode) == 0o400
    assert start.read_bytes() == b"0xf010000000\n"


def test_export_dev_nodes_as_regular_files(tmp_path: Path) -> None:
    view = shared_view("qemu-mixed")
    out = tmp_path / "tree"
    export(view, out, char_devices=False)
    for mem in range(4):
        node = out / "dev" / "cxl" / f"mem{mem}"
        assert stat.S_ISREG(node.lstat().st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating character devices needs root")
@pytest.mark.parametrize("char_devices", [True, None])
def test_export_char_devices_as_root(tmp_path: Path, char_devices: bool | None) -> None:
    view = shared_view("cxl_test")
    out = tmp_path / "tree"
    export(view, out, char_devices=char_devices)
    for name, major, minor, _ in view.dev_nodes():
        st = (out / "dev" / name).lstat()
        assert stat.S_ISCHR(st.st_mode), name
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
    assert stat.S_ISCHR((out / "dev" / "cxl" / "mem10").lstat().st_mode)
    assert stat.S_ISCHR((out / "dev" / "dax0.0").lstat().st_mode)


def test_export_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "tree"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(StateError) as info:
        export(shared_view("qemu-pmem"), out)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_export_force_replaces_a_previous_export(tmp_path: Path) -> None:
    out = tmp_path / "tree"
    export(shared_view("cxl_test"), out, char_devices=False)
    assert (out / "sys/bus/cxl/devices/region0").is_symlink()
    with pytest.raises(StateError):
        export(shared_view("qemu-pmem"), out, char_devices=False)
    export(shared_view("qemu-pmem"), out, force=True, char_devices=False)
    assert not (out / "sys/bus/cxl/devices/region0").exists()
    assert not (out / "dev/cxl/mem5").exists()
    assert os.readlink(out / "sys/bus/cxl/devices/root0") == (
        "../../../devices/platform/ACPI0017:00/root0"
    )
    assert (out / "dev/cxl/mem0").exists()
