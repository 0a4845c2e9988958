"""Platform files (TOML): what they build, and one-line errors that name the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_sysfs.errors import PlatformError
from fake_sysfs.kernel.boot import boot
from fake_sysfs.platform.toml_file import load_platform_file

SMALL = """
name = "small"
[[host_bridge]]
uid = 12
  [[host_bridge.root_port]]
  port = 0
    [host_bridge.root_port.device]
    ram = "512M"
    pmem = "512M"
    lsa = "128K"
    serial = 0x10
  [[host_bridge.root_port]]
  port = 1
    [host_bridge.root_port.switch]
      [[host_bridge.root_port.switch.port]]
      port = 3
        [host_bridge.root_port.switch.port.device]
        pmem = "1G"
[[window]]
targets = [12]
size = "4G"
granularity = "4k"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "platform.toml"
    path.write_text(text)
    return path


def test_small_platform(tmp_path: Path) -> None:
    platform = load_platform_file(write(tmp_path, SMALL))
    assert platform.name == "small"
    devs = platform.devices()
    assert [d.path for d in devs] == [
        "devices/pci0000:0c/0000:0c:00.0/0000:0d:00.0",
        "devices/pci0000:0c/0000:0c:01.0/0000:0e:00.0/0000:0f:00.0/0000:10:00.0",
    ]
    assert devs[0].serial == 0x10 and devs[0].lsa_size == 128 * 1024
    assert platform.windows[0].granularity == 4096
    k = boot(platform)
    # One id allocator, in probe order: the host bridge's port, then mem0's endpoint, then
    # mem1's switch port (created on its first use) and its endpoint.
    names = {p.id: p.name for p in k.ports.values()}
    assert names == {0: "root0", 1: "port1", 2: "endpoint2", 3: "port3", 4: "endpoint4"}


@pytest.mark.parametrize(
    ("change", "culprit"),
    [
        (
            ("serial = 0x10", "serail = 0x10"),
            "host_bridge[0].root_port[0].device.serail: unknown key",
        ),
        (('ram = "512M"', 'ram = "500M"'), "is not a multiple of 256M"),
        (('ram = "512M"', "ram = true"), "host_bridge[0].root_port[0].device.ram"),
        (("port = 3", 'port = "x"'), "switch.port[0].port: expected an integer"),
        (
            ("targets = [12]", "targets = [13]"),
            "window 0: targets host bridge 13, which does not exist",
        ),
        (('granularity = "4k"', "granularity = 100"), "interleave granularity 100"),
        (('size = "4G"', 'size = "3G"'), None),
        (("port = 1", "port = 0"), "duplicate root port number 0"),
        (('name = "small"', 'name = "small"\nstyle = "bogus"'), "style"),
        (("uid = 12", "uid = 12\ndecoders = 5"), "5 HDM decoders"),
        (
            ("uid = 12", "uid = 12\ndecoders = 0"),
            "without HDM decoders needs exactly one root port",
        ),
        (('name = "small"', 'name = "small"\nmemory_block_size = 0'), "memory_block_size"),
    ],
)
def test_errors_name_the_culprit(
    tmp_path: Path, change: tuple[str, str], culprit: str | None
) -> None:
    old, new = change
    text = SMALL.replace(old, new, 1)
    if culprit is None:
        load_platform_file(write(tmp_path, text))  # 3G x1 is fine
        return
    with pytest.raises(PlatformError) as info:
        load_platform_file(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert culprit in message


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="invalid TOML"):
        load_platform_file(write(tmp_path, "[[host_bridge]\n"))


AUTO = """
style = "cxl_test"
[[host_bridge]]
uid = 0
label = "hb0"
  [[host_bridge.root_port]]
  port = 0
  label = "rp0"
    [host_bridge.root_port.device]
    ram = "512M"
    label = "m0"
  [[host_bridge.root_port]]
  port = 1
  label = "rp1"
    [host_bridge.root_port.device]
    ram = "512M"
    label = "m1"
[[window]]
targets = [0]
size = "2G"
[[auto_region]]
window = 0
size = "512M"
granularity = 256
members = ["m0", "m1"]
"""


def test_auto_region(tmp_path: Path) -> None:
    k = boot(load_platform_file(write(tmp_path, AUTO)))
    (region,) = k.regions.values()
    assert (region.mode, region.size, region.ways, region.state) == ("ram", 512 << 20, 2, "commit")
    hb = k.ports[1]
    assert (hb.decoders[0].ways, hb.decoders[0].targets, hb.decoders[0].granularity) == (
        2,
        [0, 1],
        256,
    )
    assert len(k.dax_regions) == 1


@pytest.mark.parametrize(
    ("change", "culprit"),
    [
        (('members = ["m0", "m1"]', 'members = ["m0", "m0"]'), "listed twice"),
        (("granularity = 256", "granularity = 100"), "granularity 100"),
        (('size = "512M"\ngranularity', 'size = "2G"\ngranularity'), "lacks ram capacity"),
        (('members = ["m0", "m1"]', 'members = ["m0", "mX"]'), "member 'mX'"),
        (("window = 0", "window = 3"), "window 3 does not exist"),
    ],
)
def test_auto_region_errors(tmp_path: Path, change: tuple[str, str], culprit: str) -> None:
    with pytest.raises(PlatformError, match=culprit):
        load_platform_file(write(tmp_path, AUTO.replace(*change)))
