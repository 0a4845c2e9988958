"""The region part of the benchmark: ``create-region``, the listing of the new region and
``destroy-region``, pycxl against upstream, and stores through the FUSE mount.

Run from ``bench/run.py`` (``--sections regions``); see bench/README.md.

For one platform two state directories are booted from the same preset: pycxl runs as a
user runs it (its console script with FAKE_SYSFS_STATE on the first), the upstream binary
runs inside ``fake-sysfs run`` on the FUSE mount of the second (its twin), through a server
in that namespace (bench/nstime.py). Each round runs, one after another: pycxl creating,
listing and destroying a ram region, then the same with a pmem region, then upstream with a
pmem region (Debian's 76.1 refuses ram regions: "region type 'ram' not supported yet"), so
the pmem pair of a round is timed at the same moment and the reported ratio is the median of
the rounds' ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nstime import Local, Remote, Runner

from fake_sysfs.frontends import forkserver
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore

UPSTREAM = "/usr/bin/cxl"
DEVICES = "/sys/bus/cxl/devices"
#: What a round does to a region, in order.
STEPS = ("create", "list", "destroy")
#: The sides of a round, in the order they run. ``served``: pycxl on a third twin state,
#: with a fork server (``fake-sysfs serve``) keeping that state loaded.
SIDES = ("pycxl ram", "pycxl served ram", "pycxl pmem", "upstream pmem")
#: Targets (issue 7 §5).
TARGET_CREATE_MS = 300.0
TARGET_STORE_MS = 5.0
#: Stores through the FUSE mount, per kind.
STORE_PAIRS = 10


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Shape:
    """A region to create: its root decoder and target memdevs in position order."""

    decoder: str
    memdevs: list[str]
    #: Samples per side: step -> wall seconds of each round (None: the step failed).
    walls: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    #: The same for CPU seconds (user + system of the command; on the upstream side the
    #: FUSE daemon's work is not in it).
    cpus: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ways(self) -> int:
        return len(self.memdevs)

    def label(self) -> str:
        return f"{self.ways}-way on {self.decoder} ({' '.join(self.memdevs)})"


def boot(name: str, state: Path) -> None:
    StateStore(state).init(load_preset(name), Origin("preset", name), force=True)


def shapes_for(name: str, state: Path) -> list[Shape]:
    """The regions timed on a platform, with valid targets in position order."""
    kernel, _ = StateStore(state).load()
    if name == "scale-1024":
        # decoder0.1 is the x1 window of host bridge 0: 8 root ports, each with a switch of
        # 16 ports; position p goes to root port p % 8, switch port p // 8.
        by_serial = {m.serial: f"mem{m.id}" for m in kernel.memdevs.values()}
        ports = kernel.platform.host_bridges[0].root_ports

        def target(p: int) -> str:
            switch = ports[p % 8].switch
            assert switch is not None
            device = switch.ports[p // 8].device
            assert device is not None and device.serial is not None
            return by_serial[device.serial]

        return [Shape("decoder0.1", [target(p) for p in range(n)]) for n in (1, 2, 4, 8, 16)]
    # Host-bridge interleave, no switches (qemu-mixed): position p of a window is the host
    # bridge of its target p, which its first free memdev below that bridge serves.
    frontend = InProcess(StateStore(state))
    shapes = []
    try:
        for decoder in ("decoder0.1", "decoder0.2", "decoder0.0"):
            ids = frontend.read(f"{DEVICES}/{decoder}/target_list").decode().strip().split(",")
            used: set[int] = set()
            memdevs = []
            for dport in ids:
                bridge = os.path.basename(frontend.realpath(f"{DEVICES}/root0/dport{dport}"))
                below = sorted(
                    m.id
                    for m in kernel.memdevs.values()
                    if m.parent.startswith(f"devices/{bridge}/") and m.id not in used
                )
                used.add(below[0])
                memdevs.append(f"mem{below[0]}")
            shapes.append(Shape(decoder, memdevs))
    finally:
        frontend.close()
    return shapes


#: ``fake-sysfs serve --state STATE``: python -c this STATE (without the CLI and its typer,
#: which the benchmark's venv lacks; from /, so that ``-c`` puts no checkout on sys.path).
_SERVE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from fake_sysfs.frontends import forkserver\n"
    "from fake_sysfs.store import StateStore\n"
    "print(forkserver.spawn(StateStore(Path(sys.argv[1])), 3600))\n"
)

#: ``fake-sysfs run --state STATE -- ARGV...``: python -c this STATE ARGV...
_RUN_IN_NAMESPACE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from fake_sysfs.frontends.namespace import run_emulated\n"
    "from fake_sysfs.store import StateStore\n"
    "sys.exit(run_emulated(StateStore(Path(sys.argv[1])), sys.argv[2:]))\n"
)


def region_name(path: str) -> str | None:
    """The region a create-region printed (its JSON object), or None."""
    try:
        with open(path) as f:
            found = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(found, list):
        found = found[0] if found else {}
    name = found.get("region") if isinstance(found, dict) else None
    return name if isinstance(name, str) else None


def one_round(
    runner: Runner, cxl: str, shape: Shape, kind: str, out: str
) -> tuple[dict[str, float | None], dict[str, float | None], str | None]:
    """Create, list and destroy one region; the wall and CPU seconds of each step and, if
    one failed, why (its exit status and the last line of its stderr)."""
    err = out + ".err"
    walls: dict[str, float | None] = dict.fromkeys(STEPS)
    cpus: dict[str, float | None] = dict.fromkeys(STEPS)

    def step(name: str, argv: list[str]) -> str | None:
        sample = runner.run(argv, out if name == "create" else os.devnull, err)
        if sample["rc"] == 0:
            walls[name], cpus[name] = sample["wall_s"], sample["cpu_s"]
            return None
        with open(err, errors="replace") as f:
            lines = f.read().strip().splitlines()
        return f"{name} exited {sample['rc']}" + (f": {lines[-1]}" if lines else "")

    create = [cxl, "create-region", "-t", kind, "-d", shape.decoder, "-w", str(shape.ways)]
    failure = step("create", [*create, "-m", *shape.memdevs])
    name = region_name(out) if failure is None else None
    if name is None:
        # Whatever it left behind goes, so that the next round starts from the same state.
        runner.run([cxl, "destroy-region", "-f", "-d", shape.decoder, "all"])
        return walls, cpus, failure or "create-region printed no region"
    failures = [step("list", [cxl, "list", "-r", name, "-vvv"])]
    failures.append(step("destroy", [cxl, "destroy-region", "-f", name]))
    if failures[-1] is not None:
        runner.run([cxl, "destroy-region", "-f", "-d", shape.decoder, "all"])
    found = [f for f in failures if f is not None]
    return walls, cpus, ("; ".join(found) if found else None)


def fuse_stores(server: Remote, twin: Path, memdev: str) -> dict[str, list[float]]:
    """Stores through the FUSE mount, timed by the server: a fresh region's granularity
    alternating between two valid values, and a memdev unbound from and bound to cxl_mem
    (a cascade: its endpoint and decoders go and come back)."""
    frontend = InProcess(StateStore(twin))
    try:
        create = f"{DEVICES}/decoder0.1/create_pmem_region"
        name = frontend.read(create)
        frontend.write(create, name)
        region = name.decode().strip()
    finally:
        frontend.close()
    granularity = f"{DEVICES}/{region}/interleave_granularity"
    kinds = {
        "region interleave_granularity": [
            [granularity, value] for _ in range(STORE_PAIRS) for value in ("512", "256")
        ],
        "cxl_mem unbind + bind": [
            [f"/sys/bus/cxl/drivers/cxl_mem/{op}", memdev]
            for _ in range(STORE_PAIRS)
            for op in ("unbind", "bind")
        ],
    }
    results: dict[str, list[float]] = {}
    for kind, stores in kinds.items():
        answers = server.stores(stores)
        errors = sorted({a["errno"] for a in answers if a["errno"]})
        if errors:
            log(f"  FUSE stores {kind}: errno {errors}")
        results[kind] = [a["wall_s"] for a in answers if not a["errno"]]
    frontend = InProcess(StateStore(twin))
    try:
        frontend.write(f"{DEVICES}/decoder0.1/delete_region", (region + "\n").encode())
    finally:
        frontend.close()
    return results


def start_server(interpreter: str, state: Path, env: dict[str, str]) -> None:
    import subprocess

    proc = subprocess.run(
        [interpreter, "-c", _SERVE, str(state)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cannot start the fork server: {proc.stderr.strip()}")


def run_platform(
    name: str,
    work: Path,
    cxl: str,
    interpreter: str,
    env: dict[str, str],
    runs: int,
    upstream: bool,
    upstream_ways: list[int] | None,
    upstream_runs: int,
) -> dict[str, Any]:
    """Every shape of ``name``, ``runs`` rounds each; upstream only for ``upstream_ways``
    (None: all) and in the first ``upstream_runs`` rounds: on the FUSE mount at 1,024
    memdevs one of its rounds takes minutes."""
    state, twin = work / name / "regions-pycxl", work / name / "regions-upstream"
    served = work / name / "regions-served"
    for directory in (state, twin, served):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        boot(name, directory)
    shapes = shapes_for(name, state)
    memdevs = len(StateStore(state).load()[0].memdevs)
    out = str(work / name / "region.out")
    local = Local({**env, "FAKE_SYSFS_STATE": str(state)})
    local_served = Local({**env, "FAKE_SYSFS_STATE": str(served)})
    server: Remote | None = None
    stores: dict[str, list[float]] = {}
    served_runs = 0
    served_count: int | None = None
    start_server(interpreter, served, env)
    try:
        if upstream:
            # fake-sysfs run, without the CLI (and its typer) around it.
            prefix = [sys.executable, "-c", _RUN_IN_NAMESPACE, str(twin)]
            server = Remote(prefix, ["serve"], env={**env, "FAKE_SYSFS_STATE": str(twin)})
        for shape in shapes:
            sides: dict[str, tuple[Runner, str, str]] = {
                "pycxl ram": (local, cxl, "ram"),
                "pycxl served ram": (local_served, cxl, "ram"),
                "pycxl pmem": (local, cxl, "pmem"),
            }
            if server is not None and (upstream_ways is None or shape.ways in upstream_ways):
                sides["upstream pmem"] = (server, UPSTREAM, "pmem")
            log(f"{name}: regions {shape.label()}: {', '.join(sides)}")
            shape.walls = {side: {step: [] for step in STEPS} for side in sides}
            shape.cpus = {side: {step: [] for step in STEPS} for side in sides}
            for i in range(runs):
                for side, (runner, binary, kind) in sides.items():
                    if side.startswith("upstream") and i >= upstream_runs:
                        continue
                    walls, cpus, failure = one_round(runner, binary, shape, kind, out)
                    if side == "pycxl served ram":
                        served_runs += sum(1 for w in walls.values() if w is not None)
                    for step, wall in walls.items():
                        shape.walls[side][step].append(wall)
                        shape.cpus[side][step].append(cpus[step])
                    if failure:
                        shape.failures.append(f"{side} round {i + 1}: {failure}")
        if server is not None:
            memdev = shapes[-1].memdevs[-1]
            log(f"{name}: stores through the FUSE mount")
            stores = fuse_stores(server, twin, memdev)
    finally:
        if server is not None:
            server.close()
        served_count = forkserver.served(str(served))
        forkserver.stop(str(served))
    return {
        "platform": name,
        "memdevs": memdevs,
        "shapes": shapes,
        "stores": stores,
        # Commands the served side ran, and how many of them its server ran: equal, or the
        # served column measured the tool running without it.
        "served_runs": served_runs,
        "served_count": served_count,
    }


# -- the report ----------------------------------------------------------------------------


def median_ms(values: list[float | None]) -> float | None:
    good = [v for v in values if v is not None]
    return statistics.median(good) * 1000 if good else None


def pair_ratio(a: list[float | None], b: list[float | None]) -> float | None:
    """The median of a_i / b_i over the rounds where both sides ran and succeeded."""
    ratios = [x / y for x, y in zip(a, b, strict=False) if x is not None and y]
    return statistics.median(ratios) if ratios else None


def cycle(walls: dict[str, list[float | None]]) -> list[float | None]:
    """create + destroy of each round."""
    return [
        None if c is None or d is None else c + d
        for c, d in zip(walls["create"], walls["destroy"], strict=True)
    ]


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| platform | region | step | pycxl ram ms | pycxl ram CPU ms | served ram ms "
        "| served/in-process (median of pairs) | pycxl pmem ms "
        "| upstream pmem ms | pairs | pmem ratio pycxl/upstream (median of pairs) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for shape in result["shapes"]:
            steps = {step: {s: w[step] for s, w in shape.walls.items()} for step in STEPS}
            steps["create + destroy"] = {s: cycle(w) for s, w in shape.walls.items()}
            cpu = {step: shape.cpus["pycxl ram"][step] for step in STEPS}
            cpu["create + destroy"] = cycle(cpu)
            for step, sides in steps.items():
                ram, pmem = sides["pycxl ram"], sides["pycxl pmem"]
                warm = sides["pycxl served ram"]
                theirs = sides.get("upstream pmem")
                pairs = sum(1 for x, y in zip(pmem, theirs or [], strict=False) if x and y)
                lines.append(
                    f"| {result['platform']} | {shape.ways}-way {shape.decoder} | {step} "
                    f"| {fmt(median_ms(ram))} | {fmt(median_ms(cpu[step]))} "
                    f"| {fmt(median_ms(warm))} | {fmt(pair_ratio(warm, ram), 2)} "
                    f"| {fmt(median_ms(pmem))} "
                    f"| {fmt(median_ms(theirs) if theirs else None)} | {pairs} "
                    f"| {fmt(pair_ratio(pmem, theirs) if theirs else None, 2)} |"
                )
    return lines


def stores_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| platform | store through the FUSE mount | stores | median ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    for result in results:
        for kind, walls in result["stores"].items():
            lines.append(
                f"| {result['platform']} | {kind} | {len(walls)} "
                f"| {fmt(median_ms(list(walls)), 2)} "
                f"| {fmt(max(walls) * 1000 if walls else None, 2)} |"
            )
    return lines


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    def met(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    out = []
    big = [r for r in results if r["memdevs"] >= 1024]
    sixteen = [s for r in big for s in r["shapes"] if s.ways == 16]
    if sixteen:
        ram = median_ms(sixteen[0].walls["pycxl ram"]["create"])
        cpu = median_ms(sixteen[0].cpus["pycxl ram"]["create"])
        pmem = median_ms(sixteen[0].walls["pycxl pmem"]["create"])
        warm = median_ms(sixteen[0].walls["pycxl served ram"]["create"])
        result = big[0]
        really = result["served_count"] == result["served_runs"]
        if ram is not None:
            out.append(
                f"- 16-way `create-region` under {TARGET_CREATE_MS:.0f} ms wall at 1,024 "
                f"memdevs, with the fork server (`fake-sysfs serve`): "
                f"{met(really and warm is not None and warm < TARGET_CREATE_MS)} (ram "
                f"{fmt(warm)} ms; its server ran {result['served_count']} of the "
                f"{result['served_runs']} served commands). Without it, each command "
                f"loading the state: {met(ram < TARGET_CREATE_MS)} (ram {ram:.1f} ms, of "
                f"it {fmt(cpu)} ms CPU; pmem {fmt(pmem)} ms). Medians of "
                f"{len(sixteen[0].walls['pycxl ram']['create'])} rounds."
            )
    else:
        out.append("- 16-way `create-region` at 1,024 memdevs: not measured.")
    per_store = [
        (r["platform"], kind, median_ms(list(walls)))
        for r in results
        for kind, walls in r["stores"].items()
        if walls
    ]
    if per_store:
        worst = max(per_store, key=lambda t: t[2] or 0.0)
        ok = all(ms is not None and ms < TARGET_STORE_MS for _, _, ms in per_store)
        out.append(
            f"- Each store through the FUSE mount under {TARGET_STORE_MS:.0f} ms (median per "
            f"kind): {met(ok)} (slowest {worst[0]} {worst[1]}: {fmt(worst[2], 2)} ms)."
        )
    else:
        out.append("- Stores through the FUSE mount: not measured (no upstream side).")
    return out


def report(results: list[dict[str, Any]], runs: int) -> list[str]:
    lines = [
        "### Regions",
        "",
        f"Per region, {runs} round{'s' if runs != 1 else ''} (upstream fewer where the "
        "pairs column says so); a round runs "
        "pycxl's `cxl create-region -t ram`, `cxl list -r regionN -vvv` and "
        "`cxl destroy-region -f regionN`, then the same on a twin state served by a "
        "fork server (`fake-sysfs serve`: the same commands, each run in a fork of a "
        "process that keeps the state loaded; wall time only, the command's CPU is the "
        "server's child's), then pycxl with `-t pmem`, then upstream's "
        "with `-t pmem` on the FUSE mount of the twin state. Medians of wall time; the "
        "ratios are medians of the rounds' ratios. `create + destroy` is the "
        "full cycle of a round.",
        "",
        *table(results),
        "",
    ]
    lines += [
        f"Served side, {r['platform']}: its fork server ran {r['served_count']} of the "
        f"{r['served_runs']} commands that succeeded."
        for r in results
    ]
    lines.append("")
    failures = [
        f"- {r['platform']} {s.label()}: {f}"
        for r in results
        for s in r["shapes"]
        for f in s.failures
    ]
    if failures:
        lines += ["Failed steps (left out of the medians):", "", *failures, ""]
    if any(r["stores"] for r in results):
        lines += [
            f"Stores through the FUSE mount ({STORE_PAIRS} pairs per kind, each open, "
            "write, close timed from Python inside the namespace):",
            "",
            *stores_table(results),
            "",
        ]
    return lines


def record(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results as JSON-ready data."""
    return [
        {
            **{k: v for k, v in r.items() if k != "shapes"},
            "shapes": [
                {
                    "decoder": s.decoder,
                    "memdevs": s.memdevs,
                    "walls": s.walls,
                    "cpus": s.cpus,
                    "failures": s.failures,
                }
                for s in r["shapes"]
            ],
        }
        for r in results
    ]
