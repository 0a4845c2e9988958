"""The libndctl object model: nd buses, DIMMs, regions, namespaces and the btt, pfn and nd
dax devices that claim namespaces, read from sysfs and written through it.

Enumeration follows libndctl: each directory scan inserts at the head of a list, so objects
come in reverse readdir order (ndctl-daxctl.md 1.6). Attributes a kind cannot do without
drop the object silently, as upstream's add_*() callbacks fail; the rest are read on demand.
"""

from __future__ import annotations

import os

from pycxl.sysfs.base import Sysfs
from pycxl.util.cparse import ULLONG_MAX, scan_int, scan_int_pair, strtoll, strtoull, to_int
from pycxl.util.log import Log
from pycxl.util.sysattr import ATTR_SIZE, attr_text

NULL_UUID = "00000000-0000-0000-0000-000000000000"
ND_DEVICE_NAMESPACE_IO = 4
ND_DEVICE_NAMESPACE_PMEM = 5
ND_DEVICE_NAMESPACE_BLK = 6
ND_DRIVERS = "/sys/bus/nd/drivers"
PAGE_SIZE = 4096


def read_attr(sysfs: Sysfs, path: str) -> str | None:
    """An attribute's text, or None when it cannot be read (libndctl's sysfs_read_attr)."""
    try:
        data = sysfs.read(path)
    except OSError:
        return None
    return None if len(data) >= ATTR_SIZE else attr_text(data)


def _u64(text: str | None, default: int = ULLONG_MAX) -> int:
    return default if text is None else strtoull(text)[0]


def _int(text: str | None, default: int = -1) -> int:
    return default if text is None else to_int(strtoll(text)[0])


def _scan(sysfs: Sysfs, path: str, prefix: str) -> list[str]:
    try:
        names = sysfs.scan(path, prefix)
    except OSError:
        return []
    return names[::-1]


def size_list(text: str | None) -> tuple[list[int], int]:
    """A ``[512] 4096 `` list: the sizes (only tokens followed by a space count) and the
    selected one (-1 if none is bracketed)."""
    sizes: list[int] = []
    selected = -1
    if text is None:
        return sizes, selected
    for token in text.split(" ")[:-1]:
        if not token:
            continue
        bracketed = token.startswith("[") and token.endswith("]")
        value = strtoull(token.strip("[]"))[0]
        if bracketed:
            selected = value
        sizes.append(value)
    return sizes, selected


class Ctx:
    """What every object reaches: the sysfs, the library log, the buses (lazily)."""

    def __init__(self, sysfs: Sysfs, log: Log) -> None:
        self.sysfs = sysfs
        self.log = log
        self._buses: list[Bus] | None = None

    def buses(self) -> list[Bus]:
        if self._buses is None:
            found: list[Bus] = []
            for name in _scan(self.sysfs, "/sys/class/nd", "ndctl"):
                bus = Bus.create(self, name)
                if bus is not None:
                    found.insert(len(found), bus)
            self._buses = found
        return self._buses

    def write(self, path: str, value: str) -> int:
        """libndctl's sysfs_write_attr: the value and its NUL; 0 or -errno."""
        try:
            self.sysfs.write(path, value.encode() + b"\0")
        except OSError as e:
            self.log.dbg(
                "sysfs_write_attr",
                f"failed to write {value} to {path}: {os.strerror(e.errno or 5)}\n",
            )
            return -(e.errno or 5)
        return 0

    def bind(self, devname: str) -> int:
        """util_bind on the nd bus: try every driver's bind in readdir order."""
        try:
            drivers = self.sysfs.listdir(ND_DRIVERS)
        except OSError:
            return -errno_ENXIO
        for drv in drivers:
            try:
                self.sysfs.write(f"{ND_DRIVERS}/{drv}/bind", devname.encode() + b"\0")
            except OSError:
                continue
            return 0
        return -errno_ENXIO

    def unbind(self, devpath: str) -> int:
        """util_unbind: write the name to the device's driver/unbind."""
        name = os.path.basename(devpath)
        try:
            self.sysfs.write(f"{devpath}/driver/unbind", name.encode() + b"\0")
        except OSError as e:
            return -(e.errno or 5)
        return 0


errno_ENXIO = 6


class Device:
    """What every nd object has: its path, name and the ``driver`` link test."""

    def __init__(self, ctx: Ctx, path: str) -> None:
        self.ctx = ctx
        self.sysfs = ctx.sysfs
        self.path = path
        self.devname = os.path.basename(path)

    def attr(self, name: str) -> str | None:
        return read_attr(self.sysfs, f"{self.path}/{name}")

    def write(self, name: str, value: str) -> int:
        return self.ctx.write(f"{self.path}/{name}", value)

    def is_enabled(self) -> bool:
        return self.sysfs.is_link(f"{self.path}/driver")

    def block_device(self) -> str:
        """The name of the one block device below ``block/``; "" when there is none, or
        more than one (libndctl's get_block_device)."""
        names = [n for n in _scan(self.sysfs, f"{self.path}/block", "") if n[:1] != "."]
        return names[0] if len(names) == 1 else ""


class Bus(Device):
    def __init__(self, ctx: Ctx, path: str, bus_id: int, provider: str) -> None:
        super().__init__(ctx, path)
        self.id = bus_id
        self.provider = provider
        self._dimms: list[Dimm] | None = None
        self._regions: list[Region] | None = None

    @classmethod
    def create(cls, ctx: Ctx, ctl: str) -> Bus | None:
        sysfs = ctx.sysfs
        bus_id = scan_int(ctl, "ndctl")
        dev = read_attr(sysfs, f"/sys/class/nd/{ctl}/dev")
        if bus_id is None or dev is None:
            return None
        try:
            path = sysfs.realpath(f"/sys/dev/char/{dev}/device")
        except OSError:
            return None
        if read_attr(sysfs, f"{path}/commands") is None:
            return None
        provider = read_attr(sysfs, f"{path}/provider")
        if provider is None:
            return None
        sysfs.read_many(path, ["wait_probe"])
        return cls(ctx, path, bus_id, provider)

    def dimms(self) -> list[Dimm]:
        if self._dimms is None:
            found = []
            for name in _scan(self.sysfs, self.path, "nmem"):
                dimm = Dimm.create(self, name)
                if dimm is not None:
                    found.append(dimm)
            self._dimms = found
        return self._dimms

    def regions(self) -> list[Region]:
        if self._regions is None:
            found = []
            for name in _scan(self.sysfs, self.path, "region"):
                region = Region.create(self, name)
                if region is not None:
                    found.append(region)
            self._regions = found
        return self._regions

    def dimm_by_name(self, name: str) -> Dimm | None:
        return next((d for d in self.dimms() if d.devname == name), None)


class Dimm(Device):
    def __init__(self, bus: Bus, path: str, dimm_id: int) -> None:
        super().__init__(bus.ctx, path)
        self.bus = bus
        self.id = dimm_id
        self.unique_id = ""

    @classmethod
    def create(cls, bus: Bus, name: str) -> Dimm | None:
        dimm_id = scan_int(name, "nmem")
        if dimm_id is None:
            return None
        dimm = cls(bus, f"{bus.path}/{name}", dimm_id)
        for required in ("dev", "commands", "modalias"):
            if dimm.attr(required) is None:
                return None
        serial = dimm.attr("cxl/id")
        if serial is not None:
            dimm.unique_id = serial
        return dimm

    def flags(self) -> list[str]:
        text = self.attr("flags") or ""
        return [token for token in text.split(" ")[:-1] if token]


class Region(Device):
    def __init__(self, bus: Bus, path: str, region_id: int) -> None:
        super().__init__(bus.ctx, path)
        self.bus = bus
        self.id = region_id
        self.size = 0
        self.nstype = 0
        self.read_only = False
        self.cookie = 0
        self.align = ULLONG_MAX
        self.numa_node = -1
        self.has_numa = False
        self.target_node = -1
        self.persistence_domain = "unknown"
        self.nr_mappings = 0
        self._namespaces: list[Namespace] | None = None
        self._claims: dict[str, list[Claim]] = {}

    @classmethod
    def create(cls, bus: Bus, name: str) -> Region | None:
        region_id = scan_int(name, "region")
        if region_id is None:
            return None
        region = cls(bus, f"{bus.path}/{name}", region_id)
        values = {
            n: region.attr(n) for n in ("size", "mappings", "read_only", "modalias", "nstype")
        }
        if any(v is None for v in values.values()):
            return None
        region.size = _u64(values["size"])
        region.nr_mappings = _int(values["mappings"], 0)
        region.read_only = _int(values["read_only"], 0) == 1
        region.nstype = _int(values["nstype"], 0)
        if region.nstype == ND_DEVICE_NAMESPACE_PMEM:
            cookie = region.attr("set_cookie")
            if cookie is None:
                return None
            region.cookie = _u64(cookie, 0)
        if region.sysfs.exists(f"{region.path}/numa_node"):
            region.has_numa = True
            region.numa_node = _int(region.attr("numa_node"))
        region.target_node = _int(region.attr("target_node"))
        region.align = _u64(region.attr("align"))
        domain = region.attr("persistence_domain") or ""
        for prefix in ("cpu_cache", "memory_controller", "none"):
            if domain.startswith(prefix):
                region.persistence_domain = prefix
                break
        return region

    @property
    def type_name(self) -> str:
        return (
            "pmem" if self.nstype in (ND_DEVICE_NAMESPACE_IO, ND_DEVICE_NAMESPACE_PMEM) else "blk"
        )

    def available_size(self) -> int:
        if self.nstype not in (ND_DEVICE_NAMESPACE_PMEM, ND_DEVICE_NAMESPACE_BLK):
            return 0
        return _u64(self.attr("available_size"), 0)

    def max_available_extent(self) -> int:
        text = self.attr("max_available_extent")
        if text is None:
            return self.available_size()
        return _u64(text)

    def resource(self) -> int:
        return _u64(self.attr("resource"))

    def seed(self, kind: str) -> str:
        return self.attr(f"{kind}_seed") or ""

    def mappings(self) -> list[tuple[Dimm | None, int, int, int]]:
        """(dimm, offset, length, position) in reverse index order, as libndctl lists them."""
        found: list[tuple[Dimm | None, int, int, int]] = []
        for i in range(self.nr_mappings):
            text = self.attr(f"mapping{i}")
            if text is None:
                continue
            parts = text.split(",")
            if len(parts) < 3:
                continue
            dimm = self.bus.dimm_by_name(parts[0])
            position = _int(parts[3]) if len(parts) > 3 else -1
            found.insert(0, (dimm, _u64(parts[1], 0), _u64(parts[2], 0), position))
        return found

    def namespaces(self) -> list[Namespace]:
        if self._namespaces is None:
            found = []
            for name in _scan(self.sysfs, self.path, f"namespace{self.id}."):
                ns = Namespace.create(self, name)
                if ns is not None:
                    found.append(ns)
            self._namespaces = found
        return self._namespaces

    def claims(self, kind: str) -> list[Claim]:
        if kind not in self._claims:
            found: list[Claim] = []
            for name in _scan(self.sysfs, self.path, f"{kind}{self.id}."):
                claim = Claim.create(self, kind, name)
                if claim is not None:
                    found.append(claim)
            self._claims[kind] = found
        return self._claims[kind]

    def rescan(self) -> None:
        self._namespaces = None
        self._claims = {}

    def claim_by_name(self, name: str) -> Claim | None:
        for kind in ("btt", "pfn", "dax"):
            for claim in self.claims(kind):
                if claim.devname == name:
                    return claim
        return None

    def namespace_by_name(self, name: str) -> Namespace | None:
        return next((ns for ns in self.namespaces() if ns.devname == name), None)

    def enable(self) -> int:
        if self.is_enabled():
            return 0
        self.ctx.bind(self.devname)
        if not self.is_enabled():
            self.ctx.log.err("ndctl_region_enable", f"{self.devname}: failed to enable\n")
            return -errno_ENXIO
        self.rescan()
        return 0

    def disable(self) -> int:
        if not self.is_enabled():
            return 0
        self.ctx.unbind(self.path)
        if self.is_enabled():
            self.ctx.log.err("ndctl_region_disable", f"{self.devname}: failed to disable\n")
            return -16
        self.rescan()
        return 0


class Namespace(Device):
    def __init__(self, region: Region, path: str, ns_id: int) -> None:
        super().__init__(region.ctx, path)
        self.region = region
        self.id = ns_id
        self.nstype = 0
        self.size = 0
        self.uuid = NULL_UUID
        self.alt_name = ""
        self.numa_node = -1
        self.target_node = -1

    @classmethod
    def create(cls, region: Region, name: str) -> Namespace | None:
        pair = scan_int_pair(name, "namespace")
        if pair is None:
            return None
        ns = cls(region, f"{region.path}/{name}", pair[1])
        values = {n: ns.attr(n) for n in ("nstype", "size", "force_raw", "modalias")}
        if any(v is None for v in values.values()):
            return None
        ns.nstype = _int(values["nstype"], 0)
        ns.size = _u64(values["size"], 0)
        if ns.nstype in (ND_DEVICE_NAMESPACE_PMEM, ND_DEVICE_NAMESPACE_BLK):
            alt_name, uuid = ns.attr("alt_name"), ns.attr("uuid")
            if alt_name is None or uuid is None:
                return None
            ns.alt_name = alt_name
            ns.uuid = uuid or NULL_UUID
        ns.numa_node = _int(ns.attr("numa_node"))
        ns.target_node = _int(ns.attr("target_node"))
        return ns

    def refresh(self) -> None:
        self.size = _u64(self.attr("size"), 0)
        self.uuid = self.attr("uuid") or NULL_UUID
        self.alt_name = self.attr("alt_name") or ""

    def mode(self) -> str:
        """fsdax / devdax / sector / raw, or "" for a value ndctl does not know."""
        return {"memory": "fsdax", "dax": "devdax", "safe": "sector", "raw": "raw"}.get(
            self.attr("mode") or "", ""
        )

    def claim(self, kind: str) -> Claim | None:
        for claim in self.region.claims(kind):
            if claim.namespace() == self.devname:
                return claim
        return None

    def claims(self) -> list[Claim]:
        return [c for kind in ("btt", "pfn", "dax") if (c := self.claim(kind)) is not None]

    def is_active(self) -> bool:
        claims = self.claims()
        if claims:
            return any(c.is_enabled() for c in claims)
        return self.is_enabled()

    def is_configured(self) -> bool:
        if self.nstype == ND_DEVICE_NAMESPACE_IO:
            return True
        return self.size >= PAGE_SIZE and self.uuid != NULL_UUID

    def is_configuration_idle(self) -> bool:
        if self.is_active():
            return False
        if self.nstype == ND_DEVICE_NAMESPACE_IO:
            return True
        return not self.is_configured()

    def resource(self) -> int:
        return _u64(self.attr("resource"))

    def sector_sizes(self) -> tuple[list[int], int]:
        return size_list(self.attr("sector_size"))

    def enable(self) -> int:
        """ndctl_namespace_enable: bind the namespace, then see whether it or a claim
        came up. One enabled already is left alone."""
        if self.is_enabled():
            return 0
        self.ctx.bind(self.devname)
        self.region.rescan()
        if self.is_enabled() or any(c.is_enabled() for c in self.claims()):
            return 0
        self.ctx.log.err("ndctl_namespace_enable", f"{self.devname}: failed to enable\n")
        return -errno_ENXIO

    def disable_invalidate(self) -> int:
        for claim in self.claims():
            claim.disable_invalidate()
        if self.is_enabled():
            self.ctx.unbind(self.path)
        if self.is_enabled():
            self.ctx.log.err("ndctl_namespace_disable", f"{self.devname}: failed to disable\n")
            return -16
        self.region.rescan()
        return 0

    def delete(self) -> int:
        """ndctl_namespace_delete: free the capacity of a labelled namespace (size 0); an
        enabled one is busy, a label-less one has nothing to free."""
        if self.is_enabled():
            return -16  # EBUSY
        if self.nstype not in (ND_DEVICE_NAMESPACE_PMEM, ND_DEVICE_NAMESPACE_BLK):
            self.ctx.log.dbg(
                "ndctl_namespace_delete",
                f"{self.devname}: nstype: {self.nstype} not deletable\n",
            )
            return 0
        rc = self.write("size", "0\n")
        # Writing 0 to a namespace already deleted is refused (ENXIO): nothing was left.
        return 0 if rc == -errno_ENXIO else rc


class Claim(Device):
    """A btt, pfn or nd dax device."""

    def __init__(self, region: Region, kind: str, path: str, claim_id: int) -> None:
        super().__init__(region.ctx, path)
        self.region = region
        self.kind = kind
        self.id = claim_id

    @classmethod
    def create(cls, region: Region, kind: str, name: str) -> Claim | None:
        pair = scan_int_pair(name, kind)
        if pair is None:
            return None
        claim = cls(region, kind, f"{region.path}/{name}", pair[1])
        if claim.attr("modalias") is None or claim.attr("uuid") is None:
            return None
        if kind != "btt":
            if claim.attr("mode") not in ("none", "ram", "pmem"):
                return None
        elif claim.attr("sector_size") is None:
            return None
        return claim

    def namespace(self) -> str:
        return self.attr("namespace") or ""

    def uuid(self) -> str:
        return self.attr("uuid") or ""

    def mode(self) -> str:
        return self.attr("mode") or ""

    def align(self) -> int:
        return _u64(self.attr("align"), 0)

    def size(self) -> int:
        return _u64(self.attr("size"))

    def supported_alignments(self) -> list[int]:
        text = self.attr("supported_alignments")
        if text is None:
            return [4096, 2 << 20]
        return size_list(text)[0]

    def sector_size(self) -> int:
        return size_list(self.attr("sector_size"))[1]

    def disable_invalidate(self) -> int:
        if self.is_enabled():
            self.ctx.unbind(self.path)
        self.write("namespace", "\n")
        return 0

    def enable(self) -> int:
        self.ctx.bind(self.devname)
        if self.is_enabled():
            self.region.rescan()
            return 0
        func = {"btt": "ndctl_btt_enable", "pfn": "ndctl_pfn_enable", "dax": "ndctl_dax_enable"}
        self.ctx.log.err(func[self.kind], f"{self.devname}: failed to enable\n")
        return -errno_ENXIO
