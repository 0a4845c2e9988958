"""Regions (``regionN`` inside a root decoder) and their mappings."""

from __future__ import annotations

import errno
import os

from pycxl.cxl.lib.device import Device, c_hex
from pycxl.util.cparse import ULLONG_MAX, strtoull, to_uint
from pycxl.util.sysattr import attr_int, attr_u64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from pycxl.cxl.lib.decoder import Decoder
    from pycxl.cxl.lib.port import Bus, Port

UINT_MAX = 0xFFFFFFFF
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_UUID_GROUPS = [8, 4, 4, 4, 12]


def is_uuid(text: str) -> bool:
    """The canonical UUID form: groups of 8, 4, 4, 4 and 12 hex digits (either case)
    joined by hyphens, and nothing else."""
    groups = text.split("-")
    return [len(g) for g in groups] == _UUID_GROUPS and all(
        _HEX_DIGITS.issuperset(g) for g in groups
    )


class Mapping:
    def __init__(self, region: Region, position: int, decoder: Decoder) -> None:
        self.region = region
        self.position = position
        self.decoder = decoder


class Region(Device):
    def __init__(self, decoder: Decoder, region_id: int, dev_path: str) -> None:
        self.decoder = decoder
        self.ctx = decoder.ctx
        self.id = region_id
        self.dev_path = dev_path
        self.devname = dev_path.rpartition("/")[2]
        self.size = ULLONG_MAX
        self.start = 0
        self.uuid = ""
        self.interleave_granularity = UINT_MAX
        self.interleave_ways = UINT_MAX
        #: 1 committed, 0 reset, -1 unknown.
        self.commit = -1
        self.mode = "none"
        self._mappings: list[Mapping] | None = None

    @classmethod
    def create(cls, decoder: Decoder, region_id: int, dev_path: str) -> Region | None:
        region = cls(decoder, region_id, dev_path)
        ctx = decoder.ctx
        if ctx.log.debug:
            ctx.log.dbg("add_cxl_region", f"{region.devname}: base: '{dev_path}'\n")
        (size, resource, uuid, granularity, ways, commit, mode, _) = ctx.read_attrs(
            dev_path,
            [
                "size",
                "resource",
                "uuid",
                "interleave_granularity",
                "interleave_ways",
                "commit",
                "mode",
                "modalias",
            ],
        )
        region.size = attr_u64(size, ULLONG_MAX)
        start = attr_u64(resource, 0)
        region.start = 0 if start == ULLONG_MAX else start
        if uuid is None or (uuid and not is_uuid(uuid)):
            return None
        region.uuid = uuid
        region.interleave_granularity = to_uint(attr_u64(granularity, UINT_MAX))
        region.interleave_ways = to_uint(attr_u64(ways, UINT_MAX))
        region.commit = attr_int(commit, -1)
        region.mode = {"ram": "ram", "volatile": "ram", "pmem": "pmem"}.get(mode or "", "none")
        return region

    @property
    def committed(self) -> bool:
        return self.commit == 1

    def bus(self) -> Bus | None:
        return self.decoder.port.bus()

    def mappings(self) -> list[Mapping]:
        """One mapping per readable ``targetN`` naming a known decoder, highest first."""
        if self._mappings is None:
            self._mappings = []
            ways = self.interleave_ways
            if ways == UINT_MAX:
                # Upstream v81 would loop to 2^32 here; there are no targets to read.
                return self._mappings
            log = self.ctx.log
            for position in range(ways):
                name = self.ctx.read_attr(f"{self.dev_path}/target{position}")
                if name is None:
                    log.err(
                        "cxl_mappings_init", f"{self.devname}: failed to read target{position}\n"
                    )
                    continue
                decoder = find_decoder(self.ctx.buses(), name)
                if decoder is None:
                    log.err(
                        "cxl_mappings_init",
                        f"{self.devname} target{position}: {name} lookup failure\n",
                    )
                    continue
                self._mappings.insert(0, Mapping(self, position, decoder))
        return self._mappings

    # -- the write side (libcxl's setters keep the cached fields current) -------------------

    def _set(self, attr: str, value: str) -> int:
        rc = self.write_attr(attr, value)
        return rc if rc < 0 else 0

    def set_interleave_granularity(self, granularity: int) -> int:
        rc = self._set("interleave_granularity", f"{granularity & UINT_MAX}\n")
        if rc == 0:
            self.interleave_granularity = granularity & UINT_MAX
        return rc

    def set_interleave_ways(self, ways: int) -> int:
        rc = self._set("interleave_ways", f"{ways & UINT_MAX}\n")
        if rc == 0:
            self.interleave_ways = ways & UINT_MAX
            self._mappings = None
        return rc

    def set_uuid(self, uuid: str) -> int:
        """The canonical lowercase form of ``uuid`` (which must be a valid UUID)."""
        rc = self._set("uuid", uuid.lower())
        if rc == 0:
            self.uuid = uuid.lower()
        return rc

    def set_size(self, size: int) -> int:
        if size == 0:
            self.ctx.log.dbg(
                "cxl_region_set_size",
                f"cxl_region_set_size: cannot use {self.devname} to delete a region\n",
            )
            return -errno.EINVAL
        rc = self._set("size", f"{c_hex(size)}\n")
        if rc == 0:
            self.size = size
        return rc

    def set_target(self, position: int, decoder: Decoder | None) -> int:
        """``cxl_region_set_target``: the endpoint decoder's name to ``target<position>``."""
        if decoder is None:
            return -errno.ENXIO
        rc = self._set(f"target{position}", decoder.devname)
        if rc == 0:
            self._mappings = None
        return rc

    def clear_target(self, position: int) -> int:
        """``cxl_region_clear_target``: an empty name to ``target<position>``, refused on a
        bound region."""
        log = self.ctx.log
        func = "cxl_region_clear_target"
        if self.is_enabled():
            log.err(func, f"{self.devname}: can't clear targets on an active region\n")
            return -errno.EBUSY
        rc = self._set(f"target{position}", "")
        if rc:
            log.err(func, f"{self.devname}: error clearing target{position}: {os.strerror(-rc)}\n")
            return rc
        self._mappings = None
        return 0

    def target_decoder(self, position: int) -> Decoder | None:
        """``cxl_region_get_target_decoder``: the decoder ``target<position>`` names."""
        log = self.ctx.log
        func = "cxl_region_get_target_decoder"
        name, rc = self.ctx.read_attr_rc(f"{self.dev_path}/target{position}")
        if name is None:
            log.err(func, f"{self.devname}: error reading target{position}: {os.strerror(-rc)}\n")
            return None
        decoder = find_decoder(self.ctx.buses(), name)
        if decoder is None:
            log.err(func, f"{self.devname}: error locating decoder for target{position}\n")
        return decoder

    def _set_decode(self, state: int) -> int:
        rc = self._set("commit", f"{state}\n")
        if rc == 0:
            self.commit = state
        return rc

    def decode_commit(self) -> int:
        """``commit`` <- 1: program the decoders."""
        return self._set_decode(1)

    def decode_reset(self) -> int:
        """``commit`` <- 0: reset the decoders."""
        return self._set_decode(0)

    def enable(self) -> int:
        """``cxl_region_enable``: bind to cxl_region; once bound the address range is
        known, so ``resource`` is read again."""
        if self.is_enabled():
            return 0
        self.bind()
        log = self.ctx.log
        if not self.is_enabled():
            log.err("cxl_region_enable", f"{self.devname}: failed to enable\n")
            return -errno.ENXIO
        text = self.ctx.read_attr(f"{self.dev_path}/resource")
        if text is not None:
            resource = strtoull(text)[0]
            if resource < ULLONG_MAX:
                self.start = resource
        log.dbg("cxl_region_enable", f"{self.devname}: enabled\n")
        return 0

    def disable(self) -> int:
        """``cxl_region_disable``: unbind from cxl_region."""
        return self.disable_device("cxl_region_disable")

    def delete(self) -> int:
        """``cxl_region_delete``: a bound region is refused (EBUSY) without a word; else its
        name goes to the root decoder's ``delete_region``."""
        if self.is_enabled():
            return -errno.EBUSY
        rc = self.decoder.delete_region_name(self.devname)
        if rc:
            return rc
        self.decoder.forget_region(self)
        return 0


def find_decoder(buses: list[Bus], name: str) -> Decoder | None:
    """A decoder by name. Order: each bus's root decoders, the decoders of endpoints right
    below the root, then every port depth first (its decoders, then its endpoints').

    A port's decoders are the entries named ``decoder<port id>.*``, so only the port whose
    id the name carries can hold it: the others' decoders are not read (at 1,024 memdevs
    that is thousands of directories). Under debug logging every port's decoders are
    still added, as upstream's search adds them, so that the log is the same."""
    owner = -1 if buses and buses[0].ctx.log.debug else _owner_id(name)

    def search(port: Port) -> Decoder | None:
        if owner >= 0 and port.id != owner:
            return None
        for dec in port.decoders():
            if dec.devname == name:
                return dec
        return None

    def below(bus: Bus) -> Iterator[Port]:
        """The ports whose decoders are searched, in upstream's order."""
        yield bus
        yield from bus.endpoints()
        for port in bus.descendants():
            yield port
            yield from port.endpoints()

    for bus in buses:
        for port in below(bus):
            found = search(port)
            if found is not None:
                return found
    return None


def _owner_id(name: str) -> int:
    """The port id in a decoder's name (``decoder3.1``: 3); -1 for another name."""
    digits = name.removeprefix("decoder").partition(".")[0]
    ok = name.startswith("decoder") and digits.isascii() and digits.isdigit()
    return int(digits) if ok else -1
