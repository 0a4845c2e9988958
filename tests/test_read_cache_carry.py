"""Read answers carried over a store (readcache.carry, kernel/changes.py).

A store of a process that holds the read memo forgets only the directories of the devices
the store changed; the rest is kept, and what was forgotten is asked again before the memo
is saved, so that the next listing needs no kernel at all. What must hold: a carried memo
answers exactly what a fresh kernel answers, for every command (the suite runs with
FAKE_SYSFS_PARANOID, which checks every answer of a carried memo against the kernel when
the command ends; here the outputs are also compared with those of a memo-less copy of
the state); and what a store changes is found whatever code changed it, or else the memo
is dropped whole.
"""

from __future__ import annotations

import contextlib
import errno
import marshal
import shutil
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.frontends import readcache
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.kernel import changes
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.statedir import CACHE_FILE, STATE_FILE
from fake_sysfs.store import Origin, StateStore
from tests.helpers import Result, run_cxl
from tests.nd_helpers import run_ndctl

LISTING = ["list", "-vvv", "-BPEMDRT", "-i"]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    StateStore(directory).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), False)
    return directory


def cxl(state: Path, *argv: str) -> Result:
    result = run_cxl(list(argv), env={"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None})
    assert b"internal error" not in result.err, result.err
    return result


def memo_groups(state: Path) -> dict[str, Any]:
    """The groups of the memo saved in ``state`` (checked against the state file)."""
    payload = readcache.unseal((state / CACHE_FILE).read_bytes())
    assert payload is not None
    fmt, _, generation, blobs, _ = marshal.loads(payload)
    assert fmt == readcache.CACHE_FORMAT
    snap = StateStore(state).snapshot()
    try:
        assert generation == snap.generation, "the memo is not the committed state's"
    finally:
        snap.close()
    return {group: marshal.loads(blob) for group, blob in blobs.items()}


def fresh_copy(state: Path, tmp_path: Path) -> Path:
    """The same state without its memo: every answer computed from the kernel."""
    copy = tmp_path / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(mode=0o700)
    shutil.copyfile(state / STATE_FILE, copy / STATE_FILE)
    return copy


# -- commands: carried answers equal fresh ones ---------------------------------------------

STEPS = [
    ["create-region", "-d", "decoder0.5", "-t", "ram"],
    ["create-region", "-d", "decoder0.4", "-t", "pmem"],
    ["disable-region", "all"],
    ["enable-region", "all"],
    ["destroy-region", "-f", "all"],
    ["reserve-dpa", "-t", "pmem", "-s", "256M", "mem0"],
    ["free-dpa", "-t", "pmem", "mem0"],
    ["disable-memdev", "-f", "mem1"],
    ["enable-memdev", "mem1"],
    ["disable-port", "-f", "port1"],
    ["enable-port", "port1"],
    ["disable-bus", "-f", "root0"],
]


def test_each_command_leaves_a_memo_that_answers_as_the_kernel(state: Path, tmp_path: Path) -> None:
    for step in STEPS:
        cxl(state, *LISTING)  # the memo a command finds
        assert cxl(state, *step).rc == 0, step
        carried = cxl(state, *LISTING)
        fresh = cxl(fresh_copy(state, tmp_path), *LISTING)
        assert (carried.out, carried.rc) == (fresh.out, fresh.rc), step


def test_a_store_keeps_the_answers_it_cannot_have_changed(state: Path) -> None:
    cxl(state, *LISTING)
    before = memo_groups(state)
    assert cxl(state, "create-region", "-d", "decoder0.5", "-t", "ram").rc == 0
    after = memo_groups(state)
    # A memdev the region does not use: its answers were not computed again, they were
    # carried (the very same answers), and the listing after needs no kernel.
    untouched = "/sys/bus/cxl/devices/mem3"
    assert after[untouched] == before[untouched]
    region = [g for g in after if g.endswith("/decoder0.5/region5")]
    assert region, "the new region's answers were asked before saving"
    # The store's root decoder lists the new region: asked again, not carried.
    root = "/sys/bus/cxl/devices/root0/decoder0.5"
    assert before[root]["sregion"] == () and after[root]["sregion"] == ("region5",)


def test_the_listing_after_a_command_needs_no_kernel(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: StateStore, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the state was loaded although the memo had every answer")

    cxl(state, "list")
    cxl(state, *LISTING)
    assert cxl(state, "create-region", "-d", "decoder0.5", "-t", "ram").rc == 0
    with monkeypatch.context() as m:
        m.setattr(StateStore, "load", refuse)
        assert cxl(state, "list").rc == 0  # the memdevs: none changed
        # The new region, its dax_region, dax device and memory blocks were asked what
        # the auto region's were: the full listing is answered from the memo too.
        full = cxl(state, *LISTING)
    assert b'"region":"region5"' in full.out
    assert full.out == cxl(fresh_copy(state, state.parent), *LISTING).out
    assert cxl(state, "destroy-region", "-f", "region5").rc == 0
    with monkeypatch.context() as m:
        m.setattr(StateStore, "load", refuse)
        after = cxl(state, *LISTING)
    assert after.rc == 0 and b"region5" not in after.out


def test_new_devices_are_asked_only_what_leads_into_them(state: Path) -> None:
    # Without a device of its kind listed before, a new region is asked nothing ahead.
    cxl(state, "list", "-M")
    assert cxl(state, "create-region", "-d", "decoder0.5", "-t", "ram").rc == 0
    assert not [g for g in memo_groups(state) if g.endswith("/dax5.0")]
    cxl(state, *LISTING)  # now a dax device was listed: the next one is asked ahead
    assert cxl(state, "create-region", "-d", "decoder0.4", "-t", "pmem").rc == 0
    assert cxl(state, "disable-region", "region5").rc == 0
    assert cxl(state, "enable-region", "region5").rc == 0
    assert [g for g in memo_groups(state) if g.endswith("/dax5.0")]


def test_dimm_answers_follow_their_regions_and_labels(state: Path) -> None:
    # Answers of one device that another's state decides: a DIMM is "active" while an
    # enabled nd region maps it, and its free label slots are its memdev's label area.
    assert cxl(state, "create-region", "-d", "decoder0.4", "-t", "pmem").rc == 0
    assert run_ndctl(["create-namespace", "-m", "raw", "-s", "64M"], state).rc == 0

    def dimms(what: str, where: Path = state) -> dict[str, bytes]:
        frontend = InProcess(StateStore(where))
        try:
            names = [n for n in frontend.listdir("/sys/bus/nd/devices") if n.startswith("nmem")]
            return {n: frontend.read(f"/sys/bus/nd/devices/{n}/{what}") for n in names}
        finally:
            frontend.close()

    active = [n for n, v in dimms("state").items() if v == b"active\n"]
    assert active
    slots = dimms("available_slots")
    assert run_ndctl(["disable-region", "all"], state).rc == 0
    assert set(dimms("state").values()) == {b"idle\n"}  # from the memo the command left
    assert run_ndctl(["init-labels", "-f", active[0]], state).rc == 0
    after = dimms("available_slots")
    assert after[active[0]] != slots[active[0]]  # its namespace's label is gone
    assert after == dimms("available_slots", fresh_copy(state, state.parent))


def test_the_paranoid_check_finds_a_carried_stale_answer(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check the suite relies on can fail: a mapping that forgets the endpoint port
    # (whose decoders_committed the commit changes) is caught when the command ends.
    cxl(state, *LISTING)
    real = changes._conclude

    def forgetful(kernel: Kernel, tracker: Any, found: changes.Changes) -> None:
        real(kernel, tracker, found)
        found.devices = {key for key in found.devices if "endpoint" not in key}
        found.above = {key for key in found.above if "endpoint" not in key}

    monkeypatch.setattr(changes, "_conclude", forgetful)
    with pytest.raises(AssertionError, match=r"read memo: .*decoders_committed"):
        run_cxl(
            ["create-region", "-d", "decoder0.5", "-t", "ram"],
            env={"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None},
        )


def test_another_writers_commit_drops_the_memo(state: Path) -> None:
    # The answers carried must be those of the state the store applied to: when another
    # process committed in between, none are.
    frontend = InProcess(StateStore(state))
    frontend.read("/sys/bus/cxl/devices/mem3/serial")
    assert frontend.cache.group("/sys/bus/cxl/devices/mem3")
    with StateStore(state).transaction() as kernel:
        kernel.ports[0].decoders[0].next_region += 1
    frontend.write("/sys/bus/cxl/devices/decoder0.5/create_ram_region", b"region5")
    assert frontend.cache.group("/sys/bus/cxl/devices/mem3") is None
    frontend.close()


def test_a_memo_whose_places_miss_a_group_is_not_used(state: Path) -> None:
    cxl(state, *LISTING)
    payload = readcache.unseal((state / CACHE_FILE).read_bytes())
    assert payload is not None
    fmt, code, generation, blobs, where = marshal.loads(payload)
    places = readcache._Places.loads(where)
    places.remove("/sys/bus/cxl/devices/mem3")
    damaged = marshal.dumps((fmt, code, generation, blobs, places.dumps()))
    (state / CACHE_FILE).write_bytes(readcache.seal(damaged))
    frontend = InProcess(StateStore(state))
    frontend.read("/sys/bus/cxl/devices/mem3/serial")
    assert frontend.cache.group("/sys/bus/cxl/devices/mem3")  # answers are still served
    frontend.write("/sys/bus/cxl/devices/decoder0.5/create_ram_region", b"region5")
    # ... but nothing is carried over a store: no index could say when mem3's go stale.
    assert frontend.cache.group("/sys/bus/cxl/devices/mem3") is None
    frontend.close()


# -- every answer of the tree, over every command -------------------------------------------


def remember_everything(state: Path) -> int:
    """Ask the emulated /sys everything once (every directory listed, every entry's
    lstat, stat and real path, every attribute read, /dev nodes), so that the memo a
    command finds holds all of it: the command's paranoid check then checks every answer
    it carries over its stores. The number of answers asked."""
    frontend = InProcess(StateStore(state))
    asked = 0
    try:
        todo = ["/sys"]
        while todo:
            directory = todo.pop()
            try:
                names = frontend.listdir(directory)
            except OSError:
                continue
            for name in names:
                path = f"{directory}/{name}"
                if "pipe" in name and directory.startswith("/sys/kernel/tracing"):
                    continue  # a read there consumes
                asked += 3
                link = frontend.is_link(path)
                frontend.exists(path)
                with contextlib.suppress(OSError):
                    frontend.realpath(path)
                if link:
                    continue
                try:
                    frontend.read(path)
                except OSError as e:
                    if e.errno == errno.EISDIR:
                        todo.append(path)
        for node in frontend.listdir("/dev") if frontend.exists("/dev") else ():
            frontend.exists(f"/dev/{node}")
    finally:
        frontend.close()
    return asked


SESSIONS = {
    "cxl_test": [
        ("cxl", "create-region", "-d", "decoder0.5", "-t", "ram"),
        ("daxctl", "reconfigure-device", "-m", "devdax", "-f", "dax5.0"),
        ("daxctl", "reconfigure-device", "-m", "system-ram", "dax5.0"),
        ("daxctl", "offline-memory", "dax5.0"),
        ("daxctl", "reconfigure-device", "-m", "devdax", "dax5.0"),
        ("daxctl", "disable-device", "dax5.0"),
        ("daxctl", "destroy-device", "dax5.0"),
        ("daxctl", "create-device", "-r", "5", "-s", "128M"),
        ("cxl", "create-region", "-d", "decoder0.4", "-t", "pmem"),
        ("ndctl", "create-namespace", "-m", "fsdax", "-s", "256M"),
        ("ndctl", "create-namespace", "-m", "devdax", "-s", "256M"),
        ("ndctl", "create-namespace", "-m", "sector", "-s", "128M"),
        ("ndctl", "disable-namespace", "all"),
        ("ndctl", "enable-namespace", "all"),
        ("ndctl", "destroy-namespace", "-f", "all"),
        ("ndctl", "disable-region", "all"),
        ("ndctl", "init-labels", "-f", "all"),
        ("cxl", "disable-region", "-f", "all"),
        ("cxl", "destroy-region", "-f", "all"),
        ("cxl", "reserve-dpa", "-t", "pmem", "-s", "256M", "mem0"),
        ("cxl", "free-dpa", "-t", "pmem", "mem0"),
        ("cxl", "disable-memdev", "-f", "mem1"),
        ("cxl", "enable-memdev", "mem1"),
        ("cxl", "disable-port", "-f", "port1"),
        ("cxl", "enable-port", "port1"),
    ],
    "qemu-mixed": [
        ("cxl", "set-alert-config", "mem0", "-L", "50", "--life-used-alert", "on"),
        ("cxl", "disable-memdev", "-f", "mem0"),
        ("cxl", "zero-labels", "mem0"),
        ("cxl", "enable-memdev", "mem0"),
        ("cxl", "create-region", "-t", "ram", "-d", "decoder0.1"),
        ("cxl", "disable-region", "-f", "all"),
        ("cxl", "destroy-region", "-f", "all"),
        ("cxl", "disable-memdev", "-f", "all"),
        ("cxl", "enable-memdev", "all"),
    ],
    "hmem": [
        ("daxctl", "reconfigure-device", "-m", "devdax", "-f", "all"),
        ("daxctl", "reconfigure-device", "-m", "system-ram", "all"),
    ],
}


@pytest.mark.parametrize("preset", sorted(SESSIONS))
def test_every_answer_is_carried_right_over_every_command(preset: str, tmp_path: Path) -> None:
    from tests.test_daxctl_cmds import run_daxctl

    state = tmp_path / "state"
    StateStore(state).init(load_preset(preset), Origin("preset", preset), False)
    for tool, *argv in SESSIONS[preset]:
        assert remember_everything(state) > 1000
        # The command's close checks every answer its memo carried (FAKE_SYSFS_PARANOID);
        # a stale one raises here.
        if tool == "cxl":
            result = cxl(state, *argv)
        elif tool == "ndctl":
            result = run_ndctl(argv, state)
        else:
            result = run_daxctl(argv, state)
        assert result.rc == 0, (tool, argv, result.err)


# -- kernel.changes: what a store changed, whatever code changed it --------------------------


@pytest.fixture
def kernel(state: Path) -> Kernel:
    return StateStore(state).load()[0]


def test_a_field_set_names_its_device(kernel: Kernel) -> None:
    port = kernel.ports[0]
    with changes.watch(kernel) as found:
        port.decoders[0].next_region += 1
    assert found.devices == {port.decoders[0].devkey} and not found.unknown
    # Its ancestors list it (and some sum what their children hold).
    assert port.devkey in found.above


def test_a_container_changed_in_place_names_its_device(kernel: Kernel) -> None:
    memdev = next(iter(kernel.memdevs.values()))
    with changes.watch(kernel) as found:
        memdev.device.cel.append(0x4200)
    # The mailbox state is the memdev's (held by it): the memdev and its subtree.
    assert memdev.devkey in found.devices and not found.unknown
    with changes.watch(kernel) as found:
        memdev.device.cel.pop()
    assert memdev.devkey in found.devices


def test_reading_changes_nothing(kernel: Kernel) -> None:
    with changes.watch(kernel) as found:
        for port in kernel.ports.values():
            for decoder in port.decoders:
                assert decoder.size >= 0
        _ = list(kernel.devices.values())
    assert not found.devices and not found.above and not found.unknown


def test_a_value_set_back_is_no_change(kernel: Kernel) -> None:
    decoder = kernel.ports[0].decoders[0]
    with changes.watch(kernel) as found:
        saved = decoder.next_region
        decoder.next_region = saved + 5
        decoder.next_region = saved
    assert not found.devices and not found.unknown


def test_a_device_that_goes_is_named(kernel: Kernel) -> None:
    from fake_sysfs.kernel import core

    dev = kernel.devices["bus/cxl/mem3"]
    with changes.watch(kernel) as found:
        core.device_unregister(kernel, dev)
    assert "bus/cxl/mem3" in found.devices and not found.unknown


def test_a_change_of_the_platform_model_is_unknown(kernel: Kernel) -> None:
    # The platform model is no device's: nothing can say which answers it changes.
    with changes.watch(kernel) as found:
        kernel.platform.windows[0].granularity *= 2
    assert found.unknown


def test_what_families_declare_places_their_objects(kernel: Kernel) -> None:
    from fake_sysfs.kernel.regions import RegionRef

    # The kernel log shows in no device's directory (log.py declares it).
    with changes.watch(kernel) as found:
        kernel.log.err(kernel.devices["bus/cxl/mem3"], "a message")
    assert not found.devices and not found.unknown
    # A memory block shows in its own directory and in every node's (memory.py).
    block = next(iter(kernel.memory.blocks.values()))
    with changes.watch(kernel) as found:
        block.removable = not block.removable
    nodes = {key for key, dev in kernel.devices.items() if dev.type == "node"}
    assert found.devices == {block.devkey} | nodes and not found.unknown
    # An object held by a device shows in its subtree, unless its family says it shows in
    # the holder's directory at most (regions.py: a region's port references).
    region = next(r for r in kernel.regions.values() if r.refs)
    assert any(dev.parent == region.devkey for dev in kernel.devices.values())
    with changes.watch(kernel) as found:
        ref = next(iter(region.refs.values()))  # reached through the region, as a store does
        assert isinstance(ref, RegionRef)
        ref.nr_targets_set += 1
    assert found.devices == {region.devkey} and not found.unknown


def test_the_hooks_are_gone_after_the_store(kernel: Kernel) -> None:
    decoder = kernel.ports[0].decoders[0]
    with changes.watch(kernel):
        pass
    assert "__getattribute__" not in vars(type(decoder))
    assert "__setattr__" not in vars(type(decoder))


def test_a_bytes_key_in_a_driver_directory_is_forgotten_cleanly(state: Path) -> None:
    """The answers of pure stores are keyed by bytes (kind ``w``, the name, the data); one
    recorded in a directory that indexes devices by name is forgotten with the listing."""
    driver = "/sys/bus/cxl/drivers/cxl_mem"
    frontend = InProcess(StateStore(state))
    try:
        listing = frontend.listdir(driver)
        assert "mem1" in listing
        frontend.cache.put(driver, b"wuevent\0add", 3)  # as a pure store's answer is
        frontend.write(f"{driver}/unbind", b"mem1")
    finally:
        frontend.close()
    fresh = InProcess(StateStore(state))
    try:
        assert fresh.listdir(driver) == [name for name in listing if name != "mem1"]
    finally:
        fresh.close()
