"""Every platform input is validated at the edge: one clean line, nothing written.

Presets (``scale-N``, ``scale:HxR[xS]``), platform files and QEMU command lines. Accepted
values are checked against QEMU's and the kernel's documented semantics (QEMU's
``qemu_strtosz()`` and its unit tests in tests/unit/test-cutils.c, ``id_wellformed()``,
PCI device numbers), never against this code's own output.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import (
    AutoRegion,
    GiB,
    HostBridge,
    MiB,
    Platform,
    RootPort,
    Switch,
    SwitchPort,
    Type3Device,
    Window,
)
from fake_sysfs.platform.presets import load_preset, scale_shape
from fake_sysfs.platform.qemu import parse_qemu
from fake_sysfs.platform.sizes import parse_size
from fake_sysfs.platform.toml_file import load_platform_file
from fake_sysfs.platform.validate import (
    MAX_DECODERS,
    MAX_HOST_BRIDGES,
    MAX_MEMDEVS,
    MAX_MEMORY_BLOCKS,
    MAX_WINDOWS,
    finalize,
)

KiB, TiB, PiB, EiB = 1 << 10, 1 << 40, 1 << 50, 1 << 60
U64_MAX = (1 << 64) - 1
HINT = "(a non-negative number below 2^64, with an optional suffix B, K, M, G, T, P or E)"


def one_line(error: pytest.ExceptionInfo[PlatformError]) -> str:
    text = str(error.value)
    assert "\n" not in text and "\r" not in text
    return text


# ------------------------------------------------------------------------------------------
# Sizes: QEMU's qemu_strtosz()
# ------------------------------------------------------------------------------------------

# (text, bytes): the expectations of QEMU's tests/unit/test-cutils.c (test_qemu_strtosz_*),
# plus the arithmetic of the documented grammar.
QEMU_ACCEPTS = [
    ("0", 0),
    ("08", 8),  # a leading 0 is decimal, not octal
    ("010", 10),
    (" +12345", 12345),  # leading white space and + are skipped
    ("9007199254740993", (1 << 53) + 1),  # exact, not through a double
    ("18446744073709551615", U64_MAX),
    ("0x0", 0),
    ("0xab", 171),
    (" +0xae", 174),
    ("0X1F", 31),
    ("0x1b", 27),  # b is a hex digit, not the byte suffix
    ("0xffffffffffffffff", U64_MAX),
    ("1", 1),
    ("1B", 1),
    ("1b", 1),
    ("1K", KiB),
    ("1k", KiB),
    ("1M", MiB),
    ("1G", GiB),
    ("1T", TiB),
    ("1P", PiB),
    ("1E", EiB),
    ("1e", EiB),
    ("15E", 15 * EiB),
    ("16383P", 16383 * PiB),
    ("256M", 268435456),
    ("0.5E", EiB // 2),
    ("1.0B", 1),  # a fraction of zero is tolerated on bytes
    ("1.", 1),
    ("1.k", KiB),  # an empty fraction tail
    (" .5k", 512),  # an empty integral part
    ("+.5k", 512),
    ("12.345M", 12944671),  # (uint64_t)(12.345 * MiB + 0.5): rounded, halves up
    ("1.9999k", 2048),
    ("1.9999999999999999999999999999999999999999999999999999k", 2048),
    ("1." + "0" * 350 + "1k", KiB),  # underflow of the fraction does not matter
    ("1.5G", 3 * GiB // 2),
    ("1.25K", 1280),
    ("0.99999999999999999999", 1),  # the fraction rounds to 1.0 and carries
]


@pytest.mark.parametrize(("text", "expected"), QEMU_ACCEPTS)
def test_qemu_sizes_accepted(text: str, expected: int) -> None:
    assert parse_size(text, "size", qemu=True) == expected
    assert parse_size(text, "size") == expected  # platform files read the same


# (text, the one line): QEMU's -EINVAL cases are "not a size", its -ERANGE ones without
# trailing text are out of range.
QEMU_REFUSES = [
    ("", f"size: not a size: '' {HINT}"),
    (" \t ", f"size: not a size: ' \\t ' {HINT}"),
    (".", f"size: not a size: '.' {HINT}"),
    (" .k", f"size: not a size: ' .k' {HINT}"),
    ("inf", f"size: not a size: 'inf' {HINT}"),
    ("NaN", f"size: not a size: 'NaN' {HINT}"),
    ("k", f"size: not a size: 'k' {HINT}"),
    ("1.1B", f"size: not a size: '1.1B' {HINT}"),  # fractions need a scale above bytes
    ("1.1", f"size: not a size: '1.1' {HINT}"),
    ("1.00000000000000000001B", f"size: not a size: '1.00000000000000000001B' {HINT}"),
    ("0x1.8k", f"size: not a size: '0x1.8k' {HINT}"),  # no hex fractions
    ("0x18M", f"size: not a size: '0x18M' {HINT}"),  # no hex suffixes
    ("0x1p1", f"size: not a size: '0x1p1' {HINT}"),
    ("0x", f"size: not a size: '0x' {HINT}"),
    ("00x1", f"size: not a size: '00x1' {HINT}"),
    ("0b1000", f"size: not a size: '0b1000' {HINT}"),
    ("1.1.k", f"size: not a size: '1.1.k' {HINT}"),
    ("1k ", f"size: not a size: '1k ' {HINT}"),  # trailing white space
    ("123xxx", f"size: not a size: '123xxx' {HINT}"),
    ("1kiB", f"size: not a size: '1kiB' {HINT}"),  # QEMU takes one suffix letter
    ("256MB", f"size: not a size: '256MB' {HINT}"),
    ("1e3", f"size: not a size: '1e3' {HINT}"),  # 1E followed by junk
    ("1.5e1k", f"size: not a size: '1.5e1k' {HINT}"),
    ("123-45", f"size: not a size: '123-45' {HINT}"),
    ("-2M", f"size: not a size: '-2M' {HINT}"),
    ("100000Pjunk", f"size: not a size: '100000Pjunk' {HINT}"),
    (" -0", "size: a size must not be negative: ' -0'"),
    ("-1", "size: a size must not be negative: '-1'"),
    (" -.0", "size: a size must not be negative: ' -.0'"),
    ("18446744073709551616", "size: '18446744073709551616' is more than 2^64-1 bytes"),
    ("16E", "size: '16E' is more than 2^64-1 bytes"),
    ("20E", "size: '20E' is more than 2^64-1 bytes"),
    ("32E", "size: '32E' is more than 2^64-1 bytes"),
    ("0x10000000000000000", "size: '0x10000000000000000' is more than 2^64-1 bytes"),
    (
        "15.9999999999999999999999999999999999999999999999999999E",
        "size: '15.9999999999999999999999999999999999999999999999999999E' is more than "
        "2^64-1 bytes",
    ),
    # Only ASCII digits, no separators, although Python's int() takes both.
    ("٣G", f"size: not a size: '٣G' {HINT}"),
    ("３G", f"size: not a size: '３G' {HINT}"),
    ("1_0M", f"size: not a size: '1_0M' {HINT}"),
    ("1.٥G", f"size: not a size: '1.٥G' {HINT}"),
    ("0x١", f"size: not a size: '0x١' {HINT}"),
    ("1\u00a0G", f"size: not a size: '1\\xa0G' {HINT}"),
]


@pytest.mark.parametrize(("text", "message"), QEMU_REFUSES)
def test_qemu_sizes_refused(text: str, message: str) -> None:
    with pytest.raises(PlatformError) as error:
        parse_size(text, "size", qemu=True)
    assert one_line(error) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("256MiB", 256 * MiB), ("256MB", 256 * MiB), ("1.5GiB", 3 * GiB // 2), ("4kb", 4 * KiB)],
)
def test_platform_files_also_take_ib(text: str, expected: int) -> None:
    assert parse_size(text, "ram") == expected
    with pytest.raises(PlatformError, match=r"^ram: not a size: "):
        parse_size(text, "ram", qemu=True)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (U64_MAX, None),
        (0, None),
        (1 << 64, "ram: 18446744073709551616 is more than 2^64-1 bytes"),
        (-1, "ram: a size must not be negative: -1"),
        pytest.param(10**5000, "ram: a 16610-bit number is more than 2^64-1 bytes", id="10**5000"),
        (True, "ram: expected a size such as 256M, got True"),
        (1.5, "ram: expected a size such as 256M, got 1.5"),
        ([1], "ram: expected a size such as 256M, got [1]"),
    ],
)
def test_integer_sizes(value: object, message: str | None) -> None:
    if message is None:
        assert parse_size(value, "ram") == value
        return
    with pytest.raises(PlatformError) as error:
        parse_size(value, "ram")
    assert one_line(error) == message


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40) | st.from_regex(r"\s*[+-]?[0-9.xX]{0,25}[BKMGTPEbkmgtpe]?"))
def test_any_text_is_a_u64_or_one_line(text: str) -> None:
    for qemu in (True, False):
        try:
            value = parse_size(text, "size", qemu=qemu)
        except PlatformError as error:
            message = str(error)
            assert "\n" not in message and len(message) < 300
        else:
            assert 0 <= value <= U64_MAX


SUFFIXES = {"": 1, "B": 1, "K": KiB, "M": MiB, "G": GiB, "T": TiB, "P": PiB, "E": EiB}


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**70), st.sampled_from(sorted(SUFFIXES)), st.booleans())
def test_integers_scale_exactly(number: int, suffix: str, lower: bool) -> None:
    """n followed by a suffix is n times the binary unit, if that fits 64 bits.

    As in QEMU, a number that alone overflows is not scaled at all: the suffix is then
    trailing junk (test-cutils.c: "100000Pjunk" fails with -ERANGE before the junk).
    """
    text = f"{number}{suffix.lower() if lower else suffix}"
    expected = number * SUFFIXES[suffix]
    if expected <= U64_MAX:
        assert parse_size(text, "s", qemu=True) == expected
    else:
        too_big = "is more than 2^64-1 bytes"
        message = too_big if number <= U64_MAX or not suffix else "not a size"
        with pytest.raises(PlatformError, match=re.escape(message)):
            parse_size(text, "s", qemu=True)
    if number <= U64_MAX:
        assert parse_size(f"{number:#x}", "s", qemu=True) == number


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 99999),
    st.text("0123456789", min_size=1, max_size=25),
    st.sampled_from("KMGTPE"),
)
def test_fractions_round_to_the_nearest_byte(whole: int, digits: str, suffix: str) -> None:
    """``I.F<suffix>`` is (I.F) x unit to the nearest byte; QEMU goes through a double for
    the fraction, so allow its 53-bit precision on top of the rounding."""
    unit = SUFFIXES[suffix]
    exact = Fraction(Decimal(f"{whole}.{digits}")) * unit
    text = f"{whole}.{digits}{suffix}"
    if exact > U64_MAX + 1:
        with pytest.raises(PlatformError):
            parse_size(text, "s", qemu=True)
        return
    try:
        value = parse_size(text, "s", qemu=True)
    except PlatformError:
        assert exact > U64_MAX - unit  # only the very top can round past 2^64-1
        return
    assert abs(value - exact) <= Fraction(1, 2) + Fraction(unit, 1 << 53)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, U64_MAX), st.data())
def test_a_non_ascii_digit_is_never_a_digit(number: int, data: st.DataObject) -> None:
    text = str(number)
    index = data.draw(st.integers(0, len(text) - 1))
    foreign = data.draw(st.sampled_from("٠١٢٣٤٥٦٧٨٩۰۱۲۳०१२३０１２３𝟎𝟏"))
    with pytest.raises(PlatformError, match="not a size"):
        parse_size(text[:index] + foreign + text[index + 1 :], "s")


# ------------------------------------------------------------------------------------------
# QEMU command lines
# ------------------------------------------------------------------------------------------

ONE = (
    "qemu-system-x86_64 -machine q35,cxl=on -m 4G,maxmem=8G,slots=8"
    " -object memory-backend-ram,id=vmem0,size=256M"
    " -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1"
    " -device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2"
    " -device cxl-type3,bus=rp0,volatile-memdev=vmem0,id=mem0"
    " -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G"
)
SWITCHED = (
    "qemu-system-x86_64 -machine q35,cxl=on -m 4G"
    " -object memory-backend-ram,id=vmem0,size=256M"
    " -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1"
    " -device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2"
    " -device cxl-upstream,bus=rp0,id=us0,addr=0.0,multifunction=on"
    " -device cxl-downstream,port=0,bus=us0,id=dsp0,chassis=0,slot=4"
    " -device cxl-type3,bus=dsp0,volatile-memdev=vmem0,id=mem0"
    " -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G"
)
MODELS = (
    "pxb-cxl, cxl-rp, cxl-upstream, cxl-downstream, cxl-type3, cxl-switch-mailbox-cci, i2c_mctp_cxl"
)


def qemu_error(cmdline: str) -> str:
    with pytest.raises(PlatformError) as error:
        parse_qemu(cmdline)
    return one_line(error)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "-device cxl-typo,bus=rp0",
            f"-device cxl-typo: not a CXL device model of QEMU (did you mean cxl-type3? "
            f"QEMU has {MODELS})",
        ),
        (
            "-device cxl_type3,bus=rp0",
            f"-device cxl_type3: not a CXL device model of QEMU (did you mean cxl-type3? "
            f"QEMU has {MODELS})",
        ),
        (
            "-device CXL-RP,bus=cxl.1",
            f"-device CXL-RP: not a CXL device model of QEMU (QEMU has {MODELS})",
        ),
        (
            "-device pxb-cxl-host",
            f"-device pxb-cxl-host: not a CXL device model of QEMU (did you mean pxb-cxl? "
            f"QEMU has {MODELS})",
        ),
        (
            """-device '{"driver": "cxl-accel", "bus": "rp0"}'""",
            f"-device cxl-accel: not a CXL device model of QEMU (QEMU has {MODELS})",
        ),
    ],
)
def test_unknown_cxl_models_are_refused(extra: str, message: str) -> None:
    assert qemu_error(f"{ONE} {extra}") == message


@pytest.mark.parametrize(
    "extra",
    [
        "-device cxl-switch-mailbox-cci,bus=rp0,addr=0.1,target=us0",
        "-device cxl-switch-mailbox-cci,id=swcci0,bus=rp0,addr=0.1,target=us0,multifunction=on",
        "-device i2c_mctp_cxl,bus=aspeed.i2c.bus.0,address=4,target=us0",
        "-device i2c_mctp_cxl,bus=aspeed.i2c.bus.0,address=5,target=mem0",
        "-device e1000,netdev=n0 -device virtio-rng-pci -device pcie-root-port,id=x",
    ],
)
def test_known_models_the_guest_does_not_see_are_skipped(extra: str) -> None:
    platform = parse_qemu(f"{SWITCHED} {extra}")
    assert [d.label for d in platform.devices()] == ["mem0"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "-device cxl-switch-mailbox-cci,bus=rp0,addr=0.1",
            "cxl-switch-mailbox-cci: target= is required (QEMU: Target not set)",
        ),
        (
            "-device cxl-switch-mailbox-cci,bus=rp0,target=mem0",
            "cxl-switch-mailbox-cci: target 'mem0' is a cxl-type3, not a cxl-upstream switch port",
        ),
        (
            "-device cxl-switch-mailbox-cci,id=cci,bus=rp0,target=us9",
            "cxl-switch-mailbox-cci cci: target 'us9' is not a device created before it",
        ),
        (
            "-device cxl-switch-mailbox-cci,bus=rp0,target=us0,sn=1",
            "-device cxl-switch-mailbox-cci,...: unknown option 'sn'",
        ),
        (
            "-device i2c_mctp_cxl,bus=i2c0,address=4",
            "i2c_mctp_cxl: target= is required (QEMU: Target not set)",
        ),
    ],
)
def test_skipped_models_are_still_checked(extra: str, message: str) -> None:
    assert qemu_error(f"{SWITCHED} {extra}") == message


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # Sizes as QEMU reads them; the E suffix is QEMU's too.
        (
            "size=256M",
            "size=32E",
            "-object memory-backend-ram,id=vmem0,...: size: '32E' is more than 2^64-1 bytes",
        ),
        (
            "size=256M",
            "size=256MiB",
            f"-object memory-backend-ram,id=vmem0,...: size: not a size: '256MiB' {HINT}",
        ),
        (
            "size=256M",
            "size=٢٥٦M",
            f"-object memory-backend-ram,id=vmem0,...: size: not a size: '٢٥٦M' {HINT}",
        ),
        (
            "size=256M",
            "size=8P",
            "host bridge cxl.1: root port rp0: device mem0: capacity "
            "0x20000000000000 is over 4 PiB, more than the 52-bit physical address space can map",
        ),
        (
            "cxl-fmw.0.size=4G",
            "cxl-fmw.0.size=1E",
            "window 0: ends beyond the 52-bit physical address space",
        ),
        (
            "cxl-fmw.0.size=4G",
            "cxl-fmw.0.size=16E",
            "cxl-fmw.0: size: '16E' is more than 2^64-1 bytes",
        ),
        (
            "-m 4G,maxmem=8G,slots=8",
            "-m 1E",
            "-m: RAM and hotplug memory end at 0x1000000080000000, beyond the 52-bit physical "
            "address space",
        ),
        (
            "-m 4G,maxmem=8G,slots=8",
            "-m 16T",
            "platform 'qemu': 131072 memory blocks of 0x8000000 exceed the limit of 65536 (less "
            "RAM, or a larger memory_block_size)",
        ),
        (
            "-m 4G,maxmem=8G,slots=8",
            "-m 17592186044416",
            "-m: size (MiB without a suffix): '17592186044416M' is more than 2^64-1 bytes",
        ),
        (
            "-m 4G,maxmem=8G,slots=8",
            "-m 0x100",
            f"-m: size (MiB without a suffix): not a size: '0x100M' {HINT}",
        ),
        ("-m 4G,maxmem=8G,slots=8", "-m 1.5", f"-m: size: not a size: '1.5' {HINT}"),
        (
            "-m 4G,maxmem=8G,slots=8",
            "-m 4G,maxmem=16E",
            "-m: maxmem: '16E' is more than 2^64-1 bytes",
        ),
        # Numbers are ASCII.
        (
            "cxl-fmw.0.size=4G",
            "cxl-fmw.0.size=4G,cxl-fmw.٠.granularity=1k",
            "cxl-fmw.٠.granularity: malformed window option (use cxl-fmw.N.<option>)",
        ),
        (
            "targets.0=cxl.1",
            "targets.٠=cxl.1",
            "cxl-fmw.0.targets.٠: unknown window option 'targets.٠' (use targets.N, size or "
            "interleave-granularity)",
        ),
        ("bus_nr=12", "bus_nr=١٢", "pxb-cxl cxl.1: bus_nr: not a number: '١٢'"),
        ("port=0", "port=٠", "cxl-rp rp0: port: not a number: '٠'"),
        ("id=mem0", "id=mem0,sn=٣", "cxl-type3 mem0: sn: not a number: '٣'"),
        ("id=mem0", "id=mem0,sn=1_0", "cxl-type3 mem0: sn: not a number: '1_0'"),
        ("slots=8", "slots=８", "-m: slots: not a number: '８'"),
        # QEMU ids.
        (
            "id=mem0",
            "id=mém0",
            "-device cxl-type3,...: id 'mém0' is not an identifier (a "
            "letter, then letters, digits, '-', '.' or '_')",
        ),
        (
            "id=mem0",
            "id=../mem0",
            "-device cxl-type3,...: id '../mem0' is not an identifier "
            "(a letter, then letters, digits, '-', '.' or '_')",
        ),
    ],
)
def test_qemu_values(old: str, new: str, message: str) -> None:
    assert old in ONE
    assert qemu_error(ONE.replace(old, new, 1)) == message


@pytest.mark.parametrize(
    ("memory", "ram"),
    [
        ("-m 8192", 8 * GiB),  # suffix-less is MiB
        ("-m 1.5G", 3 * GiB // 2),
        ("-m 0", 128 * MiB),  # QEMU: -m 0 is the default
        ("-m size=0", 128 * MiB),
        ("-m 1.0", MiB),  # qemu_strtosz("1.0") is 1, then read again as "1.0M"
        ("-m 1000000K", 1024000000),  # a multiple of 8 KiB already
        ("-m 1000001K", 1024008192),  # QEMU rounds RAM up to 8 KiB
        ("-m 8T", 8 * TiB),  # 65536 blocks of 128 MiB: the limit
    ],
)
def test_ram_sizes(memory: str, ram: int) -> None:
    cmdline = ONE.replace("-m 4G,maxmem=8G,slots=8", memory)
    assert parse_qemu(cmdline).system_ram == ram


def test_qemu_messages_stay_short() -> None:
    huge = "x" * 100_000
    for cmdline in (
        f"{ONE} -device cxl-type3,bus=rp0,{huge}=1",
        f"{ONE} -object memory-backend-ram,id=v9,size={huge}",
        f"{ONE} -device cxl-rp,bus=cxl.1,id=rp9,port={huge}",
        f"{ONE} -device {huge}cxl",
        f"{ONE} {huge}",
    ):
        assert len(qemu_error(cmdline)) < 400


# ------------------------------------------------------------------------------------------
# Platform files
# ------------------------------------------------------------------------------------------

SMALL = """\
name = "small"
[[host_bridge]]
uid = 12
  [[host_bridge.root_port]]
  port = 0
    [host_bridge.root_port.device]
    ram = "512M"
    serial = 0x10
[[window]]
targets = [12]
size = "4G"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def file_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PlatformError) as error:
        load_platform_file(path)
    message = one_line(error)
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


DEV = "host_bridge[0].root_port[0].device"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('ram = "512M"', 'ram = "32E"', f"{DEV}.ram: '32E' is more than 2^64-1 bytes"),
        (
            'ram = "512M"',
            "ram = 36893488147419103232",
            f"{DEV}.ram: 36893488147419103232 is more than 2^64-1 bytes",
        ),
        ('ram = "512M"', "ram = -268435456", f"{DEV}.ram: a size must not be negative: -268435456"),
        ('ram = "512M"', 'ram = "٥١٢M"', f"{DEV}.ram: not a size: '٥١٢M' {HINT}"),
        ('ram = "512M"', 'ram = "5_12M"', f"{DEV}.ram: not a size: '5_12M' {HINT}"),
        ('ram = "512M"', 'ram = "512M "', f"{DEV}.ram: not a size: '512M ' {HINT}"),
        ('ram = "512M"', 'ram = "0x20M"', f"{DEV}.ram: not a size: '0x20M' {HINT}"),
        (
            'ram = "512M"',
            'ram = "8P"',
            "host bridge 12: root port 0: device: capacity "
            "0x20000000000000 is over 4 PiB, more than the 52-bit physical address space can map",
        ),
        (
            'ram = "512M"',
            "ram = 1.5e9",
            f"{DEV}.ram: expected a size such as 256M, got 1500000000.0",
        ),
        (
            "serial = 0x10",
            "serial = -1",
            f"{DEV}.serial: -1 is out of range (0 to 18446744073709551615)",
        ),
        (
            "serial = 0x10",
            "serial = 0x10\nnuma_node = 1024",
            f"{DEV}.numa_node: 1024 is out of range (-1 to 1023)",
        ),
        (
            "serial = 0x10",
            "serial = 0x10\nnuma_node = -2",
            f"{DEV}.numa_node: -2 is out of range (-1 to 1023)",
        ),
        (
            "serial = 0x10",
            "serial = 0x10\nqos_class = -1",
            f"{DEV}.qos_class: -1 is out of range (0 to 65535)",
        ),
        (
            "serial = 0x10",
            "serial = 0x10\ndecoders = 0",
            "host bridge 12: root port 0: "
            "device: 0 HDM decoders is not encodable (use 1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, "
            "28, 32)",
        ),
        (
            "serial = 0x10",
            "serial = 0x10\ndecoders = -4",
            "host bridge 12: root port 0: "
            "device: -4 HDM decoders is not encodable (use 1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, "
            "28, 32)",
        ),
        (
            "serial = 0x10",
            "serial = 0x10\ndecoders = 99999999999999999999999",
            f"{DEV}.decoders:"
            " 99999999999999999999999 is out of range (-9223372036854775808 to "
            "18446744073709551615)",
        ),
        (
            "serial = 0x10",
            'serial = 0x10\nfirmware_version = "v1\\u0007"',
            "host bridge 12: "
            "root port 0: device: firmware version 'v1\\x07' is not printable ASCII",
        ),
        ("uid = 12", "uid = -1", "host_bridge[0].uid: -1 is out of range (0 to 4294967295)"),
        (
            "port = 0",
            "port = -1",
            "host_bridge[0].root_port[0].port: -1 is out of range (0 to 255)",
        ),
        (
            "targets = [12]",
            "targets = [-12]",
            "window[0].targets: expected a list of host bridge uids",
        ),
        (
            "targets = [12]",
            "targets = []",
            "window 0: 0 targets is not a valid interleave (use 1, 2, 3, 4, 6, 8, 12, 16)",
        ),
        ('size = "4G"', 'size = "0"', "window 0: size 0x0 is not a positive multiple of 256M"),
        ('size = "4G"', 'size = "4P"', "window 0: ends beyond the 52-bit physical address space"),
        (
            'size = "4G"',
            'size = "4G"\nbase = "0xffffff0000000"',
            "window 0: ends beyond the 52-bit physical address space",
        ),
        (
            'size = "4G"',
            'size = "4G"\nqos_class = 65536',
            "window[0].qos_class: 65536 is out of range (0 to 65535)",
        ),
        ('name = "small"', 'name = ""', "name: must not be empty"),
        (
            'name = "small"',
            'name = "two\\nlines"',
            "name: 'two\\nlines' contains control characters",
        ),
        (
            'name = "small"',
            'name = "small"\ndescription = "a\\u001b[31m"',
            "description: 'a\\x1b[31m' contains control characters",
        ),
        (
            'name = "small"',
            'name = "small"\nsystem_ram = "1E"',
            "system_ram 0x1000000000000000 does not fit the 52-bit physical address space",
        ),
        (
            'name = "small"',
            'name = "small"\nsystem_ram = "9T"',
            "platform 'small': 73728 "
            "memory blocks of 0x8000000 exceed the limit of 65536 (less RAM, or a larger "
            "memory_block_size)",
        ),
        (
            'name = "small"',
            'name = "small"\nwindow_base = "15E"',
            "window_base 0xf000000000000000 is beyond the 52-bit physical address space",
        ),
        (
            "port = 0",
            "port = 0\nx = " + "9" * 5000,
            "invalid TOML: an integer with too many digits",
        ),
        (
            "port = 0",
            "port = 0\nx = " + "[" * 5000 + "]" * 5000,
            "invalid TOML: arrays or tables nested too deeply",
        ),
    ],
)
def test_file_values(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SMALL
    assert file_error(tmp_path, SMALL.replace(old, new, 1)) == message


@pytest.mark.parametrize(
    "text", ['"0.5G"', '"0x20000000"', '"512MiB"', '" +512M"', "536870912", "0x2000_0000"]
)
def test_file_sizes_as_qemu_reads_them(tmp_path: Path, text: str) -> None:
    platform = load_platform_file(write(tmp_path, SMALL.replace('"512M"', text)))
    assert platform.devices()[0].ram_size == 512 * MiB


@pytest.mark.parametrize(
    ("label", "accepted"),
    [
        ("left", True),
        ("cxl_mem.0", True),
        ("rp-1", True),
        ("a..b", True),  # no '/', so it stays one path component
        ("x" * 255, True),
        ("", True),  # no label
        ("x" * 256, False),
        ("..", False),
        (".hidden", False),
        ("a/b", False),
        ("../../etc", False),
        ("0dev", False),
        ("mem 0", False),
        ("mém", False),
        ("mem\n0", False),
        ("-x", False),
    ],
)
def test_labels_are_qemu_ids(tmp_path: Path, label: str, accepted: bool) -> None:
    text = SMALL.replace("serial = 0x10", f"serial = 0x10\nlabel = {json.dumps(label)}")
    if accepted:
        assert load_platform_file(write(tmp_path, text)).devices()[0].label == label
        return
    message = file_error(tmp_path, text)
    assert message.startswith(f"{DEV}.label: label ")
    assert message.endswith(
        "is longer than 255 bytes"
        if len(label) > 255
        else "is not an identifier (an ASCII letter, then letters, digits, '-', '.' or '_')"
    )


CXL_TEST = """\
style = "cxl_test"
[[host_bridge]]
uid = 0
label = "hb0"
  [[host_bridge.root_port]]
  port = 0
  label = "rp0"
    [host_bridge.root_port.device]
    ram = "1G"
    label = "m0"
  [[host_bridge.root_port]]
  port = 1
  label = "rp1"
    [host_bridge.root_port.device]
    ram = "1G"
    label = "m1"
[[window]]
targets = [0]
size = "4G"
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'label = "rp1"',
            'label = "rp0"',
            "host bridge hb0: root port rp0: its name 'devices/platform/hb0/rp0' is that of "
            "host bridge hb0: root port rp0 too (labels must differ)",
        ),
        (
            'label = "hb0"',
            'label = "cxl_acpi.0"',
            "host bridge cxl_acpi.0: its name 'devices/platform/cxl_acpi.0' is that of the CXL "
            "root too (labels must differ)",
        ),
        ('label = "m1"', 'label = "m0"', "duplicate device label 'm0'"),
        (
            'label = "hb0"',
            'label = "../hb0"',
            "host_bridge[0].label: label '../hb0' is not an "
            "identifier (an ASCII letter, then letters, digits, '-', '.' or '_')",
        ),
    ],
)
def test_cxl_test_names_stay_distinct(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert file_error(tmp_path, CXL_TEST.replace(old, new, 1)) == message


AUTO = (
    CXL_TEST.replace('uid = 0\nlabel = "hb0"', 'uid = 0\nlabel = "hb0"\ndecoders = 1')
    + """\
[[auto_region]]
window = 0
size = "512M"
members = ["m0"]
[[auto_region]]
window = 0
size = "512M"
base = 0x1020000000
members = ["m1"]
"""
)


def test_auto_regions_fit_the_decoders_on_their_way(tmp_path: Path) -> None:
    """Two regions through a host bridge with one decoder: refused (the kernel would index
    past its decoders)."""
    assert file_error(tmp_path, AUTO) == (
        "auto region 1: host bridge hb0: no decoder left (it has 1)"
    )
    from fake_sysfs.kernel.boot import boot

    boot(load_platform_file(write(tmp_path, AUTO.replace("decoders = 1", "decoders = 2"))))
    two_ways = (
        AUTO.replace("decoders = 1", "decoders = 4\ntargets = 1")
        .replace('members = ["m1"]', 'members = ["m0", "m1"]')
        .replace('size = "512M"\nbase', 'size = "1G"\nbase')
    )
    assert file_error(tmp_path, two_ways) == (
        "auto region 1: host bridge hb0: its decoders take 1 targets, this region needs 2"
    )
    beyond = AUTO.replace("base = 0x1020000000", 'base = "0x10000000000000"')
    assert file_error(tmp_path, beyond) == (
        "auto region 1: ends beyond the 52-bit physical address space"
    )


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    with path.open("w") as file:
        file.write(SMALL)
        file.write("#" * (16 << 20))
    with pytest.raises(PlatformError) as error:
        load_platform_file(path)
    assert one_line(error) == f"{path}: larger than 16 MiB"


# ------------------------------------------------------------------------------------------
# Presets: scale-N and scale:HxR[xS]
# ------------------------------------------------------------------------------------------

SCALE_USAGE = (
    "use scale-64, scale-256, scale-1024 or scale:HxR or scale:HxRxS (H, R, S decimal numbers)"
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("scale:٣x1", f"bad scale preset 'scale:٣x1': {SCALE_USAGE}"),
        ("scale:３x1", f"bad scale preset 'scale:３x1': {SCALE_USAGE}"),
        ("scale:1_0x1", f"bad scale preset 'scale:1_0x1': {SCALE_USAGE}"),
        ("scale:+1x1", f"bad scale preset 'scale:+1x1': {SCALE_USAGE}"),
        ("scale: 1x1", f"bad scale preset 'scale: 1x1': {SCALE_USAGE}"),
        ("scale:1x1\n", f"bad scale preset 'scale:1x1\\n': {SCALE_USAGE}"),
        ("scale:1x", f"bad scale preset 'scale:1x': {SCALE_USAGE}"),
        ("scale", f"bad scale preset 'scale': {SCALE_USAGE}"),
        (
            "scale-٦٤",
            "unknown scale preset 'scale-٦٤' (use scale-64, scale-256, scale-1024 or scale:HxRxS)",
        ),
        (
            "scale-064",
            "unknown scale preset 'scale-064' (use scale-64, scale-256, scale-1024 or scale:HxRxS)",
        ),
        ("scale:0x1", "scale:0x1: use 1 to 64 host bridges"),
        ("scale:65x1", "scale:65x1: use 1 to 64 host bridges"),
        ("scale:1x0", "scale:1x0: use 1 to 32 root ports (a PCI bus has 32 device numbers)"),
        ("scale:1x33", "scale:1x33: use 1 to 32 root ports (a PCI bus has 32 device numbers)"),
        (
            "scale:1x1x33",
            "scale:1x1x33: use 0 to 32 switch ports (a PCI bus has 32 device numbers)",
        ),
        (
            "scale:1x8x32",
            "scale:1x8x32: each host bridge needs 272 PCI buses below bus 0xc, "
            "more than the 243 left (fewer root ports or switch ports)",
        ),
        ("scale:999999999x1", f"bad scale preset 'scale:999999999x1': {SCALE_USAGE}"),
    ],
)
def test_scale_names(name: str, message: str) -> None:
    with pytest.raises(PlatformError) as error:
        load_preset(name)
    assert one_line(error) == message


@pytest.mark.parametrize("name", ["scale:" + "9" * 5000 + "x1", "scale-" + "9" * 5000])
def test_huge_scale_numbers(name: str) -> None:
    """int() of more than 4300 digits raises ValueError; the name is refused before that."""
    with pytest.raises(PlatformError) as error:
        load_preset(name)
    message = one_line(error)
    assert message.split(" '")[0] in ("bad scale preset", "unknown scale preset")
    assert "'scale" in message and "..." in message and len(message) < 200


@pytest.mark.parametrize(
    ("name", "memdevs"),
    [("scale:3x1", 3), ("scale:2x3x4", 24), ("scale:1x32", 32), ("scale:1x7x32", 224)],
)
def test_scale_shapes(name: str, memdevs: int) -> None:
    platform = load_preset(name)
    assert len(platform.devices()) == memdevs
    # PCI device numbers stay 0 to 31 (the dd of ssss:bb:dd.f) and buses below 256.
    paths = [rp.path for hb in platform.host_bridges for rp in hb.root_ports]
    paths += [
        sp.path
        for hb in platform.host_bridges
        for rp in hb.root_ports
        if rp.switch is not None
        for sp in rp.switch.ports
    ]
    paths += [d.path for d in platform.devices()]
    for path in paths:
        _, bus, devfn = path.rsplit("/", 1)[1].split(":")
        assert int(bus, 16) <= 0xFF and int(devfn.split(".")[0], 16) < 32


def test_largest_scale_shapes() -> None:
    shape = scale_shape("scale:64x4x32")
    assert shape is not None
    assert shape.host_bridges * shape.root_ports * shape.switch_ports == MAX_MEMDEVS == 8192
    with pytest.raises(PlatformError) as error:
        scale_shape("scale:64x5x32")
    assert one_line(error) == "scale:64x5x32: 10240 memdevs exceed the limit of 8192"


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=20).map(lambda s: "scale" + s)
    | st.from_regex(r"scale:[0-9]{1,3}x[0-9]{1,3}(x[0-9]{1,3})?", fullmatch=True)
    | st.from_regex(r"scale-[0-9]{1,5}", fullmatch=True)
)
def test_any_scale_name_is_bounded_or_one_line(name: str) -> None:
    try:
        shape = scale_shape(name)
    except PlatformError as error:
        assert "\n" not in str(error) and len(str(error)) < 300
        return
    assert shape is not None
    memdevs = shape.host_bridges * shape.root_ports * max(shape.switch_ports, 1)
    assert 1 <= memdevs <= MAX_MEMDEVS
    if memdevs <= 256:
        assert len(load_preset(name).devices()) == memdevs


# ------------------------------------------------------------------------------------------
# Limits, whatever the source
# ------------------------------------------------------------------------------------------


def device(decoders: int = 4) -> Type3Device:
    return Type3Device(ram_size=256 * MiB, decoders=decoders)


def platform_of(bridges: list[HostBridge], windows: list[Window] | None = None) -> Platform:
    if windows is None:
        windows = [Window(size=256 * MiB, targets=[bridges[0].uid])]
    return Platform(name="big", host_bridges=bridges, windows=windows)


def limit_error(platform: Platform) -> str:
    with pytest.raises(PlatformError) as error:
        finalize(platform)
    return one_line(error)


def bridge(uid: int, root_ports: int, devices: bool = True) -> HostBridge:
    return HostBridge(
        uid=uid,
        bus_nr=1,
        segment=uid,
        root_ports=[
            RootPort(port=r, device=device() if devices else None) for r in range(root_ports)
        ],
    )


def switched_bridge(uid: int) -> HostBridge:
    """4 root ports, each with a 32-port switch: 128 devices on buses 2 to 137."""
    return HostBridge(
        uid=uid,
        bus_nr=1,
        segment=uid,
        root_ports=[
            RootPort(port=r, switch=Switch(ports=[SwitchPort(p, device()) for p in range(32)]))
            for r in range(4)
        ],
    )


def test_memdev_limit() -> None:
    count = MAX_MEMDEVS // 128
    assert limit_error(platform_of([switched_bridge(h) for h in range(count + 1)])) == (
        f"platform 'big': {(count + 1) * 128} memory devices exceed the limit of 8192 memdevs"
    )
    assert len(finalize(platform_of([switched_bridge(h) for h in range(count)])).devices()) == (
        MAX_MEMDEVS
    )


def test_host_bridge_limit() -> None:
    bridges = [bridge(h, 1, devices=False) for h in range(MAX_HOST_BRIDGES + 1)]
    assert limit_error(platform_of(bridges)) == (
        "platform 'big': 257 host bridges exceed the limit of 256"
    )


def test_window_limit() -> None:
    windows = [Window(size=256 * MiB, targets=[0]) for _ in range(MAX_WINDOWS + 1)]
    assert limit_error(platform_of([bridge(0, 1)], windows)) == (
        "platform 'big': 257 windows exceed the limit of 256"
    )
    placed = finalize(platform_of([bridge(0, 1)], windows[:MAX_WINDOWS]))
    bases = [w.base for w in placed.windows]
    assert bases == [0x10_0000_0000 + i * 256 * MiB for i in range(MAX_WINDOWS)]


def test_auto_region_limit() -> None:
    platform = platform_of([bridge(0, 1)])
    platform.auto_regions = [
        AutoRegion(window=0, size=256 * MiB, granularity=256, members=["x"]) for _ in range(1025)
    ]
    assert limit_error(platform) == "platform 'big': 1025 auto regions exceed the limit of 1024"


def test_decoder_limit() -> None:
    # 64 host bridges x 32 root ports x one 32-decoder device, plus 4 decoders each.
    bridges = [bridge(h, 32) for h in range(64)]
    for hb in bridges:
        for rp in hb.root_ports:
            assert rp.device is not None
            rp.device.decoders = 32
    expected = 1 + 64 * 4 + 64 * 32 * 32
    assert expected > MAX_DECODERS
    assert limit_error(platform_of(bridges)) == (
        f"platform 'big': {expected} decoders (root, host bridge, switch and endpoint) exceed "
        "the limit of 65536"
    )


def test_pci_device_numbers() -> None:
    assert limit_error(platform_of([bridge(0, 33)])) == (
        "host bridge 0: 33 root ports do not fit on one PCI bus (at most 32)"
    )
    sw = Switch(ports=[SwitchPort(port=p, device=device()) for p in range(33)], label="sw")
    hb = HostBridge(uid=0, root_ports=[RootPort(port=0, switch=sw)])
    assert limit_error(platform_of([hb])) == (
        "host bridge 0: root port 0: switch sw: 33 downstream ports do not fit on one PCI bus "
        "(at most 32)"
    )


def test_memory_block_limit() -> None:
    platform = platform_of([bridge(0, 1)])
    platform.system_ram = (MAX_MEMORY_BLOCKS + 1) * 128 * MiB
    assert limit_error(platform) == (
        "platform 'big': 65537 memory blocks of 0x8000000 exceed the limit of 65536 (less RAM, "
        "or a larger memory_block_size)"
    )
    platform.memory_block_size = 2 * GiB  # the same RAM in Linux's large-machine blocks
    finalize(platform)


# ------------------------------------------------------------------------------------------
# Nothing is written
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--qemu", ONE.replace("size=256M", "size=32E")],
        ["--qemu", f"{ONE} -device cxl-typo,bus=rp0"],
        ["--platform", "scale:٣x1"],
        ["--platform", "scale:64x8x32"],
    ],
)
def test_bad_input_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    from fake_sysfs.cli import main

    state = tmp_path / "state"
    with pytest.raises(SystemExit) as exit_info:
        main(["init", "--state", str(state), *args])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert err.startswith("fake-sysfs: ") and err.count("\n") == 1
    assert not (state / "state.json").exists()


# == where a platform source is named =========================================================


def test_a_platform_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    import os

    from fake_sysfs.store import load_platform_source

    fifo = tmp_path / "platform.toml"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(PlatformError) as info:
        load_platform_source(str(fifo), None)
    assert str(info.value) == f"{fifo}: not a regular file"
    with pytest.raises(PlatformError) as info:
        load_platform_source(str(tmp_path), None)  # a directory
    assert str(info.value) == f"{tmp_path}: not a regular file"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "--platform: the name is empty"),
        ("a" * 5000, f"platform file {'a' * 80!r}: File name too long"),
        ("x\0y", "platform file 'x\\x00y': embedded null byte"),
    ],
)
def test_platform_names_no_file_can_have(name: str, message: str) -> None:
    from fake_sysfs.store import load_platform_source

    with pytest.raises(PlatformError) as info:
        load_platform_source(name, None)
    assert str(info.value) == message
