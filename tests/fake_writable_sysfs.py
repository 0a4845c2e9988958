"""A fake kernel for tests: an exported sysfs tree held in memory, whose stores have the
minimal effects the specification describes, and which records every write.

It exists because the emulated kernel does not accept the cxl stores yet. It is small on
purpose: enough for every write command to run its whole sequence (region creation by the
``create_*_region`` handshake, region attributes, targets, commit, DPA allocation, driver
bind and unbind with their cascades), with the errno the real kernel gives for the refusals
the tests need (docs: specs/kernel-sysfs.md §0, §1.3, §2.3, §2.5). It is not a model of the
kernel's rules; fake_sysfs is.

Paths are guest paths (``/sys/...``, ``/dev/...``). ``writes`` holds every write as
``(path as given, bytes)``, failed ones included, in order; ``canonical_writes`` the same
with the attribute's real path.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from pathlib import Path

from pycxl.sysfs.base import DevStat, Sysfs
from pycxl.sysfs.order import kernfs_sorted

ULLONG_MAX = (1 << 64) - 1
SZ_256M = 256 << 20
CXL_DEVICES = "/sys/bus/cxl/devices"
CXL_DRIVERS = "/sys/bus/cxl/drivers"
#: cxl drivers and the device names they bind (specs/kernel-sysfs.md §1.3).
DRIVER_PREFIXES = {
    "cxl_port": ("port", "endpoint"),
    "cxl_mem": ("mem",),
    "cxl_region": ("region",),
}
WAYS = (1, 2, 3, 4, 6, 8, 12, 16)


def _is_decoder(name: str) -> bool:
    return name.startswith("decoder") and "." in name


def _error(code: int, path: str = "") -> OSError:
    return OSError(code, os.strerror(code), path)


def _value(data: bytes) -> str:
    """What a store sees: up to the NUL, one trailing newline dropped (sysfs_streq)."""
    text = data.split(b"\0", 1)[0].decode()
    return text[:-1] if text.endswith("\n") else text


def _number(text: str) -> int:
    """kstrto*(buf, 0): the whole value must be a number."""
    try:
        return int(text, 0)
    except ValueError:
        raise _error(errno.EINVAL) from None


class FakeKernelSysfs(Sysfs):
    def __init__(self, tree: Path) -> None:
        self.files: dict[str, bytes] = {}
        self.links: dict[str, str] = {}
        self.dirs: dict[str, set[str]] = {"/": {"sys", "dev"}, "/sys": set(), "/dev": set()}
        self.devs: dict[str, DevStat] = {}
        self.writes: list[tuple[str, bytes]] = []
        self.canonical_writes: list[tuple[str, bytes]] = []
        #: Stores to refuse, for error paths: attribute path suffix -> errno.
        self.refuse: dict[str, int] = {}
        #: Subtrees a driver removed, to come back when it binds again.
        self._stash: dict[str, list[tuple[str, str, object]]] = {}
        for part in ("sys", "dev"):
            self._load(tree / part, f"/{part}")

    # -- the tree ----------------------------------------------------------------------------

    def _load(self, host: Path, guest: str) -> None:
        for name in os.listdir(host):
            h, g = host / name, f"{guest}/{name}"
            st = os.lstat(h)
            if stat.S_ISLNK(st.st_mode):
                self._add(g, "link", os.readlink(h))
            elif stat.S_ISDIR(st.st_mode):
                self._add(g, "dir", None)
                self._load(h, g)
            elif stat.S_ISCHR(st.st_mode):
                self._add(g, "dev", DevStat(True, os.major(st.st_rdev), os.minor(st.st_rdev)))
            else:
                self._add(g, "file", h.read_bytes())

    def _add(self, path: str, kind: str, content: object) -> None:
        parent, _, name = path.rpartition("/")
        self.dirs.setdefault(parent, set()).add(name)
        if kind == "dir":
            self.dirs.setdefault(path, set())
        elif kind == "link":
            assert isinstance(content, str)
            self.links[path] = content
        elif kind == "dev":
            assert isinstance(content, DevStat)
            self.devs[path] = content
        else:
            assert isinstance(content, bytes)
            self.files[path] = content

    def _remove(self, path: str) -> list[tuple[str, str, object]]:
        """Take ``path`` (and everything below it) out of the tree; returns what it was."""
        gone: list[tuple[str, str, object]] = []
        if path in self.dirs:
            gone.append((path, "dir", None))
            for name in sorted(self.dirs[path]):
                gone.extend(self._remove(f"{path}/{name}"))
            del self.dirs[path]
        elif path in self.links:
            gone.append((path, "link", self.links.pop(path)))
        elif path in self.files:
            gone.append((path, "file", self.files.pop(path)))
        elif path in self.devs:
            gone.append((path, "dev", self.devs.pop(path)))
        parent, _, name = path.rpartition("/")
        self.dirs.get(parent, set()).discard(name)
        return gone

    def _restore(self, entries: list[tuple[str, str, object]]) -> None:
        for path, kind, content in entries:
            self._add(path, kind, content)

    def _link(self, path: str, target: str) -> None:
        """A relative symlink at ``path`` to the guest path ``target``, as sysfs makes."""
        self._add(path, "link", posixpath.relpath(target, posixpath.dirname(path)))

    def _canon(self, path: str, depth: int = 0) -> str:
        if depth > 40:
            raise _error(errno.ELOOP, path)
        current = ""
        parts = [p for p in path.split("/") if p]
        for i, part in enumerate(parts):
            if part == ".":
                continue
            if part == "..":
                current = current.rpartition("/")[0]
                continue
            candidate = f"{current}/{part}"
            if candidate in self.links:
                target = self.links[candidate]
                base = target if target.startswith("/") else posixpath.join(current, target)
                current = self._canon(posixpath.normpath(base), depth + 1)
            elif candidate in self.dirs or (
                i == len(parts) - 1 and (candidate in self.files or candidate in self.devs)
            ):
                current = candidate
            else:
                raise _error(errno.ENOENT, path)
        return current or "/"

    def _canon_parent(self, path: str) -> str:
        """``path`` with its directory resolved and its last component as is."""
        head, _, name = path.rpartition("/")
        return f"{self._canon(head)}/{name}"

    def text(self, path: str) -> str:
        """An attribute's value without its newline (for tests and the rules)."""
        return _value(self.files[self._canon(path)])

    def put(self, path: str, value: str) -> None:
        """Set an attribute as the kernel shows it (value plus newline)."""
        self.files[self._canon_parent(path)] = f"{value}\n".encode()

    # -- Sysfs ---------------------------------------------------------------------------------

    def read(self, path: str) -> bytes:
        canon = self._canon(path)
        if canon in self.dirs:
            raise _error(errno.EISDIR, path)
        if canon not in self.files:
            raise _error(errno.ENXIO, path)
        return self.files[canon]

    def listdir(self, path: str) -> list[str]:
        canon = self._canon(path)
        if canon not in self.dirs:
            raise _error(errno.ENOTDIR, path)
        return kernfs_sorted(list(self.dirs[canon]))

    def realpath(self, path: str) -> str:
        return self._canon(path)

    def is_link(self, path: str) -> bool:
        try:
            return self._canon_parent(path) in self.links
        except OSError:
            return False

    def exists(self, path: str) -> bool:
        try:
            self._canon(path)
        except OSError:
            return False
        return True

    def stat_dev(self, path: str) -> DevStat:
        canon = self._canon(path)
        if canon in self.devs:
            return self.devs[canon]
        if canon in self.files:
            return DevStat(False, 0, 0)
        raise _error(errno.ENOENT, path)

    def open_dev(self, path: str) -> int:
        raise _error(errno.ENXIO, path)

    def write(self, path: str, data: bytes) -> None:
        self.writes.append((path, data))
        canon = self._canon(path)
        self.canonical_writes.append((canon, data))
        if canon not in self.files:
            raise _error(errno.EISDIR if canon in self.dirs else errno.EACCES, path)
        if len(data) > 4096:
            raise _error(errno.E2BIG, path)
        for suffix, code in self.refuse.items():
            if canon.endswith(suffix):
                raise _error(code, path)
        try:
            self._store(canon, data)
        except OSError as e:
            raise _error(e.errno or errno.EIO, path) from None

    # -- the kernel's reactions ------------------------------------------------------------

    def _store(self, path: str, data: bytes) -> None:
        directory, _, attr = path.rpartition("/")
        value = _value(data)
        parent_name = directory.rpartition("/")[2]
        if path == "/sys/bus/cxl/flush":
            if value != "1":
                raise _error(errno.EINVAL)
            return
        if directory.startswith(f"{CXL_DRIVERS}/") and attr in ("bind", "unbind"):
            driver = directory.rpartition("/")[2]
            (self._bind if attr == "bind" else self._unbind)(driver, value)
            return
        if attr == "unbind" and parent_name == "driver":
            self._platform_unbind(directory.rpartition("/")[0], value)
            return
        if _is_decoder(parent_name):
            self._decoder_store(directory, attr, value)
            return
        if parent_name.startswith("region") and "decoder" in directory:
            self._region_store(directory, attr, value, data)
            return
        if attr == "state" and parent_name.startswith("memory"):
            if value not in ("online", "offline", "online_movable", "online_kernel"):
                raise _error(errno.EINVAL)
            self.put(path, "offline" if value == "offline" else "online")
            return
        raise _error(errno.EACCES)

    # devices and drivers

    def _device(self, name: str) -> str:
        try:
            return self._canon(f"{CXL_DEVICES}/{name}")
        except OSError:
            raise _error(errno.ENODEV) from None

    def _driver_of(self, dev: str) -> str | None:
        link = f"{dev}/driver"
        if link not in self.links:
            return None
        return posixpath.basename(self.links[link])

    def _bind(self, driver: str, name: str) -> None:
        dev = self._device(name)
        if not name.startswith(DRIVER_PREFIXES.get(driver, ("\0",))):
            raise _error(errno.ENODEV)
        if self._driver_of(dev) is not None:
            raise _error(errno.EBUSY)
        if driver == "cxl_region" and self.text(f"{dev}/commit") != "1":
            raise _error(errno.ENXIO)
        self._restore(self._stash.pop(dev, []))
        self._link(f"{dev}/driver", f"{CXL_DRIVERS}/{driver}")

    def _unbind(self, driver: str, name: str) -> None:
        dev = self._device(name)
        if self._driver_of(dev) != driver:
            raise _error(errno.ENODEV)
        self._remove(f"{dev}/driver")
        gone: list[tuple[str, str, object]] = []
        if driver == "cxl_mem":
            # The endpoint goes with the memdev's driver.
            for ep in self._endpoints_of(dev):
                gone.extend(self._remove(ep))
                gone.extend(self._remove(f"{CXL_DEVICES}/{ep.rpartition('/')[2]}"))
        elif driver == "cxl_port":
            for child in sorted(self.dirs[dev]):
                if _is_decoder(child):
                    gone.extend(self._remove(f"{dev}/{child}"))
        if gone:
            self._stash[dev] = gone

    def _endpoints_of(self, memdev: str) -> list[str]:
        found = []
        for path in list(self.dirs):
            if posixpath.basename(path).startswith("endpoint") and f"{path}/uport" in self.links:
                try:
                    if self._canon(f"{path}/uport") == memdev:
                        found.append(path)
                except OSError:
                    continue
        return found

    def _platform_unbind(self, dev: str, name: str) -> None:
        """The platform driver behind a CXL root lets go: the root and all below it go."""
        if posixpath.basename(dev) != name:
            raise _error(errno.ENODEV)
        for child in sorted(self.dirs.get(dev, set())):
            if child.startswith("root"):
                self._remove(f"{dev}/{child}")
                self._remove(f"{CXL_DEVICES}/{child}")
        if f"{dev}/driver" in self.links or f"{dev}/driver" in self.dirs:
            self._remove(f"{dev}/driver")

    # decoders

    def _num(self, path: str, default: int = 0) -> int:
        try:
            return int(self.text(path), 0)
        except (KeyError, OSError, ValueError):
            return default

    def _decoder_store(self, dec: str, attr: str, value: str) -> None:
        if posixpath.basename(posixpath.dirname(dec)).startswith("root"):
            if attr in ("create_pmem_region", "create_ram_region"):
                self._create_region(dec, attr[len("create_") : -len("_region")], value)
                return
            if attr == "delete_region":
                self._delete_region(dec, value)
                return
            raise _error(errno.EACCES)
        if not posixpath.basename(posixpath.dirname(dec)).startswith("endpoint"):
            raise _error(errno.EACCES)
        busy = self.text(f"{dec}/region") != "" or self._num(f"{dec}/size") != 0
        if attr == "mode":
            if value not in ("ram", "pmem"):
                raise _error(errno.EINVAL)
            if busy:
                raise _error(errno.EBUSY)
            if self._partition(dec, value)[1] == 0:
                raise _error(errno.ENXIO)
            self.put(f"{dec}/mode", value)
        elif attr == "dpa_size":
            size = _number(value)
            if size % SZ_256M:
                raise _error(errno.EINVAL)
            if busy:
                raise _error(errno.EBUSY)
            self.put(f"{dec}/dpa_size", "0x0000000000000000")
            self.put(f"{dec}/dpa_resource", "0xffffffffffffffff")
            if size == 0:
                return
            mode = self.text(f"{dec}/mode")
            if mode not in ("ram", "pmem"):
                raise _error(errno.EINVAL)
            base, capacity = self._partition(dec, mode)
            used = 0
            port = posixpath.dirname(dec)
            for name in self.dirs[port]:
                other = f"{port}/{name}"
                if _is_decoder(name) and other != dec and self.text(f"{other}/mode") == mode:
                    used += self._num(f"{other}/dpa_size")
            if used + size > capacity:
                raise _error(errno.ENOSPC)
            self.put(f"{dec}/dpa_size", f"0x{size:016x}")
            self.put(f"{dec}/dpa_resource", f"{base + used:#x}")
        else:
            raise _error(errno.EACCES)

    def _partition(self, dec: str, mode: str) -> tuple[int, int]:
        """(DPA base, size) of the endpoint's memdev partition: ram first, then pmem."""
        memdev = self._canon(f"{posixpath.dirname(dec)}/uport")
        ram = self._num(f"{memdev}/ram/size")
        return (0, ram) if mode == "ram" else (ram, self._num(f"{memdev}/pmem/size"))

    # regions

    def _regions(self) -> list[str]:
        return [
            p for p in self.dirs if posixpath.basename(p).startswith("region") and "/decoder" in p
        ]

    def _next_region_id(self) -> int:
        used = {int(posixpath.basename(p)[6:]) for p in self._regions()}
        for path, content in self.files.items():
            if path.endswith(("/create_pmem_region", "/create_ram_region")):
                used.add(int(_value(content)[6:]))
        n = 0
        while n in used:
            n += 1
        return n

    def _create_region(self, dec: str, mode: str, value: str) -> None:
        if not value.startswith("region") or not value[6:].isdigit():
            raise _error(errno.EINVAL)
        if value != self.text(f"{dec}/create_{mode}_region"):
            raise _error(errno.EBUSY)
        region = f"{dec}/{value}"
        self._add(region, "dir", None)
        for attr, text in (
            ("uuid", "00000000-0000-0000-0000-000000000000" if mode == "pmem" else ""),
            ("commit", "0"),
            ("interleave_ways", "0"),
            ("interleave_granularity", "0"),
            ("resource", "0xffffffffffffffff"),
            ("size", "0x0"),
            ("mode", mode),
            ("devtype", "cxl_region"),
            ("modalias", "cxl:t6"),
        ):
            self._add(f"{region}/{attr}", "file", f"{text}\n".encode())
        self._link(f"{CXL_DEVICES}/{value}", region)
        self.put(f"{dec}/create_{mode}_region", value)  # consumed: a new id is shown below
        following = f"region{self._next_region_id()}"
        for kind in ("pmem", "ram"):
            if f"{dec}/create_{kind}_region" in self.files:
                self.put(f"{dec}/create_{kind}_region", following)

    def _delete_region(self, dec: str, name: str) -> None:
        region = f"{dec}/{name}"
        if not name.startswith("region") or region not in self.dirs:
            raise _error(errno.ENODEV)
        if self.text(f"{region}/commit") == "1":
            self._commit(region, False)
        for i in range(self._num(f"{region}/interleave_ways")):
            self._detach(region, i)
        self._remove(region)
        self._remove(f"{CXL_DEVICES}/{name}")
        # A freed id below the decoder's next one becomes its next one (specs/kernel-sysfs.md
        # §1.4).
        freed = int(name[6:])
        for kind in ("pmem", "ram"):
            attr = f"{dec}/create_{kind}_region"
            if attr in self.files and freed < int(self.text(attr)[6:]):
                self.put(attr, name)

    def _root_of(self, region: str) -> str:
        return posixpath.dirname(region)

    def _sized(self, region: str) -> bool:
        return self._num(f"{region}/resource", ULLONG_MAX) != ULLONG_MAX

    def _region_store(self, region: str, attr: str, value: str, data: bytes) -> None:
        root = self._root_of(region)
        committed = self.text(f"{region}/commit") == "1"
        ways = self._num(f"{region}/interleave_ways")
        if attr == "uuid":
            if self.text(f"{region}/mode") != "pmem":
                raise _error(errno.EACCES)
            if len(data) != 37 or len(value) != 36:
                raise _error(errno.EINVAL)
            try:
                int(value.replace("-", ""), 16)
            except ValueError:
                raise _error(errno.EINVAL) from None
            if value.lower() == "00000000-0000-0000-0000-000000000000":
                raise _error(errno.EINVAL)
            self.put(f"{region}/uuid", value.lower())
        elif attr == "interleave_granularity":
            granularity = _number(value)
            if granularity < 256 or granularity > 16384 or granularity & (granularity - 1):
                raise _error(errno.EINVAL)
            if self._num(f"{root}/interleave_ways") > 1 and granularity != self._num(
                f"{root}/interleave_granularity"
            ):
                raise _error(errno.EINVAL)
            if self._sized(region):
                raise _error(errno.EBUSY)
            self.put(f"{region}/interleave_granularity", str(granularity))
        elif attr == "interleave_ways":
            new = _number(value)
            root_ways = self._num(f"{root}/interleave_ways")
            if new not in WAYS or new % root_ways or (new // root_ways) & (new // root_ways - 1):
                raise _error(errno.EINVAL)
            if self._sized(region):
                raise _error(errno.EBUSY)
            for i in range(ways):
                self._remove(f"{region}/target{i}")
            for i in range(new):
                self._add(f"{region}/target{i}", "file", b"\n")
            self.put(f"{region}/interleave_ways", str(new))
        elif attr == "size":
            self._region_size(region, root, _number(value), ways)
        elif attr.startswith("target") and attr[6:].isdigit():
            position = int(attr[6:])
            if value == "":
                if position >= ways:
                    raise _error(errno.ENXIO)
                self._detach(region, position)
            else:
                self._attach(region, position, value, ways)
        elif attr == "commit":
            if value not in ("0", "1"):
                raise _error(errno.EINVAL)
            if (value == "1") != committed:
                self._commit(region, value == "1")
        else:
            raise _error(errno.EACCES)

    def _region_size(self, region: str, root: str, size: int, ways: int) -> None:
        current = self._num(f"{region}/size")
        if size == 0:
            if current and any(self.text(f"{region}/target{i}") for i in range(ways)):
                raise _error(errno.EBUSY)
            self.put(f"{region}/size", "0x0")
            self.put(f"{region}/resource", "0xffffffffffffffff")
            return
        if size == current:
            return
        if current:
            raise _error(errno.EBUSY)
        if not ways or not self._num(f"{region}/interleave_granularity"):
            raise _error(errno.ENXIO)
        if self.text(f"{region}/mode") == "pmem" and set(self.text(f"{region}/uuid")) <= {"0", "-"}:
            raise _error(errno.ENXIO)
        if size % (SZ_256M * ways):
            raise _error(errno.EINVAL)
        start, end = (
            self._num(f"{root}/start"),
            self._num(f"{root}/start") + self._num(f"{root}/size"),
        )
        taken = sorted(
            (self._num(f"{r}/resource"), self._num(f"{r}/size"))
            for r in self._regions()
            if r.startswith(f"{root}/") and r != region and self._sized(r)
        )
        base = start
        for other_start, other_size in taken:
            if base + size <= other_start:
                break
            base = max(base, other_start + other_size)
        if base + size > end:
            raise _error(errno.ERANGE)
        self.put(f"{region}/size", f"{size:#x}")
        self.put(f"{region}/resource", f"{base:#x}")

    def _attach(self, region: str, position: int, name: str, ways: int) -> None:
        dec = self._device(name)
        if not posixpath.basename(posixpath.dirname(dec)).startswith("endpoint"):
            raise _error(errno.EINVAL)
        if self.text(f"{dec}/mode") != self.text(f"{region}/mode"):
            raise _error(errno.EINVAL)
        if not self._sized(region):
            raise _error(errno.ENXIO)
        if position >= ways:
            raise _error(errno.ENXIO)
        dpa_size = self._num(f"{dec}/dpa_size")
        if not dpa_size:
            raise _error(errno.ENXIO)
        if dpa_size * ways != self._num(f"{region}/size"):
            raise _error(errno.EINVAL)
        if self.text(f"{region}/target{position}") or self.text(f"{dec}/region"):
            raise _error(errno.EBUSY)
        self.put(f"{region}/target{position}", name)
        self.put(f"{dec}/region", posixpath.basename(region))

    def _detach(self, region: str, position: int) -> None:
        name = self.text(f"{region}/target{position}")
        if not name:
            return
        if self.text(f"{region}/commit") == "1":
            self._commit(region, False)
        dec = self._device(name)
        self.put(f"{dec}/region", "")
        self.put(f"{region}/target{position}", "")

    def _commit(self, region: str, on: bool) -> None:
        ways = self._num(f"{region}/interleave_ways")
        targets = [self.text(f"{region}/target{i}") for i in range(ways)]
        if on and (not ways or not all(targets)):
            raise _error(errno.ENXIO)
        if not on and self._driver_of(region) is not None:
            self._remove(f"{region}/driver")
        for name in targets:
            if not name or not self.exists(f"{CXL_DEVICES}/{name}"):
                continue
            dec = self._device(name)
            port = posixpath.dirname(dec)
            count = self._num(f"{port}/decoders_committed")
            if on:
                self.put(f"{dec}/start", self.text(f"{region}/resource"))
                self.put(f"{dec}/size", self.text(f"{region}/size"))
                self.put(f"{dec}/interleave_ways", str(ways))
                self.put(
                    f"{dec}/interleave_granularity", self.text(f"{region}/interleave_granularity")
                )
                self.put(f"{port}/decoders_committed", str(count + 1))
            else:
                self.put(f"{dec}/start", "0x0")
                self.put(f"{dec}/size", "0x0")
                self.put(f"{port}/decoders_committed", str(max(count - 1, 0)))
        self.put(f"{region}/commit", "1" if on else "0")
