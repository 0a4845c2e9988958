"""Human-readable views of a platform and its kernel state: tables and a topology tree."""

from __future__ import annotations

from tabulate import tabulate

from fake_sysfs.kernel import iomem
from fake_sysfs.kernel.ports import Port
from fake_sysfs.kernel.state import HasDevice, Kernel
from fake_sysfs.platform.sizes import format_size
from fake_sysfs.store import Origin


def _size(value: int) -> str:
    return format_size(value) if value else "-"


def _bound(k: Kernel, obj: HasDevice) -> bool:
    """Whether the object's device has a driver (a device not registered has none)."""
    dev = k.devices.get(obj.devkey)
    return dev is not None and bool(dev.driver)


def _caps(k: Kernel, index: int) -> str:
    dec = k.ports[0].decoders[index]
    caps = [name for name, on in (("ram", dec.cap_ram), ("pmem", dec.cap_pmem)) if on]
    if dec.cap_type2:
        caps.append("type2")
    return "+".join(caps)


def tables(k: Kernel, origin: Origin, state_dir: str) -> str:
    p = k.platform
    out = [
        f"platform: {p.name} ({origin.kind}"
        + (f" {origin.source}" if origin.kind != "qemu" else " command line")
        + ")",
    ]
    if p.description:
        out.append(f"  {p.description}")
    out.append(f"state: {state_dir}")
    out.append("")
    root = k.root()
    if root is not None:
        rows = []
        for i, dec in enumerate(root.decoders):
            regions = [r.name for r in k.regions.values() if r.root_decoder == i]
            rows.append(
                [
                    dec.name,
                    f"{dec.start:#x}",
                    _size(dec.size),
                    dec.ways,
                    dec.granularity,
                    ",".join(map(str, dec.targets)),
                    _caps(k, i),
                    dec.qos_class,
                    " ".join(regions) or "-",
                ]
            )
        out.append("Fixed memory windows (root decoders)")
        out.append(
            tabulate(
                rows,
                ["decoder", "base", "size", "ways", "gran", "targets", "allows", "qos", "regions"],
            )
        )
        out.append("")
    rows = []
    for port in sorted(k.ports.values(), key=lambda q: q.id):
        if port.kind == "endpoint":
            continue
        rows.append(
            [
                port.name,
                port.uport.rsplit("/", 1)[-1],
                "-" if port.parent is None else k.ports[port.parent].name,
                ",".join(str(d.id) for d in port.dports) or "-",
                len(port.decoders),
                port.decoders_committed(),
                "-" if port.kind == "root" else ("yes" if _bound(k, port) else "no"),
            ]
        )
    out.append("Ports")
    out.append(
        tabulate(rows, ["port", "host", "parent", "dports", "decoders", "committed", "bound"])
    )
    out.append("")
    rows = []
    for mem in sorted(k.memdevs.values(), key=lambda m: m.id):
        ep = k.ports.get(mem.endpoint) if mem.endpoint is not None else None
        rows.append(
            [
                mem.name,
                mem.parent.rsplit("/", 1)[-1],
                _size(mem.ram_size),
                _size(mem.pmem_size),
                _size(mem.lsa_size),
                f"{mem.serial:#x}",
                mem.numa_node,
                ep.name if ep else "-",
                "yes" if _bound(k, mem) else "no",
            ]
        )
    out.append("Memory devices")
    out.append(
        tabulate(
            rows, ["memdev", "host", "ram", "pmem", "lsa", "serial", "node", "endpoint", "bound"]
        )
    )
    if k.regions:
        out.append("")
        rows = []
        for r in sorted(k.regions.values(), key=lambda r: r.id):
            rows.append(
                [
                    r.name,
                    f"decoder{r.root_port}.{r.root_decoder}",
                    r.mode,
                    "-" if r.start is None else f"{r.start:#x}",
                    _size(r.size),
                    r.ways,
                    r.granularity,
                    r.state,
                    " ".join(t for t in r.targets if t) or "-",
                ]
            )
        out.append("Regions")
        out.append(
            tabulate(
                rows,
                ["region", "decoder", "mode", "base", "size", "ways", "gran", "state", "targets"],
            )
        )
    out.append("")
    out.append("/proc/iomem")
    out.append(iomem.render(k).rstrip("\n"))
    return "\n".join(out) + "\n"


def tree(k: Kernel) -> str:
    """The CXL topology as an indented tree, from the root down to the memdevs."""
    lines: list[str] = []
    root = k.root()
    if root is None:
        return "(no CXL root)\n"
    children: dict[int, list[Port]] = {}
    for port in k.ports.values():
        if port.parent is not None:
            children.setdefault(port.parent, []).append(port)

    def label(port: Port) -> str:
        host = port.uport.rsplit("/", 1)[-1]
        if port.kind == "endpoint" and port.memdev is not None:
            mem = k.memdevs[port.memdev]
            parts = [
                f"ram {format_size(mem.ram_size)}" if mem.ram_size else "",
                f"pmem {format_size(mem.pmem_size)}" if mem.pmem_size else "",
            ]
            detail = ", ".join(p for p in parts if p)
            return f"{port.name} -> {mem.name} ({mem.parent.rsplit('/', 1)[-1]}; {detail})"
        state = "" if _bound(k, port) or port.kind == "root" else " [disabled]"
        return f"{port.name} ({host}){state}"

    def walk(port: Port, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("`-- " if last else "|-- ")
        lines.append(f"{prefix}{branch}{label(port)}")
        inner = prefix if top else prefix + ("    " if last else "|   ")
        items: list[str | Port] = []
        if port.kind == "root":
            for i, dec in enumerate(port.decoders):
                regions = [r.name for r in k.regions.values() if r.root_decoder == i]
                suffix = f" {' '.join(regions)}" if regions else ""
                items.append(
                    f"{dec.name}: window {dec.start:#x} {format_size(dec.size)} x{dec.ways} "
                    f"-> host bridges {','.join(map(str, dec.targets))} ({_caps(k, i)}){suffix}"
                )
        kids: list[Port] = sorted(children.get(port.id, []), key=lambda q: q.id)
        items.extend(kids)
        for i, item in enumerate(items):
            is_last = i == len(items) - 1
            if isinstance(item, Port):
                walk(item, inner, is_last, False)
            else:
                lines.append(f"{inner}{'`-- ' if is_last else '|-- '}{item}")

    walk(root, "", True, True)
    return "\n".join(lines) + "\n"
