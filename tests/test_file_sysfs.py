"""``cxl list`` over hand-made sysfs trees read through the file-backed reader.

Each test builds a small tree in a pyfakefs file system, changes one thing in it, points pycxl
at it with ``PYCXL_SYSFS_ROOT`` and compares stdout, stderr and the exit status byte for byte
with literal expectations.

Where the expectations come from: every tree here was also written to disk and listed by the
upstream ``cxl`` binary (Debian's ndctl 76.1) inside a private mount namespace, with the tree
mounted over /sys and /dev (``run_upstream`` below). What it printed was translated to v81,
the version pycxl follows: v81 adds ``pmem_qos_class``/``ram_qos_class``/``firmware_version``
to memdevs, ``parent_dport``/``decoders_committed`` to ports and endpoints, ``qos_class`` to
root decoders and ``type`` to regions. Where the two versions disagree beyond those keys (v76.1
requires ``pmem/size``, ``ram/size``, ``payload_max``, ``label_storage_size`` and
``firmware_version``; v81 does not), the expectation follows the v81 rules of the spec and the
test says so. ``test_upstream_still_agrees`` re-runs upstream on some trees so the recorded
expectations stay honest; it is skipped without root, unshare or /usr/bin/cxl, except when
the environment variable CI is "true", where it fails instead. Cases marked ``bug`` record
upstream's output where pycxl differs from it (xfail, strict).

The base tree: bus ``root0`` (ACPI0017:00) with one dport (``dport12``: the ACPI0016:00 host
bridge, physical node ``pci0000:0c``) and root decoder ``decoder0.0`` holding the committed
2-way pmem region ``region0``; host-bridge port ``port1`` with two root-port dports (firmware
nodes ``device:00``/``device:01``), decoders ``decoder1.0`` (2-way, region0) and ``decoder1.1``
(size 0); endpoints ``endpoint2`` -> ``mem0`` and ``endpoint3`` -> ``mem1``; and a memdev
``mem2`` without a driver (disabled). Symlinks are relative, as in real sysfs; /dev/cxl/memN
are regular files (pyfakefs cannot make character devices, and libcxl only stat()s them).
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import random
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pyfakefs.helpers import FakeStatResult

# Imported up front, so that pycxl's lazy imports never look for modules in the fake file system.
import pycxl.cxl.commands.list
import pycxl.sysfs.files
from pycxl.cxl import main as cxl_main
from tests.kernfs_reference import reference_sorted

# ---------------------------------------------------------------------------------------------
# kernfs readdir order

# ---------------------------------------------------------------------------------------------
# trees: {"sys/devices/...": bytes | Link | DIR}


@dataclass(frozen=True)
class Link:
    """A symlink to ``target``, a path as seen inside the tree (``/sys/...``, ``/dev/...``).
    It is written relative to the link's directory, as sysfs does, unless ``absolute``."""

    target: str
    absolute: bool = False


DIR = None  # an (otherwise empty) directory
Tree = dict[str, "bytes | Link | None"]


def _children(tree: Tree) -> dict[str, list[str]]:
    """Directory -> entry names, in the tree's own order; "" is the tree's root."""
    kids: dict[str, list[str]] = {"": []}
    seen: set[str] = set()
    for path in tree:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in seen:
                seen.add(sub)
                kids.setdefault("/".join(parts[: i - 1]), []).append(parts[i - 1])
    return kids


def write_tree(tree: Tree, root: str, order: str = "reverse-kernfs") -> None:
    """Create ``tree`` below ``root``. ``order`` is the creation order of each directory's
    entries: "kernfs", "reverse-kernfs" (gives kernfs readdir order on tmpfs, which lists the
    newest entry first), "as-given" (the dict's order), "reversed" or "shuffled"."""
    kids = _children(tree)
    shuffle = random.Random(0)

    def make(rel: str) -> None:
        names = kids.get(rel, [])
        if order == "kernfs":
            names = reference_sorted(names)
        elif order == "reverse-kernfs":
            names = reference_sorted(names)[::-1]
        elif order == "reversed":
            names = names[::-1]
        elif order == "shuffled":
            names = shuffle.sample(names, len(names))
        else:
            assert order == "as-given", order
        for name in names:
            path = f"{rel}/{name}" if rel else name
            host = os.path.join(root, path)
            value = tree.get(path, DIR)
            if isinstance(value, Link):
                target = value.target
                if not value.absolute:
                    target = posixpath.relpath(target, posixpath.dirname("/" + path))
                os.symlink(target, host)
            elif value is DIR:
                os.mkdir(host)
                make(path)
            else:
                with open(host, "wb") as f:
                    f.write(value)

    os.makedirs(root, exist_ok=True)
    make("")


def tree_path(guest: str) -> str:
    """``/sys/x`` -> the tree key ``sys/x``."""
    return guest.lstrip("/")


def drop(tree: Tree, guest: str) -> Tree:
    """A copy of ``tree`` without ``guest`` and everything below it."""
    key = tree_path(guest)
    out = {p: v for p, v in tree.items() if p != key and not p.startswith(key + "/")}
    assert len(out) < len(tree), f"{guest} is not in the tree"
    return out


def put(tree: Tree, guest: str, value: bytes | str | Link | None) -> Tree:
    """A copy of ``tree`` with ``guest`` set; text gets a newline, bytes are taken as-is."""
    out = dict(tree)
    out[tree_path(guest)] = f"{value}\n".encode() if isinstance(value, str) else value
    return out


def rename(tree: Tree, old: str, new: str) -> Tree:
    """A copy of ``tree`` with the entry ``old`` (and its subtree) moved to ``new``."""
    o, n = tree_path(old), tree_path(new)
    out: Tree = {}
    for p, v in tree.items():
        if p == o or p.startswith(o + "/"):
            out[n + p[len(o) :]] = v
        else:
            out[p] = v
    return out


def edit_files(tree: Tree, under: str, edit: Callable[[bytes], bytes]) -> Tree:
    """A copy of ``tree`` with every regular file below ``under`` passed through ``edit``."""
    key = tree_path(under) + "/"
    return {
        p: edit(v) if isinstance(v, bytes) and p.startswith(key) else v for p, v in tree.items()
    }


def absolute_links(tree: Tree) -> Tree:
    """A copy of ``tree`` whose symlinks all point at absolute ``/sys/...`` paths."""
    return {p: replace(v, absolute=True) if isinstance(v, Link) else v for p, v in tree.items()}


# ---------------------------------------------------------------------------------------------
# the base tree

PLATFORM = "/sys/devices/platform/ACPI0017:00"
ROOT0 = f"{PLATFORM}/root0"
DEC00 = f"{ROOT0}/decoder0.0"
REGION0 = f"{DEC00}/region0"
PORT1 = f"{ROOT0}/port1"
DEC10 = f"{PORT1}/decoder1.0"
DEC11 = f"{PORT1}/decoder1.1"
EP2 = f"{PORT1}/endpoint2"
EP3 = f"{PORT1}/endpoint3"
DEC20 = f"{EP2}/decoder2.0"
DEC30 = f"{EP3}/decoder3.0"
ACPI_HB = "/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0016:00"
HB = "/sys/devices/pci0000:0c"
RP0 = f"{HB}/0000:0c:00.0"
RP1 = f"{HB}/0000:0c:01.0"
MEM0 = f"{RP0}/0000:0d:00.0/mem0"
MEM1 = f"{RP1}/0000:0e:00.0/mem1"
MEM2 = f"{RP1}/0000:0e:00.1/mem2"
DRIVERS = "/sys/bus/cxl/drivers"
DEVICES = "/sys/bus/cxl/devices"
UUID = "a4c32b9d-1c4c-4a2e-9d6e-0c1a4f2b7e61"


def base_tree() -> Tree:
    t: Tree = {}

    def attrs(base: str, **values: str) -> None:
        for name, value in values.items():
            t[tree_path(f"{base}/{name}")] = f"{value}\n".encode()

    def link(path: str, target: str) -> None:
        t[tree_path(path)] = Link(target)

    for drv in ("cxl_mem", "cxl_port", "cxl_region"):
        attrs(f"{DRIVERS}/{drv}", bind="", unbind="")
    t["sys/bus/cxl/flush"] = b""

    # ACPI and PCI devices
    t[tree_path(f"{ACPI_HB}/device:00")] = DIR
    t[tree_path(f"{ACPI_HB}/device:01")] = DIR
    link(f"{ACPI_HB}/physical_node", HB)
    link(f"{HB}/firmware_node", ACPI_HB)
    link(f"{RP0}/firmware_node", f"{ACPI_HB}/device:00")
    link(f"{RP1}/firmware_node", f"{ACPI_HB}/device:01")

    # the CXL root with its decoder and region
    link(f"{ROOT0}/uport", PLATFORM)
    link(f"{ROOT0}/dport12", ACPI_HB)
    attrs(
        DEC00,
        start="0x1000000000",
        size="0x100000000",
        interleave_ways="1",
        interleave_granularity="256",
        target_list="12",
        cap_pmem="1",
        cap_ram="1",
        cap_type2="0",
        cap_type3="1",
        locked="0",
        qos_class="42",
        target_type="expander",
        create_pmem_region="region1",
        create_ram_region="region1",
        delete_region="",
    )
    attrs(
        REGION0,
        uuid=UUID,
        size="0x20000000",
        resource="0x1000000000",
        interleave_ways="2",
        interleave_granularity="256",
        commit="1",
        mode="pmem",
        target0="decoder2.0",
        target1="decoder3.0",
    )
    link(f"{REGION0}/driver", f"{DRIVERS}/cxl_region")

    # the host-bridge port and its two root ports
    link(f"{PORT1}/uport", HB)
    link(f"{PORT1}/driver", f"{DRIVERS}/cxl_port")
    link(f"{PORT1}/dport0", RP0)
    link(f"{PORT1}/dport1", RP1)
    attrs(PORT1, decoders_committed="1")
    switch_decoder = {"locked": "0", "target_type": "expander"}
    attrs(
        DEC10,
        start="0x1000000000",
        size="0x20000000",
        interleave_ways="2",
        interleave_granularity="256",
        target_list="0,1",
        region="region0",
        **switch_decoder,
    )
    attrs(
        DEC11,
        start="0x0",
        size="0x0",
        interleave_ways="1",
        interleave_granularity="256",
        target_list="",
        region="",
        **switch_decoder,
    )

    # endpoints and memdevs
    for ep, dec, rp, mem, dpa in ((EP2, DEC20, RP0, MEM0, "0x0"), (EP3, DEC30, RP1, MEM1, "0x0")):
        link(f"{ep}/uport", mem)
        link(f"{ep}/driver", f"{DRIVERS}/cxl_port")
        link(f"{ep}/parent_dport", rp)
        attrs(ep, decoders_committed="1")
        attrs(
            dec,
            start="0x1000000000",
            size="0x20000000",
            interleave_ways="2",
            interleave_granularity="256",
            region="region0",
            dpa_resource=dpa,
            dpa_size="0x10000000",
            mode="pmem",
            **switch_decoder,
        )
    for mem, serial, numa in ((MEM0, "0x0", "0"), (MEM1, "0x1", "1"), (MEM2, "0x2", "-1")):
        attrs(
            mem,
            payload_max="2048",
            label_storage_size="131072",
            serial=serial,
            numa_node=numa,
            firmware_version="BWFW VERSION 00",
        )
        if mem == MEM2:
            attrs(f"{mem}/pmem", size="0x0")
            attrs(f"{mem}/ram", size="0x10000000", qos_class="7")
        else:
            attrs(f"{mem}/pmem", size="0x10000000", qos_class="42")
            attrs(f"{mem}/ram", size="0x0")
            link(f"{mem}/driver", f"{DRIVERS}/cxl_mem")
        name = posixpath.basename(mem)
        t[f"dev/cxl/{name}"] = b""

    # the bus's device links (libcxl only follows rootN and memN)
    for dev in (ROOT0, PORT1, EP2, EP3, MEM0, MEM1, MEM2, DEC00, DEC10, DEC11, DEC20, DEC30):
        link(f"{DEVICES}/{posixpath.basename(dev)}", dev)
    link(f"{DEVICES}/region0", REGION0)
    return t


def with_spare_memdevs(tree: Tree, ids: Iterable[int]) -> Tree:
    """A copy of ``tree`` with disabled memdevs ``memN`` (no endpoint, no driver), one per
    PCI function below the second root port, for readdir-order checks."""
    out = dict(tree)
    for n in ids:
        mem = f"{RP1}/0000:0f:{n:02x}.0/mem{n}"
        for attr, value in (
            ("pmem/size", "0x0"),
            ("ram/size", f"{n:#x}0000000"),
            ("payload_max", "2048"),
            ("label_storage_size", "0"),
            ("serial", f"{n:#x}"),
            ("numa_node", "-1"),
            ("firmware_version", "BWFW VERSION 00"),
        ):
            out[tree_path(f"{mem}/{attr}")] = f"{value}\n".encode()
        out[f"dev/cxl/mem{n}"] = b""
        out[tree_path(f"{DEVICES}/mem{n}")] = Link(mem)
    return out


# ---------------------------------------------------------------------------------------------
# running pycxl on a pyfakefs tree

FAKE = "/t"


def run_pycxl(
    tree: Tree, args: list[str], monkeypatch: pytest.MonkeyPatch, order: str = "as-given"
) -> tuple[int, bytes, bytes]:
    """Write ``tree`` to /t (the fake file system must be active) and run ``cxl list``."""
    # pyfakefs' stat results have no st_rdev; a regular file's is 0 on a real system.
    monkeypatch.setattr(FakeStatResult, "st_rdev", 0, raising=False)
    if os.path.exists(FAKE):
        shutil.rmtree(FAKE)
    write_tree(tree, FAKE, order)
    monkeypatch.setenv("PYCXL_SYSFS_ROOT", f"{FAKE}/sys")
    monkeypatch.delenv("PYCXL_DEV_ROOT", raising=False)
    monkeypatch.delenv("CXL_LOG", raising=False)
    out, err = io.BytesIO(), io.BytesIO()
    for name, buf in (("stdout", out), ("stderr", err)):
        text = io.TextIOWrapper(buf, encoding="utf-8", errors="surrogateescape", write_through=True)
        monkeypatch.setattr(sys, name, text)
    rc = cxl_main.run(["list", *args])
    sys.stdout.flush()
    sys.stderr.flush()
    return rc, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------------------------
# running upstream on the same tree (see test_upstream_still_agrees)

UPSTREAM = "/usr/bin/cxl"
HELPER_FAILED = 125


def _encode(tree: Tree) -> bytes:
    rows = []
    for path, value in tree.items():
        if isinstance(value, Link):
            rows.append([path, "l", value.target, value.absolute])
        elif value is DIR:
            rows.append([path, "d"])
        else:
            rows.append([path, "f", value.decode("latin-1")])
    return json.dumps(rows).encode()


def _decode(data: bytes) -> Tree:
    tree: Tree = {}
    for row in json.loads(data):
        if row[1] == "l":
            tree[row[0]] = Link(row[2], row[3])
        elif row[1] == "d":
            tree[row[0]] = DIR
        else:
            tree[row[0]] = row[2].encode("latin-1")
    return tree


def run_upstream(tree: Tree, args: list[str]) -> tuple[int, bytes, bytes]:
    """Run upstream ``cxl list`` with ``tree`` as /sys and /dev, in a private mount namespace
    (the host's /sys and /dev are never touched). Needs root and unshare(1)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LC_ALL": "C",
        # The helper runs this file as a script; it imports from the tests package.
        "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    }
    cmd = ["unshare", "-m", "--propagation", "private", sys.executable, os.path.abspath(__file__)]
    proc = subprocess.run(
        [*cmd, "--namespace-helper", UPSTREAM, "list", *args],
        input=_encode(tree),
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _helper_fail(message: str) -> int:
    sys.stderr.write(f"namespace-helper: {message}\n")
    return HELPER_FAILED


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], check=False).returncode == 0


def _in_reference_sorted(top: str) -> bool:
    for path, _dirs, _files in os.walk(top):
        names = os.listdir(path)
        if names != reference_sorted(names):
            return False
    return True


def _namespace_helper(argv: list[str]) -> int:
    """Inside ``unshare -m``: stage the tree from stdin on a tmpfs in kernfs readdir order,
    mount it over /sys and /dev, hide /lib/modules and /run/udev (nothing gets modprobed and
    nothing waits on udev), and run ``argv``."""
    tree = _decode(sys.stdin.buffer.read())
    # A tmpfs over /tmp, private to this namespace: nothing is left behind on the host.
    if not _mount("-t", "tmpfs", "-o", "mode=1777", "cxl-upstream", "/tmp"):
        return _helper_fail("cannot mount a tmpfs")
    mnt = "/tmp/tree"
    os.mkdir(mnt)
    for order in ("reverse-kernfs", "kernfs"):
        write_tree(tree, mnt, order)
        if _in_reference_sorted(mnt):
            break
        for name in os.listdir(mnt):
            shutil.rmtree(os.path.join(mnt, name))
    else:
        return _helper_fail("tmpfs does not list entries in creation order")
    os.makedirs(f"{mnt}/sys", exist_ok=True)
    os.makedirs(f"{mnt}/dev", exist_ok=True)
    if not os.path.lexists(f"{mnt}/dev/null"):
        os.mknod(f"{mnt}/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    if not (_mount("--bind", f"{mnt}/sys", "/sys") and _mount("--bind", f"{mnt}/dev", "/dev")):
        return _helper_fail("cannot bind-mount the tree")
    for hide in ("/lib/modules", "/run/udev"):
        if os.path.isdir(hide) and not _mount("-t", "tmpfs", "-o", "ro", "cxl-hidden", hide):
            return _helper_fail(f"cannot hide {hide}")
    sys.stdout.flush()
    return subprocess.run(argv, stdin=subprocess.DEVNULL, check=False).returncode


# ---------------------------------------------------------------------------------------------
# the cases

#: Known discrepancies between pycxl and upstream. The cases marked with one hold upstream's
#: output and are xfail(strict=True): they start passing when pycxl is fixed.
FINDING_3 = (
    "FINDING-3: upstream's __sysfs_read_attr returns -errno for a read of >= 1024 bytes, with a"
    " stale errno: where errno happens to be 0 the attribute reads as an empty value, and the"
    " error message shows whatever errno was left; pycxl treats it as unreadable"
)


NO_MATCH = "  Warning: no matching devices found\n\n"
REGION_NAME_ENOENT = (
    "libcxl: cxl_decoder_get_region: failed to read region name: No such file or directory\n"
)


def add_dev_failed(name: str) -> str:
    return f"libcxl: __sysfs_device_parse: {name}: add_dev() failed\n"


def mailbox_failed(mem: str) -> str:
    """What one mailbox command prints when /dev/cxl/memN is a regular file."""
    return (
        f"libcxl: do_cmd: failed to validate /dev/cxl/{mem} as a CXL memdev node\n"
        f"libcxl: alloc_do_query: {mem}: query commands failed: No such device or address\n"
        f"libcxl: cxl_cmd_new_generic: {mem}: query returned: No such device or address\n"
    )


@dataclass(frozen=True)
class Case:
    """``cxl list ARGS`` on ``tree()``: the expected stdout, stderr and exit status (v81)."""

    id: str
    tree: Callable[[], Tree]
    args: list[str]
    out: str
    err: str = ""
    rc: int = 0
    bug: str | None = None  # a known discrepancy: the test is xfail(strict=True)
    upstream_check: bool = False  # also re-checked against upstream (test_upstream_still_agrees)


BASE_FULL = """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem2",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "buses":[
      {
        "bus":"root0",
        "provider":"ACPI.CXL",
        "nr_dports":1,
        "dports":[
          {
            "dport":"ACPI0016:00",
            "alias":"pci0000:0c",
            "id":12
          }
        ],
        "ports:root0":[
          {
            "port":"port1",
            "host":"pci0000:0c",
            "depth":1,
            "decoders_committed":1,
            "nr_dports":2,
            "dports":[
              {
                "dport":"0000:0c:00.0",
                "alias":"device:00",
                "id":0
              },
              {
                "dport":"0000:0c:01.0",
                "alias":"device:01",
                "id":1
              }
            ],
            "endpoints:port1":[
              {
                "endpoint":"endpoint2",
                "host":"mem0",
                "parent_dport":"0000:0c:00.0",
                "depth":2,
                "decoders_committed":1,
                "memdev":{
                  "memdev":"mem0",
                  "pmem_size":268435456,
                  "pmem_qos_class":42,
                  "serial":0,
                  "numa_node":0,
                  "host":"0000:0d:00.0",
                  "firmware_version":"BWFW VERSION 00"
                },
                "decoders:endpoint2":[
                  {
                    "decoder":"decoder2.0",
                    "resource":68719476736,
                    "size":536870912,
                    "interleave_ways":2,
                    "interleave_granularity":256,
                    "region":"region0",
                    "dpa_resource":0,
                    "dpa_size":268435456,
                    "mode":"pmem"
                  }
                ]
              },
              {
                "endpoint":"endpoint3",
                "host":"mem1",
                "parent_dport":"0000:0c:01.0",
                "depth":2,
                "decoders_committed":1,
                "memdev":{
                  "memdev":"mem1",
                  "pmem_size":268435456,
                  "pmem_qos_class":42,
                  "serial":1,
                  "numa_node":1,
                  "host":"0000:0e:00.0",
                  "firmware_version":"BWFW VERSION 00"
                },
                "decoders:endpoint3":[
                  {
                    "decoder":"decoder3.0",
                    "resource":68719476736,
                    "size":536870912,
                    "interleave_ways":2,
                    "interleave_granularity":256,
                    "region":"region0",
                    "dpa_resource":0,
                    "dpa_size":268435456,
                    "mode":"pmem"
                  }
                ]
              }
            ],
            "decoders:port1":[
              {
                "decoder":"decoder1.0",
                "resource":68719476736,
                "size":536870912,
                "interleave_ways":2,
                "interleave_granularity":256,
                "region":"region0",
                "nr_targets":2,
                "targets":[
                  {
                    "target":"0000:0c:01.0",
                    "alias":"device:01",
                    "position":1,
                    "id":1
                  },
                  {
                    "target":"0000:0c:00.0",
                    "alias":"device:00",
                    "position":0,
                    "id":0
                  }
                ]
              },
              {
                "decoder":"decoder1.1",
                "interleave_ways":1,
                "state":"disabled",
                "nr_targets":0
              }
            ]
          }
        ],
        "decoders:root0":[
          {
            "decoder":"decoder0.0",
            "resource":68719476736,
            "size":4294967296,
            "interleave_ways":1,
            "max_available_extent":3758096384,
            "pmem_capable":true,
            "volatile_capable":true,
            "qos_class":42,
            "nr_targets":1,
            "targets":[
              {
                "target":"ACPI0016:00",
                "alias":"pci0000:0c",
                "position":0,
                "id":12
              }
            ],
            "regions:decoder0.0":[
              {
                "region":"region0",
                "resource":68719476736,
                "size":536870912,
                "type":"pmem",
                "interleave_ways":2,
                "interleave_granularity":256,
                "decode_state":"commit",
                "mappings":[
                  {
                    "position":1,
                    "memdev":"mem1",
                    "decoder":"decoder3.0"
                  },
                  {
                    "position":0,
                    "memdev":"mem0",
                    "decoder":"decoder2.0"
                  }
                ]
              }
            ]
          }
        ]
      }
    ]
  }
]
"""

CASES = [
    # Everything, disabled objects included: the reference listing.
    Case(
        "base-full",
        lambda: base_tree(),
        ["-BPEMDRT", "-i"],
        BASE_FULL,
        upstream_check=True,
    ),
    # Bare `cxl list`: memdevs and regions.
    Case(
        "base-default",
        lambda: base_tree(),
        [],
        """\
[
  {
    "memdevs":[
      {
        "memdev":"mem0",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":0,
        "numa_node":0,
        "host":"0000:0d:00.0",
        "firmware_version":"BWFW VERSION 00"
      },
      {
        "memdev":"mem1",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":1,
        "numa_node":1,
        "host":"0000:0e:00.0",
        "firmware_version":"BWFW VERSION 00"
      }
    ]
  },
  {
    "regions":[
      {
        "region":"region0",
        "resource":68719476736,
        "size":536870912,
        "type":"pmem",
        "interleave_ways":2,
        "interleave_granularity":256,
        "decode_state":"commit"
      }
    ]
  }
]
""",
    ),
    # One region with -u: unwrapped, hex strings, human sizes.
    Case(
        "base-regions-human",
        lambda: base_tree(),
        ["-Ru"],
        """\
{
  "region":"region0",
  "resource":"0x1000000000",
  "size":"512.00 MiB (536.87 MB)",
  "type":"pmem",
  "interleave_ways":2,
  "interleave_granularity":256,
  "decode_state":"commit"
}
""",
    ),
    # A bus needs a resolvable uport.
    Case(
        "root-no-uport",
        lambda: drop(base_tree(), f"{ROOT0}/uport"),
        ["-B"],
        """\
[
]
""",
        err=add_dev_failed("root0") + NO_MATCH,
        upstream_check=True,
    ),
    Case(
        "root-uport-dangling",
        lambda: put(base_tree(), f"{ROOT0}/uport", Link(f"{PLATFORM}x")),
        ["-B"],
        """\
[
]
""",
        err=add_dev_failed("root0") + NO_MATCH,
    ),
    # Buses are found only through /sys/bus/cxl/devices/rootN: silently none.
    Case(
        "root-bus-link-missing",
        lambda: drop(base_tree(), f"{DEVICES}/root0"),
        ["-B"],
        """\
[
]
""",
        err=NO_MATCH,
    ),
    # A port needs a uport; its endpoints go with it.
    Case(
        "port-no-uport",
        lambda: drop(base_tree(), f"{PORT1}/uport"),
        ["-PE"],
        """\
[
]
""",
        err=add_dev_failed("port1") + NO_MATCH,
    ),
    # An endpoint needs a uport; its memdev is then shown nowhere.
    Case(
        "endpoint-no-uport",
        lambda: drop(base_tree(), f"{EP2}/uport"),
        ["-EM"],
        """\
[
  {
    "endpoint":"endpoint3",
    "host":"mem1",
    "parent_dport":"0000:0c:01.0",
    "depth":2,
    "decoders_committed":1,
    "memdev":{
      "memdev":"mem1",
      "pmem_size":268435456,
      "pmem_qos_class":42,
      "serial":1,
      "numa_node":1,
      "host":"0000:0e:00.0",
      "firmware_version":"BWFW VERSION 00"
    }
  }
]
""",
        err=add_dev_failed("endpoint2"),
    ),
    # Endpoint and memdev pair by the basename of the uport target.
    Case(
        "endpoint-uport-not-memdev",
        lambda: put(base_tree(), f"{EP2}/uport", Link(posixpath.dirname(MEM0))),
        ["-EM"],
        """\
[
  {
    "endpoint":"endpoint2",
    "host":"0000:0d:00.0",
    "parent_dport":"0000:0c:00.0",
    "depth":2,
    "decoders_committed":1
  },
  {
    "endpoint":"endpoint3",
    "host":"mem1",
    "parent_dport":"0000:0c:01.0",
    "depth":2,
    "decoders_committed":1,
    "memdev":{
      "memdev":"mem1",
      "pmem_size":268435456,
      "pmem_qos_class":42,
      "serial":1,
      "numa_node":1,
      "host":"0000:0e:00.0",
      "firmware_version":"BWFW VERSION 00"
    }
  }
]
""",
    ),
    # /dev/cxl/memN is required.
    Case(
        "memdev-no-devnode",
        lambda: drop(base_tree(), "/dev/cxl/mem0"),
        ["-M"],
        """\
[
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
        err=add_dev_failed("mem0"),
        upstream_check=True,
    ),
    # Only stat() is done on /dev/cxl/memN: any file type will do.
    Case(
        "memdev-devnode-dir",
        lambda: put(base_tree(), "/dev/cxl/mem0", DIR),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # Memdevs are found only through /sys/bus/cxl/devices/memN.
    Case(
        "memdev-bus-link-missing",
        lambda: drop(base_tree(), f"{DEVICES}/mem0"),
        ["-EM"],
        """\
[
  {
    "endpoint":"endpoint2",
    "host":"mem0",
    "parent_dport":"0000:0c:00.0",
    "depth":2,
    "decoders_committed":1
  },
  {
    "endpoint":"endpoint3",
    "host":"mem1",
    "parent_dport":"0000:0c:01.0",
    "depth":2,
    "decoders_committed":1,
    "memdev":{
      "memdev":"mem1",
      "pmem_size":268435456,
      "pmem_qos_class":42,
      "serial":1,
      "numa_node":1,
      "host":"0000:0e:00.0",
      "firmware_version":"BWFW VERSION 00"
    }
  }
]
""",
    ),
    Case(
        "memdev-link-dangling",
        lambda: put(base_tree(), f"{DEVICES}/mem0", Link(MEM0 + "x")),
        ["-M"],
        """\
[
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
        err=add_dev_failed("mem0"),
    ),
    # A payload_max that is negative as an int drops the memdev (both versions).
    Case(
        "memdev-payload-negative",
        lambda: put(base_tree(), f"{MEM0}/payload_max", "-1"),
        ["-M"],
        """\
[
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
        err=add_dev_failed("mem0"),
        upstream_check=True,
    ),
    # So does a label_storage_size of ULLONG_MAX.
    Case(
        "memdev-label-size-max",
        lambda: put(base_tree(), f"{MEM0}/label_storage_size", "0xffffffffffffffff"),
        ["-M"],
        """\
[
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
        err=add_dev_failed("mem0"),
    ),
    # A dport must resolve; decoder1.0's target list then stops at it (decoders are read for -P
    # too).
    Case(
        "dport-dangling",
        lambda: put(base_tree(), f"{PORT1}/dport1", Link(RP1 + "x")),
        ["-PT"],
        """\
[
  {
    "port":"port1",
    "host":"pci0000:0c",
    "depth":1,
    "decoders_committed":1,
    "nr_dports":1,
    "dports":[
      {
        "dport":"0000:0c:00.0",
        "alias":"device:00",
        "id":0
      }
    ]
  }
]
""",
        err=add_dev_failed("dport1")
        + "libcxl: add_cxl_decoder: decoder1.0: failed to parse target1\n",
    ),
    # A region needs a readable uuid...
    Case(
        "region-no-uuid",
        lambda: drop(base_tree(), f"{REGION0}/uuid"),
        ["-R"],
        """\
[
]
""",
        err=add_dev_failed("region0") + NO_MATCH,
    ),
    # ...that parses when not empty...
    Case(
        "region-bad-uuid",
        lambda: put(base_tree(), f"{REGION0}/uuid", "not-a-uuid"),
        ["-R"],
        """\
[
]
""",
        err=add_dev_failed("region0") + NO_MATCH,
    ),
    # ...exactly (uuid_parse wants 36 characters)...
    Case(
        "region-uuid-junk",
        lambda: put(base_tree(), f"{REGION0}/uuid", UUID + " "),
        ["-R"],
        """\
[
]
""",
        err=add_dev_failed("region0") + NO_MATCH,
    ),
    # ...or is empty.
    Case(
        "region-empty-uuid",
        lambda: put(base_tree(), f"{REGION0}/uuid", ""),
        ["-R"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit"
  }
]
""",
    ),
    # Target parsing stops at the first id without a dport; earlier targets stay.
    Case(
        "decoder-target-missing-dport",
        lambda: put(base_tree(), f"{DEC10}/target_list", "0,7,1"),
        ["-DT", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "nr_targets":1,
    "targets":[
      {
        "target":"0000:0c:00.0",
        "alias":"device:00",
        "position":0,
        "id":0
      }
    ]
  }
]
""",
        err="libcxl: add_cxl_decoder: decoder1.0: failed to parse target1\n",
        upstream_check=True,
    ),
    Case(
        "root-decoder-target-missing",
        lambda: put(base_tree(), f"{DEC00}/target_list", "5"),
        ["-DT", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "max_available_extent":3758096384,
    "pmem_capable":true,
    "volatile_capable":true,
    "qos_class":42,
    "nr_targets":0
  }
]
""",
        err="libcxl: add_cxl_decoder: decoder0.0: failed to parse target0\n",
    ),
    # v81: optional (v76.1 drops mem0 with add_dev() failed). No pmem_size, so no
    # pmem_qos_class.
    Case(
        "memdev-no-pmem-size",
        lambda: drop(base_tree(), f"{MEM0}/pmem/size"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # v81: optional (v76.1 drops mem2).
    Case(
        "memdev-no-ram-size",
        lambda: drop(base_tree(), f"{MEM2}/ram/size"),
        ["-M", "-i"],
        """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem2",
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "memdevs":[
      {
        "memdev":"mem0",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":0,
        "numa_node":0,
        "host":"0000:0d:00.0",
        "firmware_version":"BWFW VERSION 00"
      },
      {
        "memdev":"mem1",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":1,
        "numa_node":1,
        "host":"0000:0e:00.0",
        "firmware_version":"BWFW VERSION 00"
      }
    ]
  }
]
""",
    ),
    # v81: optional and not shown (v76.1 drops mem0).
    Case(
        "memdev-no-payload-max",
        lambda: drop(base_tree(), f"{MEM0}/payload_max"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # v81: optional and not shown (v76.1 drops mem0).
    Case(
        "memdev-no-label-size",
        lambda: drop(base_tree(), f"{MEM0}/label_storage_size"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # v81: optional, key omitted (v76.1 drops mem0).
    Case(
        "memdev-no-fw-version",
        lambda: drop(base_tree(), f"{MEM0}/firmware_version"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # A disabled port is hidden with everything below it...
    Case(
        "port-disabled",
        lambda: drop(base_tree(), f"{PORT1}/driver"),
        ["-PE"],
        """\
[
]
""",
        err=NO_MATCH,
    ),
    # ...and shown with -i.
    Case(
        "port-disabled-idle",
        lambda: drop(base_tree(), f"{PORT1}/driver"),
        ["-PE", "-i"],
        """\
[
  {
    "port":"port1",
    "host":"pci0000:0c",
    "depth":1,
    "state":"disabled",
    "decoders_committed":1,
    "endpoints:port1":[
      {
        "endpoint":"endpoint2",
        "host":"mem0",
        "parent_dport":"0000:0c:00.0",
        "depth":2,
        "decoders_committed":1
      },
      {
        "endpoint":"endpoint3",
        "host":"mem1",
        "parent_dport":"0000:0c:01.0",
        "depth":2,
        "decoders_committed":1
      }
    ]
  }
]
""",
    ),
    Case(
        "endpoint-disabled",
        lambda: drop(base_tree(), f"{EP2}/driver"),
        ["-EM"],
        """\
[
  {
    "endpoint":"endpoint3",
    "host":"mem1",
    "parent_dport":"0000:0c:01.0",
    "depth":2,
    "decoders_committed":1,
    "memdev":{
      "memdev":"mem1",
      "pmem_size":268435456,
      "pmem_qos_class":42,
      "serial":1,
      "numa_node":1,
      "host":"0000:0e:00.0",
      "firmware_version":"BWFW VERSION 00"
    }
  }
]
""",
    ),
    # A disabled endpoint has no memdev.
    Case(
        "endpoint-disabled-idle",
        lambda: drop(base_tree(), f"{EP2}/driver"),
        ["-EM", "-i"],
        """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem2",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "endpoints":[
      {
        "endpoint":"endpoint2",
        "host":"mem0",
        "parent_dport":"0000:0c:00.0",
        "depth":2,
        "state":"disabled",
        "decoders_committed":1
      },
      {
        "endpoint":"endpoint3",
        "host":"mem1",
        "parent_dport":"0000:0c:01.0",
        "depth":2,
        "decoders_committed":1,
        "memdev":{
          "memdev":"mem1",
          "pmem_size":268435456,
          "pmem_qos_class":42,
          "serial":1,
          "numa_node":1,
          "host":"0000:0e:00.0",
          "firmware_version":"BWFW VERSION 00"
        }
      }
    ]
  }
]
""",
        upstream_check=True,
    ),
    # A mapping names its memdev only through an enabled endpoint.
    Case(
        "endpoint-disabled-mappings",
        lambda: drop(base_tree(), f"{EP2}/driver"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      },
      {
        "position":0,
        "decoder":"decoder2.0"
      }
    ]
  }
]
""",
    ),
    Case(
        "region-disabled",
        lambda: drop(base_tree(), f"{REGION0}/driver"),
        ["-R"],
        """\
[
]
""",
        err=NO_MATCH,
    ),
    Case(
        "region-disabled-idle",
        lambda: drop(base_tree(), f"{REGION0}/driver"),
        ["-R", "-i"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "state":"disabled"
  }
]
""",
    ),
    # mem2 has no driver: hidden...
    Case(
        "memdev-disabled",
        lambda: base_tree(),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # ...and an anonymous memdev with -i.
    Case(
        "memdev-disabled-idle",
        lambda: base_tree(),
        ["-M", "-i"],
        """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem2",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "memdevs":[
      {
        "memdev":"mem0",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":0,
        "numa_node":0,
        "host":"0000:0d:00.0",
        "firmware_version":"BWFW VERSION 00"
      },
      {
        "memdev":"mem1",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":1,
        "numa_node":1,
        "host":"0000:0e:00.0",
        "firmware_version":"BWFW VERSION 00"
      }
    ]
  }
]
""",
    ),
    Case(
        "memdev0-disabled",
        lambda: drop(base_tree(), f"{MEM0}/driver"),
        ["-EM"],
        """\
[
  {
    "endpoint":"endpoint2",
    "host":"mem0",
    "parent_dport":"0000:0c:00.0",
    "depth":2,
    "decoders_committed":1
  },
  {
    "endpoint":"endpoint3",
    "host":"mem1",
    "parent_dport":"0000:0c:01.0",
    "depth":2,
    "decoders_committed":1,
    "memdev":{
      "memdev":"mem1",
      "pmem_size":268435456,
      "pmem_qos_class":42,
      "serial":1,
      "numa_node":1,
      "host":"0000:0e:00.0",
      "firmware_version":"BWFW VERSION 00"
    }
  }
]
""",
    ),
    Case(
        "memdev0-disabled-idle",
        lambda: drop(base_tree(), f"{MEM0}/driver"),
        ["-EM", "-i"],
        """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem0",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":0,
        "numa_node":0,
        "host":"0000:0d:00.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem2",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "endpoints":[
      {
        "endpoint":"endpoint2",
        "host":"mem0",
        "parent_dport":"0000:0c:00.0",
        "depth":2,
        "decoders_committed":1,
        "memdev":{
          "memdev":"mem0",
          "pmem_size":268435456,
          "pmem_qos_class":42,
          "serial":0,
          "numa_node":0,
          "host":"0000:0d:00.0",
          "firmware_version":"BWFW VERSION 00",
          "state":"disabled"
        }
      },
      {
        "endpoint":"endpoint3",
        "host":"mem1",
        "parent_dport":"0000:0c:01.0",
        "depth":2,
        "decoders_committed":1,
        "memdev":{
          "memdev":"mem1",
          "pmem_size":268435456,
          "pmem_qos_class":42,
          "serial":1,
          "numa_node":1,
          "host":"0000:0e:00.0",
          "firmware_version":"BWFW VERSION 00"
        }
      }
    ]
  }
]
""",
    ),
    # Enabled means driver is a symlink; its target need not exist.
    Case(
        "port-driver-dangling",
        lambda: put(base_tree(), f"{PORT1}/driver", Link(f"{DRIVERS}/gone")),
        ["-P"],
        """\
[
  {
    "port":"port1",
    "host":"pci0000:0c",
    "depth":1,
    "decoders_committed":1
  }
]
""",
    ),
    Case(
        "region-driver-dangling",
        lambda: put(base_tree(), f"{REGION0}/driver", Link("/sys/nowhere/cxl_region")),
        ["-R"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit"
  }
]
""",
    ),
    # A driver that is not a symlink does not count.
    Case(
        "region-driver-directory",
        lambda: put(base_tree(), f"{REGION0}/driver", DIR),
        ["-R"],
        """\
[
]
""",
        err=NO_MATCH,
    ),
    # No physical or firmware node: no alias.
    Case(
        "dport-no-alias",
        lambda: drop(base_tree(), f"{RP0}/firmware_node"),
        ["-PT"],
        """\
[
  {
    "port":"port1",
    "host":"pci0000:0c",
    "depth":1,
    "decoders_committed":1,
    "nr_dports":2,
    "dports":[
      {
        "dport":"0000:0c:00.0",
        "id":0
      },
      {
        "dport":"0000:0c:01.0",
        "alias":"device:01",
        "id":1
      }
    ]
  }
]
""",
    ),
    Case(
        "root-dport-no-alias",
        lambda: drop(base_tree(), f"{ACPI_HB}/physical_node"),
        ["-BT"],
        """\
[
  {
    "bus":"root0",
    "provider":"ACPI.CXL",
    "nr_dports":1,
    "dports":[
      {
        "dport":"ACPI0016:00",
        "id":12
      }
    ]
  }
]
""",
    ),
    Case(
        "dport-physical-only",
        lambda: put(
            drop(base_tree(), f"{RP0}/firmware_node"),
            f"{RP0}/physical_node",
            Link(f"{RP0}/pcieport"),
        ),
        ["-PT"],
        """\
[
  {
    "port":"port1",
    "host":"pci0000:0c",
    "depth":1,
    "decoders_committed":1,
    "nr_dports":2,
    "dports":[
      {
        "dport":"0000:0c:00.0",
        "id":0
      },
      {
        "dport":"0000:0c:01.0",
        "alias":"device:01",
        "id":1
      }
    ]
  }
]
""",
    ),
    # Both nodes: the firmware node names the alias.
    Case(
        "dport-both-nodes",
        lambda: put(
            put(base_tree(), f"{RP0}/physical_node", Link(f"{RP0}/pcieport")),
            f"{RP0}/pcieport",
            DIR,
        ),
        ["-PT"],
        """\
[
  {
    "port":"port1",
    "host":"pci0000:0c",
    "depth":1,
    "decoders_committed":1,
    "nr_dports":2,
    "dports":[
      {
        "dport":"0000:0c:00.0",
        "alias":"device:00",
        "id":0
      },
      {
        "dport":"0000:0c:01.0",
        "alias":"device:01",
        "id":1
      }
    ]
  }
]
""",
    ),
    # No resource: shown as 0.
    Case(
        "region-no-resource",
        lambda: drop(base_tree(), f"{REGION0}/resource"),
        ["-R"],
        """\
[
  {
    "region":"region0",
    "resource":0,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit"
  }
]
""",
        upstream_check=True,
    ),
    Case(
        "region-resource-all-ones",
        lambda: put(base_tree(), f"{REGION0}/resource", "0xffffffffffffffff"),
        ["-R"],
        """\
[
  {
    "region":"region0",
    "resource":0,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit"
  }
]
""",
    ),
    # No size: key omitted; the unknown size still counts in max_available_extent.
    Case(
        "region-no-size",
        lambda: drop(base_tree(), f"{REGION0}/size"),
        ["-RD", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "max_available_extent":4294967297,
    "pmem_capable":true,
    "volatile_capable":true,
    "qos_class":42,
    "nr_targets":1,
    "regions:decoder0.0":[
      {
        "region":"region0",
        "resource":68719476736,
        "type":"pmem",
        "interleave_ways":2,
        "interleave_granularity":256,
        "decode_state":"commit"
      }
    ]
  }
]
""",
    ),
    Case(
        "region-no-commit",
        lambda: drop(base_tree(), f"{REGION0}/commit"),
        ["-RD", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "max_available_extent":3758096384,
    "pmem_capable":true,
    "volatile_capable":true,
    "qos_class":42,
    "nr_targets":1,
    "regions:decoder0.0":[
      {
        "region":"region0",
        "resource":68719476736,
        "size":536870912,
        "type":"pmem",
        "interleave_ways":2,
        "interleave_granularity":256,
        "decode_state":"reset"
      }
    ]
  }
]
""",
    ),
    Case(
        "region-commit-0",
        lambda: put(base_tree(), f"{REGION0}/commit", "0"),
        ["-RD", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "max_available_extent":4294967296,
    "pmem_capable":true,
    "volatile_capable":true,
    "qos_class":42,
    "nr_targets":1,
    "regions:decoder0.0":[
      {
        "region":"region0",
        "resource":68719476736,
        "size":536870912,
        "type":"pmem",
        "interleave_ways":2,
        "interleave_granularity":256,
        "decode_state":"reset"
      }
    ]
  }
]
""",
    ),
    Case(
        "region-no-granularity",
        lambda: drop(base_tree(), f"{REGION0}/interleave_granularity"),
        ["-R"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "decode_state":"commit"
  }
]
""",
    ),
    # v81 reads mode for type; none without it.
    Case(
        "region-no-mode",
        lambda: drop(base_tree(), f"{REGION0}/mode"),
        ["-R"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit"
  }
]
""",
    ),
    Case(
        "region-missing-target1",
        lambda: drop(base_tree(), f"{REGION0}/target1"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":0,
        "memdev":"mem0",
        "decoder":"decoder2.0"
      }
    ]
  }
]
""",
        err="libcxl: cxl_mappings_init: region0: failed to read target1\n",
    ),
    Case(
        "region-target-unknown",
        lambda: put(base_tree(), f"{REGION0}/target0", "decoder9.0"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      }
    ]
  }
]
""",
        err="libcxl: cxl_mappings_init: region0 target0: decoder9.0 lookup failure\n",
    ),
    # Any decoder name is looked up, a root decoder too.
    Case(
        "region-target-root-decoder",
        lambda: put(base_tree(), f"{REGION0}/target0", "decoder0.0"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      },
      {
        "position":0,
        "decoder":"decoder0.0"
      }
    ]
  }
]
""",
    ),
    # No size: no size and no state, but the resource stays.
    Case(
        "decoder-no-size",
        lambda: drop(base_tree(), f"{DEC10}/size"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "nr_targets":2
  }
]
""",
    ),
    Case(
        "decoder-no-start",
        lambda: drop(base_tree(), f"{DEC10}/start"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "nr_targets":2
  }
]
""",
    ),
    Case(
        "decoder-no-ways",
        lambda: drop(base_tree(), f"{DEC10}/interleave_ways"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "region":"region0",
    "nr_targets":2
  }
]
""",
    ),
    Case(
        "decoder-no-granularity",
        lambda: drop(base_tree(), f"{DEC10}/interleave_granularity"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "region":"region0",
    "nr_targets":2
  }
]
""",
    ),
    Case(
        "decoder-no-target-list",
        lambda: drop(base_tree(), f"{DEC10}/target_list"),
        ["-DT", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "nr_targets":0
  }
]
""",
    ),
    # A switch decoder without region: an error line.
    Case(
        "decoder-no-region",
        lambda: drop(base_tree(), f"{DEC10}/region"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "nr_targets":2
  }
]
""",
        err=REGION_NAME_ENOENT,
    ),
    Case(
        "decoder-region-unknown",
        lambda: put(base_tree(), f"{DEC10}/region", "region9"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "nr_targets":2
  }
]
""",
    ),
    # decoder1.1 has size 0: hidden without -i.
    Case(
        "decoder-size-0",
        lambda: base_tree(),
        ["-D", "-d", "decoder1.1"],
        """\
[
]
""",
        err=NO_MATCH,
    ),
    Case(
        "decoder-size-0-idle",
        lambda: base_tree(),
        ["-D", "-i", "-d", "decoder1.1"],
        """\
[
  {
    "decoder":"decoder1.1",
    "interleave_ways":1,
    "state":"disabled",
    "nr_targets":0
  }
]
""",
    ),
    Case(
        "root-decoder-not-type3",
        lambda: put(base_tree(), f"{DEC00}/cap_type3", "0"),
        ["-D", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "qos_class":42,
    "nr_targets":1
  }
]
""",
    ),
    Case(
        "root-decoder-type2",
        lambda: put(base_tree(), f"{DEC00}/cap_type2", "1"),
        ["-D", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "max_available_extent":3758096384,
    "pmem_capable":true,
    "volatile_capable":true,
    "accelmem_capable":true,
    "qos_class":42,
    "nr_targets":1
  }
]
""",
    ),
    Case(
        "root-decoder-no-caps",
        lambda: drop(
            drop(
                drop(drop(base_tree(), f"{DEC00}/cap_pmem"), f"{DEC00}/cap_ram"),
                f"{DEC00}/cap_type2",
            ),
            f"{DEC00}/cap_type3",
        ),
        ["-D", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "qos_class":42,
    "nr_targets":1
  }
]
""",
    ),
    Case(
        "root-decoder-no-ram",
        lambda: put(base_tree(), f"{DEC00}/cap_ram", "0"),
        ["-D", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "max_available_extent":3758096384,
    "pmem_capable":true,
    "qos_class":42,
    "nr_targets":1
  }
]
""",
    ),
    Case(
        "root-decoder-no-qos",
        lambda: drop(base_tree(), f"{DEC00}/qos_class"),
        ["-D", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "resource":68719476736,
    "size":4294967296,
    "interleave_ways":1,
    "max_available_extent":3758096384,
    "pmem_capable":true,
    "volatile_capable":true,
    "nr_targets":1
  }
]
""",
    ),
    # v81: an unknown start makes max_available_extent unknown (v76.1 prints -64961380353).
    Case(
        "root-decoder-no-start",
        lambda: drop(base_tree(), f"{DEC00}/start"),
        ["-D", "-d", "decoder0.0"],
        """\
[
  {
    "decoder":"decoder0.0",
    "size":4294967296,
    "interleave_ways":1,
    "pmem_capable":true,
    "volatile_capable":true,
    "qos_class":42,
    "nr_targets":1
  }
]
""",
    ),
    Case(
        "endpoint-decoder-mode-mixed",
        lambda: put(base_tree(), f"{DEC20}/mode", "mixed"),
        ["-D", "-d", "decoder2.0"],
        """\
[
  {
    "decoder":"decoder2.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "dpa_resource":0,
    "dpa_size":268435456,
    "mode":"mixed"
  }
]
""",
    ),
    # An unknown mode counts as mixed.
    Case(
        "endpoint-decoder-mode-odd",
        lambda: put(base_tree(), f"{DEC20}/mode", "dynamic_ram_a"),
        ["-D", "-d", "decoder2.0"],
        """\
[
  {
    "decoder":"decoder2.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "dpa_resource":0,
    "dpa_size":268435456,
    "mode":"mixed"
  }
]
""",
    ),
    Case(
        "endpoint-decoder-no-mode",
        lambda: drop(base_tree(), f"{DEC20}/mode"),
        ["-D", "-d", "decoder2.0"],
        """\
[
  {
    "decoder":"decoder2.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "dpa_resource":0,
    "dpa_size":268435456
  }
]
""",
    ),
    Case(
        "endpoint-decoder-no-dpa-resource",
        lambda: drop(base_tree(), f"{DEC20}/dpa_resource"),
        ["-D", "-d", "decoder2.0"],
        """\
[
  {
    "decoder":"decoder2.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "dpa_size":268435456,
    "mode":"pmem"
  }
]
""",
    ),
    Case(
        "endpoint-decoder-dpa-size-0",
        lambda: put(base_tree(), f"{DEC20}/dpa_size", "0x0"),
        ["-D", "-d", "decoder2.0"],
        """\
[
  {
    "decoder":"decoder2.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "mode":"pmem"
  }
]
""",
    ),
    Case(
        "memdev-no-serial",
        lambda: drop(base_tree(), f"{MEM0}/serial"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    Case(
        "memdev-serial-all-ones",
        lambda: put(base_tree(), f"{MEM0}/serial", "0xffffffffffffffff"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    Case(
        "memdev-no-numa",
        lambda: drop(base_tree(), f"{MEM0}/numa_node"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    Case(
        "memdev-no-qos",
        lambda: drop(base_tree(), f"{MEM0}/pmem/qos_class"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # strtoull base 0: a leading 0 is octal.
    Case(
        "values-octal",
        lambda: put(put(base_tree(), f"{MEM0}/numa_node", "010"), f"{MEM0}/serial", "020"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":16,
    "numa_node":8,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
        upstream_check=True,
    ),
    Case(
        "values-decimal",
        lambda: put(put(base_tree(), f"{MEM0}/pmem/size", "268435456"), f"{MEM0}/serial", "16"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":16,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    Case(
        "values-trailing-junk",
        lambda: put(
            put(base_tree(), f"{MEM0}/pmem/size", "0x10000000 bytes"), f"{MEM0}/numa_node", "1x"
        ),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":1,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    Case(
        "values-region-junk",
        lambda: put(
            put(base_tree(), f"{REGION0}/interleave_ways", "2 ways"),
            f"{REGION0}/interleave_granularity",
            "0x100",
        ),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      },
      {
        "position":0,
        "memdev":"mem0",
        "decoder":"decoder2.0"
      }
    ]
  }
]
""",
    ),
    # No digits at all: 0.
    Case(
        "values-unparsable",
        lambda: put(put(base_tree(), f"{MEM0}/serial", "abc"), f"{MEM0}/numa_node", ""),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # Values without a trailing newline read the same.
    Case(
        "values-no-newlines",
        lambda: edit_files(base_tree(), REGION0, lambda v: v.rstrip(b"\n")),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      },
      {
        "position":0,
        "memdev":"mem0",
        "decoder":"decoder2.0"
      }
    ]
  }
]
""",
    ),
    # Only one newline is stripped: a lookup failure, the mapping is dropped.
    Case(
        "region-target-two-newlines",
        lambda: put(base_tree(), f"{REGION0}/target0", b"decoder2.0\n\n"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      }
    ]
  }
]
""",
        err="libcxl: cxl_mappings_init: region0 target0: decoder2.0\n lookup failure\n",
        upstream_check=True,
    ),
    # An embedded NUL ends the value.
    Case(
        "region-target-nul-newline",
        lambda: put(base_tree(), f"{REGION0}/target0", b"decoder2.0\0\n"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      },
      {
        "position":0,
        "memdev":"mem0",
        "decoder":"decoder2.0"
      }
    ]
  }
]
""",
    ),
    Case(
        "region-target-nul-junk",
        lambda: put(base_tree(), f"{REGION0}/target0", b"decoder2.0\0junk\n"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      },
      {
        "position":0,
        "memdev":"mem0",
        "decoder":"decoder2.0"
      }
    ]
  }
]
""",
    ),
    Case(
        "attr-nul",
        lambda: put(base_tree(), f"{MEM0}/serial", b"0x5\0" + b"7" * 10 + b"\n"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":5,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # v81 only (v76.1 does not show firmware_version).
    Case(
        "fw-version-nul",
        lambda: put(base_tree(), f"{MEM0}/firmware_version", b"BWFW\0 VERSION 00\n"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # v81 only; the second newline stays in the value.
    Case(
        "fw-version-two-newlines",
        lambda: put(base_tree(), f"{MEM0}/firmware_version", b"BWFW VERSION 00\n\n"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00\\n"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # 1023 bytes still fit libcxl's buffer...
    Case(
        "attr-1023-bytes",
        lambda: put(base_tree(), f"{MEM0}/serial", b"0x5" + b" " * 1019 + b"\n"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":5,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    # ...1024 do not: unreadable.
    Case(
        "attr-1024-bytes",
        lambda: put(base_tree(), f"{MEM1}/serial", b"0x5" + b" " * 1020 + b"\n"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
    ),
    Case(
        "attr-1024-bytes-uuid",
        lambda: put(base_tree(), f"{REGION0}/uuid", UUID.encode() + b" " * 987 + b"\n"),
        ["-R"],
        """\
[
]
""",
        err=add_dev_failed("region0") + NO_MATCH,
    ),
    # sscanf("port%d"): port1x is port 1 (its decoders are decoder1.N); portx is no port.
    Case(
        "port-odd-name",
        lambda: put(
            rename(base_tree(), PORT1, f"{ROOT0}/port1x"), f"{ROOT0}/portx/uport", Link(HB)
        ),
        ["-P"],
        """\
[
  {
    "port":"port1x",
    "host":"pci0000:0c",
    "depth":1,
    "decoders_committed":1
  }
]
""",
    ),
    # mem2x is memdev 2, named mem2x (and needs /dev/cxl/mem2x).
    Case(
        "memdev-odd-name",
        lambda: rename(
            rename(base_tree(), f"{DEVICES}/mem2", f"{DEVICES}/mem2x"),
            "/dev/cxl/mem2",
            "/dev/cxl/mem2x",
        ),
        ["-M", "-i"],
        """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem2x",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "memdevs":[
      {
        "memdev":"mem0",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":0,
        "numa_node":0,
        "host":"0000:0d:00.0",
        "firmware_version":"BWFW VERSION 00"
      },
      {
        "memdev":"mem1",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":1,
        "numa_node":1,
        "host":"0000:0e:00.0",
        "firmware_version":"BWFW VERSION 00"
      }
    ]
  }
]
""",
    ),
    # mem00 and mem0 are both id 0: the first in readdir order (mem00) wins silently, so
    # endpoint2 loses its memdev.
    Case(
        "memdev-duplicate-id",
        lambda: put(put(base_tree(), f"{DEVICES}/mem00", Link(MEM2)), "/dev/cxl/mem00", b""),
        ["-EM", "-i"],
        """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem00",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem2",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "endpoints":[
      {
        "endpoint":"endpoint2",
        "host":"mem0",
        "parent_dport":"0000:0c:00.0",
        "depth":2,
        "decoders_committed":1
      },
      {
        "endpoint":"endpoint3",
        "host":"mem1",
        "parent_dport":"0000:0c:01.0",
        "depth":2,
        "decoders_committed":1,
        "memdev":{
          "memdev":"mem1",
          "pmem_size":268435456,
          "pmem_qos_class":42,
          "serial":1,
          "numa_node":1,
          "host":"0000:0e:00.0",
          "firmware_version":"BWFW VERSION 00"
        }
      }
    ]
  }
]
""",
    ),
    # Memdevs come in reverse kernfs readdir order.
    Case(
        "spare-memdevs",
        lambda: with_spare_memdevs(base_tree(), range(3, 12)),
        ["-M", "-i"],
        """\
[
  {
    "anon memdevs":[
      {
        "memdev":"mem9",
        "ram_size":2415919104,
        "serial":9,
        "host":"0000:0f:09.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem10",
        "ram_size":2684354560,
        "serial":10,
        "host":"0000:0f:0a.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem2",
        "ram_size":268435456,
        "ram_qos_class":7,
        "serial":2,
        "host":"0000:0e:00.1",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem4",
        "ram_size":1073741824,
        "serial":4,
        "host":"0000:0f:04.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem6",
        "ram_size":1610612736,
        "serial":6,
        "host":"0000:0f:06.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem8",
        "ram_size":2147483648,
        "serial":8,
        "host":"0000:0f:08.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem11",
        "ram_size":2952790016,
        "serial":11,
        "host":"0000:0f:0b.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem3",
        "ram_size":805306368,
        "serial":3,
        "host":"0000:0f:03.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem5",
        "ram_size":1342177280,
        "serial":5,
        "host":"0000:0f:05.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      },
      {
        "memdev":"mem7",
        "ram_size":1879048192,
        "serial":7,
        "host":"0000:0f:07.0",
        "firmware_version":"BWFW VERSION 00",
        "state":"disabled"
      }
    ]
  },
  {
    "memdevs":[
      {
        "memdev":"mem0",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":0,
        "numa_node":0,
        "host":"0000:0d:00.0",
        "firmware_version":"BWFW VERSION 00"
      },
      {
        "memdev":"mem1",
        "pmem_size":268435456,
        "pmem_qos_class":42,
        "serial":1,
        "numa_node":1,
        "host":"0000:0e:00.0",
        "firmware_version":"BWFW VERSION 00"
      }
    ]
  }
]
""",
        upstream_check=True,
    ),
    # Absolute /sys/... symlinks resolve inside the tree.
    Case(
        "absolute-links",
        lambda: absolute_links(base_tree()),
        ["-BPEMDRT", "-i"],
        BASE_FULL,
    ),
    # No /sys/bus/cxl at all: an empty listing.
    Case(
        "no-bus-cxl",
        lambda: drop(base_tree(), "/sys/bus"),
        [],
        """\
[
]
""",
        err=NO_MATCH,
        upstream_check=True,
    ),
    # ...which -u prints as nothing at all.
    Case(
        "no-bus-cxl-human",
        lambda: drop(base_tree(), "/sys/bus"),
        ["-u"],
        "",
        upstream_check=True,
    ),
    Case(
        "no-bus-cxl-all",
        lambda: drop(base_tree(), "/sys/bus"),
        ["-BPEMDRT", "-i"],
        """\
[
]
""",
        err=NO_MATCH,
    ),
    # A regular file as /dev/cxl/memN fails validation, three lines per mailbox command; the
    # keys are left out.
    Case(
        "mailbox-regular-file",
        lambda: base_tree(),
        ["-M", "-m", "mem1", "-H", "-I", "-A"],
        """\
[
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
        err=mailbox_failed("mem1") + mailbox_failed("mem1") + mailbox_failed("mem1"),
    ),
    # libcxl strips a newline only as the last byte read, before the NUL cuts the value:
    # decoder2.0<newline> is not found.
    Case(
        "region-target-newline-nul",
        lambda: put(base_tree(), f"{REGION0}/target0", b"decoder2.0\n\0"),
        ["-RT"],
        """\
[
  {
    "region":"region0",
    "resource":68719476736,
    "size":536870912,
    "type":"pmem",
    "interleave_ways":2,
    "interleave_granularity":256,
    "decode_state":"commit",
    "mappings":[
      {
        "position":1,
        "memdev":"mem1",
        "decoder":"decoder3.0"
      }
    ]
  }
]
""",
        err="libcxl: cxl_mappings_init: region0 target0: decoder2.0\n lookup failure\n",
        upstream_check=True,
    ),
    # Same for a decoder's region: region0<newline> is no region.
    Case(
        "decoder-region-newline-nul",
        lambda: put(base_tree(), f"{DEC10}/region", b"region0\n\0"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "nr_targets":2
  }
]
""",
    ),
    # Same for mode: pmem<newline> is an unknown mode, i.e. mixed.
    Case(
        "endpoint-decoder-mode-newline-nul",
        lambda: put(base_tree(), f"{DEC20}/mode", b"pmem\n\0"),
        ["-D", "-d", "decoder2.0"],
        """\
[
  {
    "decoder":"decoder2.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "region":"region0",
    "dpa_resource":0,
    "dpa_size":268435456,
    "mode":"mixed"
  }
]
""",
    ),
    # Upstream reads this 1024-byte attribute as an empty value (numa_node 0), not as
    # unreadable.
    Case(
        "attr-1024-bytes-numa",
        lambda: put(base_tree(), f"{MEM0}/numa_node", b"0x5" + b" " * 1020 + b"\n"),
        ["-M"],
        """\
[
  {
    "memdev":"mem0",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":0,
    "numa_node":0,
    "host":"0000:0d:00.0",
    "firmware_version":"BWFW VERSION 00"
  },
  {
    "memdev":"mem1",
    "pmem_size":268435456,
    "pmem_qos_class":42,
    "serial":1,
    "numa_node":1,
    "host":"0000:0e:00.0",
    "firmware_version":"BWFW VERSION 00"
  }
]
""",
        bug=FINDING_3,
    ),
    # Upstream fails this 1024-byte read (with a stale errno in the message, ENOENT).
    Case(
        "attr-1024-bytes-decoder-region",
        lambda: put(base_tree(), f"{DEC10}/region", b"region0" + b" " * 1016 + b"\n"),
        ["-D", "-d", "decoder1.0"],
        """\
[
  {
    "decoder":"decoder1.0",
    "resource":68719476736,
    "size":536870912,
    "interleave_ways":2,
    "interleave_granularity":256,
    "nr_targets":2
  }
]
""",
        err=REGION_NAME_ENOENT,
    ),
]


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.bug, strict=True)] if case.bug else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_listing(case: Case, fs: object, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, out, err = run_pycxl(case.tree(), case.args, monkeypatch)
    assert out.decode("utf-8", "surrogateescape") == case.out
    assert err.decode("utf-8", "surrogateescape") == case.err
    assert rc == case.rc


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------------------------------------
# readdir order

ORDERS = ["as-given", "reversed", "kernfs", "reverse-kernfs", "shuffled"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("case_id", ["base-full", "spare-memdevs"])
def test_creation_order_does_not_matter(
    case_id: str, order: str, fs: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader sorts every directory in kernfs order, so the listing does not depend on
    the order the tree's entries were created in (pyfakefs lists them in its own order)."""
    case = next(c for c in CASES if c.id == case_id)
    rc, out, err = run_pycxl(case.tree(), case.args, monkeypatch, order=order)
    assert (rc, out.decode(), err.decode()) == (case.rc, case.out, case.err)


def test_listdir_is_in_reference_sorted(fs: object) -> None:
    names = [f"dport{i}" for i in range(12)] + ["decoder1.0", "decoder1.10", "uport", "driver"]
    for order in (names, names[::-1]):
        if os.path.exists(FAKE):
            shutil.rmtree(FAKE)
        os.makedirs(f"{FAKE}/sys/d")
        os.makedirs(f"{FAKE}/dev")
        for name in order:
            with open(f"{FAKE}/sys/d/{name}", "wb"):
                pass
        sysfs = pycxl.sysfs.files.FileSysfs(Path(f"{FAKE}/sys"), Path(f"{FAKE}/dev"))
        assert sysfs.listdir("/sys/d") == reference_sorted(names)


def _sysfs_mounted() -> bool:
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1:3] == ["/sys", "sysfs"] for line in f)
    except OSError:
        return False


@pytest.mark.skipif(not _sysfs_mounted(), reason="no sysfs mounted on /sys")
def test_kernfs_order_matches_a_real_sysfs() -> None:
    """The order helper this file relies on, against a real /sys (directories without
    namespace tags: /sys/bus and a few below /sys/devices)."""
    checked = 0
    for path in ("/sys/bus", "/sys/devices", "/sys/devices/system", "/sys/devices/system/cpu"):
        if os.path.isdir(path):
            names = os.listdir(path)
            assert names == reference_sorted(names), path
            checked += 1
    assert checked


# ---------------------------------------------------------------------------------------------
# the recorded expectations against upstream

#: Keys v81 adds to the v76.1 listing; everything else must match the installed upstream.
V81_ONLY = {
    "pmem_qos_class",
    "ram_qos_class",
    "firmware_version",
    "parent_dport",
    "decoders_committed",
    "qos_class",
    "type",
}


class _Obj(tuple):  # type: ignore[type-arg]
    """A JSON object as its ordered (key, value) pairs."""


def _v76_view(text: str) -> object:
    def strip(value: object) -> object:
        if isinstance(value, _Obj):
            return _Obj((k, strip(v)) for k, v in value if k not in V81_ONLY)
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    if not text:
        return text
    return strip(json.loads(text, object_pairs_hook=_Obj))


def _upstream_unavailable() -> str | None:
    if not os.path.exists(UPSTREAM):
        return f"{UPSTREAM} is not installed (apt-get install ndctl)"
    if os.geteuid() != 0:
        return "running upstream on a tree needs root"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "running upstream on a tree needs unshare(1) and mount(8)"
    return None


def _no_upstream(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the upstream check must run in CI: {why}")
    pytest.skip(why)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES if c.upstream_check])
def test_upstream_still_agrees(case: Case) -> None:
    """Upstream v76.1 on the same tree prints the recorded expectation minus v81's keys."""
    why = _upstream_unavailable()
    if why:
        _no_upstream(why)
    rc, out, err = run_upstream(case.tree(), case.args)
    helper_failed = rc == HELPER_FAILED and err.startswith(b"namespace-helper:")
    if helper_failed or err.startswith(b"unshare:"):
        _no_upstream(err.decode(errors="replace").strip())
    assert _v76_view(out.decode()) == _v76_view(case.out)
    assert err.decode() == case.err
    assert rc == case.rc


if __name__ == "__main__" and sys.argv[1:2] == ["--namespace-helper"]:
    sys.exit(_namespace_helper(sys.argv[2:]))


def test_relative_links_resolve_like_the_vfs(tmp_path: Path) -> None:
    """Leading ``..`` steps of a link are taken as string operations from the link's
    (resolved) directory; every other form still resolves component by component. Both
    must agree with the kernel's own resolution for links that stay inside the tree."""
    root = tmp_path / "sys"
    (root / "devices" / "pci" / "a" / "b").mkdir(parents=True)
    (root / "devices" / "pci" / "a" / "b" / "attr").write_bytes(b"1\n")
    (root / "bus" / "cxl" / "devices").mkdir(parents=True)
    (root / "class").mkdir()
    (tmp_path / "dev").mkdir()
    links = {
        "bus/cxl/devices/b": "../../../devices/pci/a/b",
        "class/a": "../devices/pci/a",
        # through a link, then up from where the link really leads
        "bus/cxl/devices/up": "../../../class/a/b/../..",
        "bus/cxl/devices/mid": "../../../devices/pci/../pci/a",
        "class/chain": "../bus/cxl/devices/b",
    }
    for link, target in links.items():
        os.symlink(target, root / link)
    sysfs = pycxl.sysfs.files.FileSysfs(root, tmp_path / "dev")
    real_root = os.path.realpath(root)
    for link in links:
        expected = os.path.realpath(root / link)
        assert sysfs.realpath(f"/sys/{link}") == "/sys" + expected[len(real_root) :], link
    assert sysfs.read("/sys/class/chain/attr") == b"1\n"
    assert sysfs.read("/sys/bus/cxl/devices/up/a/b/attr") == b"1\n"
    # Above the root, ".." stays at /sys, as it stays at / on a real system.
    os.symlink("../../../../../../devices/pci/a", root / "class" / "far")
    assert sysfs.realpath("/sys/class/far") == "/sys/devices/pci/a"
