"""HDM decoders (``decoderP.N`` inside port P) and their targets."""

from __future__ import annotations

import errno
import os

from pycxl.cxl.lib.device import Device, c_hex
from pycxl.util.cparse import ULLONG_MAX, strtoull, to_uint
from pycxl.util.sysattr import ATTR_SIZE, attr_atoi, attr_texts, attr_u64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.cxl.lib.port import Port
    from pycxl.cxl.lib.region import Region

UINT_MAX = 0xFFFFFFFF


#: The attributes a decoder reads, in libcxl's order: those of every decoder, then the
#: root or endpoint ones. (Lists because that is what ``read_attrs`` takes; never mutated.)
_COMMON_ATTRS = ["start", "size", "mode", "interleave_granularity", "interleave_ways"]
_ROOT_ATTRS = [*_COMMON_ATTRS, "qos_class", "cap_type2", "cap_type3", "cap_ram", "cap_pmem"]
_ENDPOINT_ATTRS = [*_COMMON_ATTRS, "dpa_resource", "dpa_size"]


#: libcxl's decoder mode numbers (enum cxl_decoder_mode), as its messages print them.
MODE_NUMBERS = {"none": 0, "mixed": 1, "pmem": 2, "ram": 3}


def mode_from_ident(ident: str) -> str:
    """``cxl_decoder_mode_from_ident``: ``ram``/``volatile`` -> ram, ``pmem``, else none."""
    return {"ram": "ram", "volatile": "ram", "pmem": "pmem"}.get(ident, "none")


def parse_mode(value: str | None) -> str:
    if value is None:
        return "none"
    return value if value in ("none", "ram", "pmem") else "mixed"


class Target:
    def __init__(self, decoder: Decoder, position: int, target_id: int, dev_path: str) -> None:
        self.decoder = decoder
        self.position = position
        self.id = target_id
        self.dev_path = dev_path
        self.devname = dev_path.rpartition("/")[2]
        self.phys_path: str | None = None
        self.fw_path: str | None = None

    def maps_memdev(self, memdev: Memdev) -> bool:
        return (self.phys_path or self.dev_path) in memdev.host_path


class Decoder(Device):
    def __init__(self, port: Port, dec_id: int, dev_path: str) -> None:
        self.port = port
        self.ctx = port.ctx
        self.id = dec_id
        self.dev_path = dev_path
        self.devname = dev_path.rpartition("/")[2]
        self.start = ULLONG_MAX
        self.size = ULLONG_MAX
        self.mode = "none"
        self.interleave_granularity = UINT_MAX
        self.interleave_ways = UINT_MAX
        self.qos_class = -1
        self.dpa_resource = ULLONG_MAX
        self.dpa_size = ULLONG_MAX
        self.cap_type2 = False
        self.cap_type3 = False
        self.cap_ram = False
        self.cap_pmem = False
        self.max_available_extent = ULLONG_MAX
        self.targets: list[Target] = []
        self._regions: list[Region] | None = None
        self._rescan_regions = False

    @classmethod
    def create(cls, port: Port, dec_id: int, dev_path: str) -> Decoder | None:
        dec = cls(port, dec_id, dev_path)
        ctx = port.ctx
        if ctx.log.debug:
            ctx.log.dbg("add_cxl_decoder", f"{dec.devname}: base: '{dev_path}'\n")
        kind = port.kind
        if kind == "root":
            names = _ROOT_ATTRS
        elif kind == "endpoint":
            names = _ENDPOINT_ATTRS
        else:
            names = _COMMON_ATTRS
        start, size, mode, granularity, ways, *extra = ctx.read_attrs(dev_path, names)
        dec.start = attr_u64(start, ULLONG_MAX)
        dec.size = attr_u64(size, ULLONG_MAX)
        dec.mode = parse_mode(mode)
        dec.interleave_granularity = to_uint(attr_u64(granularity, UINT_MAX))
        dec.interleave_ways = to_uint(attr_u64(ways, UINT_MAX))
        if kind == "root":
            dec._root_attrs(*extra)
        elif kind == "endpoint":
            dpa_resource, dpa_size = extra
            dec.dpa_resource = attr_u64(dpa_resource, ULLONG_MAX)
            dec.dpa_size = attr_u64(dpa_size, ULLONG_MAX)
        if kind != "endpoint":
            dec._parse_targets(ctx.read_attr(f"{dev_path}/target_list") or "")
        return dec

    def _root_attrs(
        self,
        qos_class: str | None,
        cap_type2: str | None,
        cap_type3: str | None,
        cap_ram: str | None,
        cap_pmem: str | None,
    ) -> None:
        self.qos_class = attr_atoi(qos_class, -1)
        self.cap_type2 = attr_u64(cap_type2, 0) != 0
        self.cap_type3 = attr_u64(cap_type3, 0) != 0
        self.cap_ram = attr_u64(cap_ram, 0) != 0
        self.cap_pmem = attr_u64(cap_pmem, 0) != 0
        self.max_available_extent = self._max_available_extent()

    def _parse_targets(self, target_list: str) -> None:
        ctx = self.ctx
        for position, token in enumerate(t for t in target_list.split(",") if t):
            target_id = to_uint(strtoull(token)[0])
            entry = f"{self.port.dev_path}/dport{target_id}"
            real = ctx.realpath(entry)
            if real is None:
                ctx.log.err(
                    "add_cxl_decoder", f"{self.devname}: failed to parse target{position}\n"
                )
                break
            target = Target(self, position, target_id, real)
            target.phys_path = ctx.realpath(f"{entry}/physical_node")
            target.fw_path = ctx.realpath(f"{entry}/firmware_node")
            if target.phys_path is None and target.fw_path is not None:
                target.phys_path = real
            if ctx.log.debug:
                for what, path in (("phys_path", target.phys_path), ("fw_path", target.fw_path)):
                    ctx.log.dbg(
                        "add_cxl_decoder",
                        f"{self.devname}: target{position} {real} {what}: {path or 'none'}\n",
                    )
            self.targets.insert(0, target)

    def _max_available_extent(self) -> int:
        """The largest gap between configured regions of a root decoder's window.

        Unsigned 64-bit wrapping arithmetic, like upstream; a region counts when its size is
        non-zero and its commit state is not known to be 0."""
        if self.start == ULLONG_MAX:
            return ULLONG_MAX
        mask = ULLONG_MAX
        prev_end = (self.start - 1) & mask
        largest = 0
        for region in self.regions():
            if region.size == 0 or region.commit == 0:
                continue
            gap = (region.start - prev_end - 1) & mask
            largest = max(largest, gap)
            prev_end = (region.start + region.size - 1) & mask
        gap = ((self.start + self.size - 1) - prev_end) & mask
        return max(largest, gap)

    @property
    def nr_targets(self) -> int:
        return len(self.targets)

    def regions(self) -> list[Region]:
        """A root decoder's regions, sorted by start address.

        After a region was created or deleted the directory is scanned again, as libcxl
        does: a region found again replaces its old object, one no longer found is kept."""
        if self._regions is None or self._rescan_regions:
            from pycxl.cxl.lib.region import Region

            self._rescan_regions = False
            found = self.ctx.device_parse(
                self.dev_path, "region", lambda i, p: Region.create(self, i, p)
            )
            found.reverse()  # readdir order, so that equal starts keep it
            kept: list[Region] = []
            if self._regions is not None:
                ids = {r.id for r in found}
                kept = [r for r in self._regions if r.id not in ids]
            self._regions = sorted([*kept, *found], key=lambda r: r.start)
        return self._regions

    def region(self) -> Region | None:
        """The region a switch or endpoint decoder belongs to (re-read every time)."""
        if self.port.is_root():
            return None
        try:
            data = self.ctx.sysfs.read(f"{self.dev_path}/region")
            if len(data) >= ATTR_SIZE:
                # Upstream reports an oversized value with whatever errno is left over,
                # which is ENOENT from the failed optional reads before it.
                raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        except OSError as e:
            self.ctx.log.err(
                "cxl_decoder_get_region",
                f"failed to read region name: {os.strerror(e.errno or 0)}\n",
            )
            return None
        name = attr_texts[data]
        if not name:
            return None
        bus = self.port.bus()
        if bus is None:
            return None
        for root_decoder in bus.decoders():
            for region in root_decoder.regions():
                if region.devname == name:
                    return region
        return None

    def memdev(self) -> Memdev | None:
        return self.port.memdev() if self.port.is_endpoint() else None

    # -- the write side (libcxl's setters keep the cached fields current) -------------------

    def set_dpa_size(self, size: int) -> int:
        """``cxl_decoder_set_dpa_size``: allocate (or with 0, free) device capacity."""
        if not self.port.is_endpoint():
            self.ctx.log.err(
                "cxl_decoder_set_dpa_size", f"{self.devname}: not an endpoint decoder\n"
            )
            return -errno.EINVAL
        rc = self.write_attr("dpa_size", f"{c_hex(size)}\n")
        if rc < 0:
            return rc
        self.dpa_size = size
        return 0

    def set_mode(self, mode: str) -> int:
        """``cxl_decoder_set_mode``: the partition (``ram`` or ``pmem``) the next DPA
        allocation comes from."""
        if not self.port.is_endpoint():
            self.ctx.log.err("cxl_decoder_set_mode", f"{self.devname}: not an endpoint decoder\n")
            return -errno.EINVAL
        if mode not in ("pmem", "ram"):
            self.ctx.log.err(
                "cxl_decoder_set_mode",
                f"{self.devname}: unsupported mode: {MODE_NUMBERS.get(mode, 0)}\n",
            )
            return -errno.EINVAL
        rc = self.write_attr("mode", mode)
        if rc < 0:
            return rc
        self.mode = mode
        return 0

    def create_region(self, mode: str) -> Region | None:
        """``cxl_decoder_create_{pmem,ram}_region``: read the next region name from
        ``create_<mode>_region``, write it back, and find the new region by scanning again;
        a region that cannot be found is deleted."""
        ctx = self.ctx
        log = ctx.log
        func = "cxl_decoder_create_region"
        path = f"{self.dev_path}/create_{mode}_region"
        name, rc = ctx.read_attr_rc(path)
        if name is None:
            log.err(func, f"failed to read new region name: {os.strerror(-rc)}\n")
            return None
        rc = ctx.write_attr(path, name)
        if rc < 0:
            log.err(func, f"failed to write new region name: {os.strerror(-rc)}\n")
            return None
        self._rescan_regions = True
        for region in self.regions():
            if region.devname == name:
                return region
        log.err(func, "failed to add new region to libcxl\n")
        self.delete_region_name(name)
        return None

    def delete_region_name(self, name: str) -> int:
        """``cxl_region_delete_name``: the name to ``delete_region``."""
        rc = self.write_attr("delete_region", name)
        if rc != 0:
            self.ctx.log.err(
                "cxl_region_delete_name", f"error deleting region: {os.strerror(-rc)}\n"
            )
        return rc

    def forget_region(self, region: Region) -> None:
        """A deleted region leaves the list; the directory is scanned again when next asked."""
        if self._regions is not None and region in self._regions:
            self._regions.remove(region)
        self._rescan_regions = True

    def target_by_memdev(self, memdev: Memdev) -> Target | None:
        for target in self.targets:
            if target.maps_memdev(memdev):
                return target
        return None
