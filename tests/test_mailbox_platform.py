"""Platform-file keys of the device mailbox (``[...device.mailbox]``,
fake-sysfs-platform(5)): each value reaches the payload that reports it, and bad values
are refused in one line naming the device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.toml_file import load_platform_file
from fake_sysfs.platform.validate import finalize
from fake_sysfs.store import Origin, StateStore
from tests.test_mailbox_list import cxl

PLATFORM = """
name = "mailbox-keys"
[[host_bridge]]
uid = 12
  [[host_bridge.root_port]]
  port = 0
    [host_bridge.root_port.device]
    ram = "512M"
    pmem = "512M"
    lsa = "128K"
    label = "dev0"
      [host_bridge.root_port.device.mailbox]
      {mailbox}
[[window]]
targets = [12]
size = "4G"
"""

GOOD = """partition_align = "256M"
      firmware_slots = ["FW A", "FW B", ""]
      active_slot = 2
      poison = [0x1000, 0x20000040]
        [host_bridge.root_port.device.mailbox.health]
        status = 1
        life_used = 50
        temperature = 40
        pmem_errors = 3"""


def boot_file(tmp_path: Path, mailbox: str) -> Path:
    path = tmp_path / "platform.toml"
    path.write_text(PLATFORM.format(mailbox=mailbox))
    state = tmp_path / "state"
    platform = load_platform_file(path)
    StateStore(state, create=True).init(platform, Origin("file", str(path)), True)
    return state


def test_keys_reach_the_payloads(tmp_path: Path) -> None:
    state = boot_file(tmp_path, GOOD)
    r = cxl(state, "list", "-m", "mem0", "-H", "-I", "-F", "-L")
    obj = json.loads(r.out)[0]
    health = obj["health"]
    assert (health["maintenance_needed"], health["media_normal"]) == (True, True)
    assert (health["life_used_percent"], health["temperature"], health["pmem_errors"]) == (
        50,
        40,
        3,
    )
    part = obj["partition_info"]
    assert (part["partition_alignment_size"], part["volatile_only_size"]) == (256 << 20, 0)
    fw = obj["firmware"]
    assert (fw["num_slots"], fw["active_slot"], fw["slot_2_version"]) == (3, 2, "FW B")
    assert "slot_3_version" not in fw
    # The persistent partition (from 512 MiB) is read first.
    assert [e["offset"] for e in obj["media_errors"]] == [0x20000040, 0x1000]


def test_a_partitionable_device_takes_set_partition(tmp_path: Path) -> None:
    state = boot_file(tmp_path, 'partition_align = "256M"')
    r = cxl(state, "set-partition", "mem0", "-t", "ram", "-s", "768M")
    assert r.rc == 0, r.err
    part = json.loads(r.out)[0]["partition_info"]
    assert (part["next_volatile_size"], part["next_persistent_size"]) == (768 << 20, 256 << 20)
    # The active split (and so the kernel's partitions) waits for a reset.
    assert (part["active_volatile_size"], part["active_persistent_size"]) == (512 << 20, 512 << 20)
    r = cxl(state, "set-partition", "mem0", "-t", "ram", "-s", "100M", "-a")
    part = json.loads(r.out)[0]["partition_info"]
    assert part["next_volatile_size"] == 256 << 20  # rounded up for ram


@pytest.mark.parametrize(
    ("mailbox", "message"),
    [
        ('partition_align = "100M"', "dev0: partition alignment"),
        ('firmware_slots = ["a", "b", "c", "d", "e"]', "firmware_slots: expected 1 to 4"),
        ('firmware_slots = ["01234567890123456"]', "firmware slot revision"),
        ("active_slot = 5", "active_slot: 5 is out of range"),
        ("poison = [0x41]", "dev0: poison address 0x41"),
        ("poison = [0x40000000]", "dev0: poison address 0x40000000"),
        ("colour = 1", "mailbox.colour: unknown key"),
        ("[host_bridge.root_port.device.mailbox.health]\nstatus = 9", "status: 9 is out of range"),
    ],
)
def test_bad_values(tmp_path: Path, mailbox: str, message: str) -> None:
    path = tmp_path / "platform.toml"
    path.write_text(PLATFORM.format(mailbox=mailbox))
    with pytest.raises(PlatformError) as e:
        finalize(load_platform_file(path))
    assert message in str(e.value) and "\n" not in str(e.value)
