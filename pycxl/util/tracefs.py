"""tracefs as libtracefs and libtraceevent give it to ndctl: instances, event switches, the
events' ``format`` files, and the binary records of ``per_cpu/cpuN/trace_pipe_raw``.

Everything goes through Sysfs (paths as on a real system), so the same code reads a real
kernel's tracefs and the emulated one.

Format files (libtraceevent's reading): after ``format:``, one ``field:<type> <name>;
offset:N; size:N; signed:N;`` line per field, the ``common_*`` ones first. A
``__data_loc`` field is a dynamic string (its 32-bit slot: length << 16 | offset); a name
with ``[N]`` is an array (of strings too, when its type is char, u8 or s8).

Pages (the kernel's ring buffer, as kbuffer parses them): u64 timestamp, u64 commit (data
bytes in its low 27 bits), then events. Event header: a little-endian u32, type_len in
bits 0-4, time delta in bits 5-31; type_len 1..28: data of type_len words follows; 0: the
next u32 is the data length + 4; 29 padding; 30 time extend (next u32 << 27 adds to the
delta); 31 absolute time stamp.
"""

from __future__ import annotations

import errno
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.sysfs.base import Sysfs

TRACING_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
#: tep field flags (libtraceevent's values).
IS_ARRAY = 1
IS_POINTER = 2
IS_SIGNED = 4
IS_STRING = 8
IS_DYNAMIC = 16
IS_LONG = 32
COMMIT_MASK = (1 << 27) - 1


class FormatField:
    __slots__ = ("elementsize", "flags", "name", "offset", "size", "type")

    def __init__(self, type_: str, name: str, offset: int, size: int, signed: bool) -> None:
        self.type = type_
        self.name = name
        self.offset = offset
        self.size = size
        flags = IS_SIGNED if signed else 0
        count = 0
        if type_.startswith("__data_loc"):
            flags |= IS_DYNAMIC | IS_ARRAY | IS_STRING
        elif "[" in name:
            name, _, rest = name.partition("[")
            self.name = name
            flags |= IS_ARRAY
            digits = rest.rstrip("]")
            count = int(digits, 0) if digits else 0
            if any(t in type_ for t in ("char", "u8", "s8")):
                flags |= IS_STRING
        self.flags = flags
        self.elementsize = size // count if count else size

    def raw(self, data: bytes) -> bytes:
        """The field's bytes in a record (a dynamic string's, NUL included)."""
        if self.flags & IS_DYNAMIC:
            (loc,) = struct.unpack_from("<I", data, self.offset)
            start, length = loc & 0xFFFF, loc >> 16
            return data[start : start + length]
        return data[self.offset : self.offset + self.size]


class EventFormat:
    __slots__ = ("fields", "id", "name", "pid_offset", "system")

    def __init__(self, system: str, name: str, id_: int, fields: list[FormatField]) -> None:
        self.system = system
        self.name = name
        self.id = id_
        self.fields = fields
        self.pid_offset = 4

    def field(self, name: str) -> FormatField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


def parse_format(system: str, text: str) -> EventFormat | None:
    """An event's ``format`` file (None when it is not one)."""
    try:
        return _parse_format(system, text)
    except (ValueError, KeyError):
        return None  # a format this reader does not know: the event is skipped


def _parse_format(system: str, text: str) -> EventFormat | None:
    name = ""
    id_ = -1
    fields: list[FormatField] = []
    pid_offset = 4
    for line in text.splitlines():
        if line.startswith("name: "):
            name = line[6:].strip()
        elif line.startswith("ID: "):
            id_ = int(line[4:])
        elif line.strip().startswith("field:"):
            parts = [p.strip() for p in line.strip().split(";") if p.strip()]
            decl = parts[0][len("field:") :].strip()
            attrs = dict(p.split(":", 1) for p in parts[1:])
            type_, _, fname = decl.rpartition(" ")
            f = FormatField(
                type_, fname, int(attrs["offset"]), int(attrs["size"]), attrs["signed"] == "1"
            )
            if f.name.startswith("common_"):
                if f.name == "common_pid":
                    pid_offset = f.offset
                continue
            fields.append(f)
    if not name or id_ < 0:
        return None
    fmt = EventFormat(system, name, id_, fields)
    fmt.pid_offset = pid_offset
    return fmt


class Record:
    __slots__ = ("cpu", "data", "event", "ts")

    def __init__(self, ts: int, cpu: int, data: bytes, event: EventFormat) -> None:
        self.ts = ts
        self.cpu = cpu
        self.data = data
        self.event = event

    @property
    def pid(self) -> int:
        value: int = struct.unpack_from("<i", self.data, self.event.pid_offset)[0]
        return value


def page_records(page: bytes) -> list[tuple[int, bytes]]:
    """(timestamp ns, record bytes) of one ring-buffer page; a page cut short gives the
    records before the cut."""
    out: list[tuple[int, bytes]] = []
    try:  # noqa: SIM105 - contextlib is not worth its import on every listing
        _page_records(page, out)
    except struct.error:
        pass
    return out


def _page_records(page: bytes, out: list[tuple[int, bytes]]) -> None:
    ts, commit = struct.unpack_from("<QQ", page, 0)
    end = min(16 + (commit & COMMIT_MASK), len(page))
    pos = 16
    while pos + 4 <= end:
        (header,) = struct.unpack_from("<I", page, pos)
        type_len, delta = header & 31, header >> 5
        if type_len == 29:  # padding: the rest of the page, or a discarded event
            if delta == 0:
                break
            (length,) = struct.unpack_from("<I", page, pos + 4)
            pos += 4 + length
            continue
        if type_len == 30:
            (extend,) = struct.unpack_from("<I", page, pos + 4)
            ts += (extend << 27) + delta
            pos += 8
            continue
        if type_len == 31:
            (upper,) = struct.unpack_from("<I", page, pos + 4)
            ts = (upper << 27) | delta
            pos += 8
            continue
        ts += delta
        if type_len == 0:
            (length,) = struct.unpack_from("<I", page, pos + 4)
            length -= 4
            start = pos + 8
        else:
            length = type_len * 4
            start = pos + 4
        out.append((ts, page[start : start + length]))
        pos = start + length


class Instance:
    """A tracefs instance (libtracefs's ``struct tracefs_instance``)."""

    def __init__(self, sysfs: Sysfs, tracing: str, name: str) -> None:
        self.sysfs = sysfs
        self.tracing = tracing
        self.name = name
        self.dir = f"{tracing}/instances/{name}"

    @classmethod
    def create(cls, sysfs: Sysfs, name: str) -> Instance | None:
        """tracefs_instance_create(): the instance, made when it is not there yet."""
        tracing = tracing_dir(sysfs)
        if tracing is None:
            return None
        inst = cls(sysfs, tracing, name)
        if not sysfs.exists(inst.dir):
            try:
                sysfs.mkdir(inst.dir)
            except OSError:
                return None
            if not sysfs.exists(f"{inst.dir}/tracing_on"):
                # Not tracefs (a copy of a tree, where mkdir makes a plain directory):
                # take back what was made rather than leave it there.
                inst.destroy()
                return None
        return inst

    def destroy(self) -> int:
        """tracefs_instance_destroy(): 0 or -errno."""
        try:
            self.sysfs.rmdir(self.dir)
        except OSError as e:
            return -(e.errno or errno.EIO)
        return 0

    def _write(self, name: str, data: bytes) -> int:
        try:
            self.sysfs.write(f"{self.dir}/{name}", data)
        except OSError as e:
            return -(e.errno or errno.EIO)
        return 0

    def event_enable(self, system: str, event: str | None = None) -> int:
        """tracefs_event_enable(): 0 or -errno."""
        path = f"events/{system}/enable" if event is None else f"events/{system}/{event}/enable"
        return self._write(path, b"1")

    def is_on(self) -> bool:
        try:
            return self.sysfs.read(f"{self.dir}/tracing_on").strip() == b"1"
        except OSError:
            return False

    def trace_on(self) -> int:
        return self._write("tracing_on", b"1")

    def trace_off(self) -> int:
        return self._write("tracing_on", b"0")

    def cpus(self) -> list[int]:
        try:
            names = self.sysfs.listdir(f"{self.dir}/per_cpu")
        except OSError:
            return []
        return sorted(int(n[3:]) for n in names if n.startswith("cpu") and n[3:].isdigit())

    def read_raw(self, system: str | None = None) -> list[Record]:
        """tracefs_iterate_raw_events(): every record of every CPU's buffer (consumed),
        oldest first, typed by the format files (of ``system``: records of other events
        are skipped, as unknown ones are). The formats are read only when there is a page.
        OSError when a CPU's pipe cannot be read."""
        page_size = subbuf_size(self.sysfs, self.tracing)
        pages: list[tuple[int, bytes]] = []
        for cpu in self.cpus():
            path = f"{self.dir}/per_cpu/cpu{cpu}/trace_pipe_raw"
            while True:
                page = self.sysfs.read_pipe(path, page_size)
                if not page:
                    break
                pages.append((cpu, page))
        if not pages:
            return []
        events = local_events(self.sysfs, self.tracing, system)
        records: list[Record] = []
        for cpu, page in pages:
            for ts, data in page_records(page):
                if len(data) < 2:
                    continue
                event = events.get(struct.unpack_from("<H", data, 0)[0])
                if event is not None:
                    records.append(Record(ts, cpu, data, event))
        records.sort(key=lambda r: r.ts)  # stable: per CPU order kept on ties
        return records


def tracing_dir(sysfs: Sysfs) -> str | None:
    """Where tracefs is (libtracefs looks in /proc/mounts; here, its usual places)."""
    for path in TRACING_DIRS:
        if sysfs.exists(f"{path}/trace"):
            return path
    return None


def subbuf_size(sysfs: Sysfs, tracing: str) -> int:
    """A page's size: the header page's ``data`` field ends it."""
    try:
        text = sysfs.read(f"{tracing}/events/header_page").decode()
    except OSError:
        return 4096
    for line in text.splitlines():
        if "field: char data;" in line:
            parts = dict(p.strip().split(":", 1) for p in line.split(";")[1:] if ":" in p)
            return int(parts["offset"]) + int(parts["size"])
    return 4096


def local_events(sysfs: Sysfs, tracing: str, system: str | None = None) -> dict[int, EventFormat]:
    """tracefs_local_events(): the formats of every event (of ``system``), by id."""
    out: dict[int, EventFormat] = {}
    base = f"{tracing}/events"
    try:
        systems = [system] if system else sysfs.listdir(base)
    except OSError:
        return out
    for sys_name in systems:
        try:
            names = sysfs.listdir(f"{base}/{sys_name}")
        except OSError:
            continue
        for name in names:
            try:
                text = sysfs.read(f"{base}/{sys_name}/{name}/format").decode(errors="replace")
            except OSError:
                continue
            fmt = parse_format(sys_name, text)
            if fmt is not None:
                out[fmt.id] = fmt
    return out
