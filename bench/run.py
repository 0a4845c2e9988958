"""Benchmark pycxl against the upstream C binary (Debian ndctl 76.1 /usr/bin/cxl).

usage: sudo python3 bench/run.py [--quick] [--runs N] [--platforms NAME ...]
                                 [--sections list regions] [--skip-upstream] [--no-readme]

``list``: for each platform, boot it into a fresh state directory and export it (not
timed); time the installed ``cxl`` console script on the emulated state (FAKE_SYSFS_STATE:
cached, and first after a change of the state) and on the exported tree
(PYCXL_SYSFS_ROOT), alternating run by run with /usr/bin/cxl on the exported tree inside a
private mount namespace (bench/nstime.py). ``regions``: create-region, listing and
destroy-region against upstream on the FUSE mount of a twin state, and stores through the
mount (bench/regions.py). Writes a Markdown report into bench/README.md between the results
markers and the raw numbers into bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform as host
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import regions  # noqa: E402
from nstime import Local, Remote, Runner, alternate, gnu_time_available  # noqa: E402

UPSTREAM = "/usr/bin/cxl"
UPSTREAM_VERSION = "76.1"
DEFAULT_PLATFORMS = ["qemu-mixed", "scale-64", "scale-256", "scale-1024"]
QUICK_PLATFORMS = ["qemu-mixed", "scale-1024"]
#: The region benchmark's platforms (issue 7 §5); others are skipped there.
REGION_PLATFORMS = ["qemu-mixed", "scale-1024"]
SECTIONS = ["list", "regions"]
# `cxl list` options (after "list"). Each also gets a row where pycxl runs the v81 command
# line meaning the same listing as v76.1's, when that differs (tests/compat_v76.py).
COMMANDS = [[], ["-vvv", "-BPEMDRT"]]
README = BENCH / "README.md"
BEGIN, END = "<!-- results -->", "<!-- /results -->"
TARGET_DEFAULT_MS = 100.0
TARGET_PEAK_MB = 150.0

Result = dict[str, Any]
Row = dict[str, Any]


def fail(message: str) -> None:
    sys.exit(f"bench: {message}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def upstream_unavailable() -> str | None:
    """Why the upstream oracle cannot run here (the checks of tests/oracle), or None."""
    if os.geteuid() != 0:
        return "it runs in a private mount namespace, which needs root"
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    if not os.access(UPSTREAM, os.X_OK):
        return f"{UPSTREAM} is not installed (apt-get install ndctl)"
    version = subprocess.run([UPSTREAM, "--version"], capture_output=True, text=True)
    if version.stdout.strip() != UPSTREAM_VERSION:
        return f"{UPSTREAM} is version {version.stdout.strip()!r}, expected {UPSTREAM_VERSION}"
    return None


def fuse_unavailable() -> str | None:
    """Why this interpreter cannot serve the FUSE mount the region section's upstream side
    runs on, or None: checked before any section runs, not minutes in."""
    try:
        import mfusepy  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError):
        return (
            f"{sys.executable} cannot import mfusepy, the FUSE binding of the region "
            "section's mount (run this script with the project's .venv/bin/python)"
        )
    return None


def install_pycxl(work: Path) -> tuple[str, str]:
    """pycxl as a user gets it from ``pip install .`` into a virtual environment: a wheel
    of this checkout (working tree included), installed without dependencies (``cxl`` needs
    none) into a fresh venv. Returns its ``cxl`` script and interpreter.

    Why not the interpreter running this script: its site-packages may carry ``.pth`` files
    that run at every start-up (this sandbox's imports certifi, ~23 ms) and an editable
    install's import finder, costs of that environment rather than of pycxl; the baseline
    rows show both interpreters' start-up."""
    src, wheels, venv = work / "src", work / "wheel", work / "venv"
    for stale in (src, wheels, venv):
        shutil.rmtree(stale, ignore_errors=True)
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    for name in ("pycxl", "fake_sysfs", "man"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    quiet = {"capture_output": True, "text": True}
    steps = [
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
        [sys.executable, "-m", "venv", str(venv)],
    ]
    for step in steps:
        proc = subprocess.run(step, **quiet)  # type: ignore[call-overload]
        if proc.returncode != 0:
            fail(f"installing pycxl failed: {' '.join(step[:4])}: {proc.stderr.strip()}")
    python = venv / "bin" / "python"
    wheel = next(wheels.glob("pycxl-*.whl"))
    step = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    proc = subprocess.run(step, **quiet)  # type: ignore[call-overload]
    if proc.returncode != 0:
        fail(f"installing pycxl into {venv} failed: {proc.stderr.strip()}")
    return str(venv / "bin" / "cxl"), str(python)


def pycxl_script() -> tuple[str, str]:
    """The installed ``cxl`` console script next to this interpreter, and its interpreter."""
    script = Path(sys.executable).parent / "cxl"
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace")
    except OSError:
        first = ""
    if not first.startswith("#!") or "python" not in first:
        fail(
            f"{script} is not pycxl's console script; run this with the Python pycxl is "
            f'installed in (e.g. sudo "$(pyenv which python3)" bench/run.py)'
        )
    interpreter = first[2:].split()[0]
    if os.path.basename(interpreter) == "env":
        interpreter = sys.executable
    return str(script), interpreter


def child_env(**extra: str) -> dict[str, str]:
    """The caller's environment without the bytecode suppression and sysfs selectors."""
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "PYCXL_SYSFS_ROOT", "PYCXL_DEV_ROOT"):
        env.pop(name, None)
    env.pop("FAKE_SYSFS_STATE", None)
    env["LC_ALL"] = "C"
    env.update(extra)
    return env


def compile_packages(interpreter: str) -> list[str]:
    """Byte-compile pycxl and fake_sysfs where the console script imports them from."""
    where = subprocess.run(
        [
            interpreter,
            "-c",
            "import os, pycxl, fake_sysfs\n"
            "for m in (pycxl, fake_sysfs): print(os.path.dirname(m.__file__))",
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd="/",  # not the checkout, which ``-c`` would put first on sys.path
    )
    if where.returncode != 0:
        fail(f"{interpreter} cannot import pycxl and fake_sysfs: {where.stderr.strip()}")
    dirs = where.stdout.split()
    subprocess.run([interpreter, "-m", "compileall", "-q", *dirs], check=True, env=child_env())
    return dirs


def stage(name: str, work: Path) -> tuple[Path, Path, int]:
    """Boot ``name`` into a fresh state directory and export it. Returns (state, tree,
    number of memdevs)."""
    from fake_sysfs.frontends.export import export
    from fake_sysfs.kernfs.view import View
    from fake_sysfs.platform.presets import load_preset
    from fake_sysfs.store import Origin, StateStore

    state, tree = work / name / "state", work / name / "tree"
    store = StateStore(state)
    store.init(load_preset(name), Origin("preset", name), force=True)
    kernel, _ = store.load()
    export(View(kernel), tree, force=True)
    return state, tree, len(kernel.memdevs)


def upstream_server(tree: Path, out: Path) -> Remote:
    """The upstream side: a server in one private mount namespace with ``tree`` staged over
    /sys and /dev (bench/nstime.py), which runs the upstream binary when asked."""
    mnt = out / "mnt"
    mnt.mkdir()
    prefix = ["unshare", "-m", "--propagation", "private"]
    try:
        server = Remote(prefix, ["tree", str(tree), str(mnt)])
    except RuntimeError as e:
        fail(str(e))
    log(f"  upstream staged in {server.staging_s:.1f} s (not timed)")
    return server


class StateChange:
    """A change of the emulated state, made before each first-run sample (untimed): a
    region created on a root decoder and deleted again, two stores through the emulated
    kernel, by a process of the measured interpreter that then ends, as a
    ``create-region`` and a ``destroy-region`` in a script are. The listings do not change
    (a deleted region leaves nothing), but the state committed does: the next listing
    finds the read memo the change's process left (readcache.carry), not the one it had
    saved itself. The same interpreter, because the memo is only believed by the code
    that wrote it (readcache.code_key: this checkout's copy is another)."""

    CODE = (
        "from fake_sysfs.frontends.inprocess import InProcess\n"
        "f = InProcess()\n"
        "d = '/sys/bus/cxl/devices/decoder0.0'\n"
        "name = f.read(d + '/create_ram_region')\n"
        "f.write(d + '/create_ram_region', name)\n"
        "f.write(d + '/delete_region', name)\n"
        "f.close()\n"
    )

    def __init__(self, state: Path, interpreter: str) -> None:
        self.argv = [interpreter, "-c", self.CODE]
        self.env = child_env(FAKE_SYSFS_STATE=str(state))

    def __call__(self) -> None:
        done = subprocess.run(self.argv, env=self.env, cwd="/", capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"the state change before a first-run sample failed: {done.stderr.strip()}")

    def close(self) -> None:
        pass


def rows_for(name: str, memdevs: int) -> list[Row]:
    """The table rows of one platform: each command as typed, then, where v81 needs a
    different command line for v76.1's listing, pycxl with that one (against the same
    upstream command line)."""
    from tests.compat_v76 import command_lines

    rows = []
    for options in COMMANDS:
        rows.append({"platform": name, "memdevs": memdevs, "pycxl_options": options})
        rows[-1]["upstream_options"] = options
    for options in COMMANDS:
        same = command_lines(options)
        if same is not None and same[0] != options:
            rows.append({"platform": name, "memdevs": memdevs, "pycxl_options": same[0]})
            rows[-1]["upstream_options"] = options
    return rows


def measure_row(
    row: Row,
    cells: dict[str, tuple[Runner, list[str], Any]],
    runs: int,
    rss_runs: int,
    out: Path,
    index: int,
) -> None:
    """Time the row's cells alternately, then their peak RSS (not alternated: memory does
    not drift with the machine's load); results go into ``row`` under each cell's name."""
    outputs = {key: str(out / f"{key}-{index}.out") for key in cells}
    found = alternate(cells, runs, outputs)
    for key, (runner, argv, prepare) in cells.items():
        peaks = []
        for _ in range(rss_runs):
            if prepare is not None:
                prepare()
            peaks.append(runner.rss(argv, str(out)))
        result = found[key]
        if None in peaks:
            result["peak_rss_kib"], result["rss_method"] = result["maxrss_kib"], "wait4"
        else:
            result["peak_rss_kib"], result["rss_method"] = peaks, "gnu-time"
        with open(outputs[key], "rb") as f:
            data = f.read()
        result["stdout_sha256"] = hashlib.sha256(data).hexdigest()
        result["stdout_bytes"] = len(data)
        row[key] = result


def median_ms(result: Result | None) -> float | None:
    return None if result is None else statistics.median(result["wall_s"]) * 1000


def peak_mb(result: Result | None) -> float | None:
    return None if result is None else max(result["peak_rss_kib"]) / 1024


def pair_ratio(a: Result | None, b: Result | None) -> float | None:
    """The median of the per-run ratios a_i / b_i (run i of each was timed one after the
    other)."""
    if a is None or b is None:
        return None
    ratios: list[float] = [x / y for x, y in zip(a["wall_s"], b["wall_s"], strict=True)]
    return statistics.median(ratios)


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def cmd(options: list[str]) -> str:
    return "`" + " ".join(["cxl", "list", *options]) + "`"


def row_command(row: Row) -> str:
    if row["pycxl_options"] == row["upstream_options"]:
        return cmd(row["pycxl_options"])
    return f"{cmd(row['pycxl_options'])} (upstream: {cmd(row['upstream_options'])})"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| platform | memdevs | command | pycxl median ms | pycxl first after a change "
        "median ms | pycxl peak MB | pycxl file-backed median ms | upstream median ms "
        "| upstream peak MB | ratio pycxl/upstream | ratio first/upstream "
        "| ratio file-backed/upstream |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        up = r.get("upstream")
        peak = max(peak_mb(r["pycxl"]) or 0.0, peak_mb(r["cold"]) or 0.0)
        lines.append(
            f"| {r['platform']} | {r['memdevs']:,} | {row_command(r)} "
            f"| {fmt(median_ms(r['pycxl']))} | {fmt(median_ms(r['cold']))} | {fmt(peak)} "
            f"| {fmt(median_ms(r['file']))} | {fmt(median_ms(up))} | {fmt(peak_mb(up))} "
            f"| {fmt(pair_ratio(r['pycxl'], up), 2)} | {fmt(pair_ratio(r['cold'], up), 2)} "
            f"| {fmt(pair_ratio(r['file'], up), 2)} |"
        )
    return lines


#: What only the emulated memdevs' mailbox answers (``-vvv``, ``-H``, ``-I``, ``-A``, ``-F``):
#: a plain tree has no device to ask, so file-backed pycxl and upstream go without.
MAILBOX_KEYS = ("health", "alert_config", "partition_info", "firmware")


def without_mailbox(data: bytes) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in MAILBOX_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    try:
        return strip(json.loads(data))
    except ValueError:
        return data


def output_check(rows: list[Row]) -> list[str]:
    """Problems with what the measured commands printed: pycxl cached and first after a
    change must print the same bytes; file-backed pycxl the same but for the mailbox's
    answers; against upstream, where v76.1 has the same listing, file-backed pycxl's
    output with the documented v81-only keys removed (tests/compat_v76.py) must equal
    upstream's (both read the same plain tree)."""
    from tests.compat_v76 import command_lines
    from tests.compat_v76 import stdout as normalized

    def output(result: Result) -> bytes:
        with open(result["stdout_path"], "rb") as f:
            return f.read()

    def codes(result: Result) -> set[int]:
        return {result["warmup_rc"], *result["rc"]}

    problems = []
    for r in rows:
        where = f"{r['platform']} {row_command(r)}"
        cached, cold, file, theirs = r["pycxl"], r["cold"], r["file"], r.get("upstream")
        if cached["stdout_sha256"] != cold["stdout_sha256"] or codes(cached) | codes(cold) != (
            codes(cached)
        ):
            problems.append(f"{where}: pycxl cached and first after a change differ")
        if without_mailbox(output(cached)) != without_mailbox(output(file)) or codes(
            cached
        ) != codes(file):
            problems.append(f"{where}: emulated and file-backed pycxl differ")
        if theirs is None or command_lines(r["upstream_options"]) != (
            r["pycxl_options"],
            r["upstream_options"],
        ):
            continue
        if codes(theirs) != codes(file):
            problems.append(f"{where}: exit status differs from upstream")
        if normalized(output(file)) != output(theirs):
            problems.append(f"{where}: stdout differs from upstream")
    return problems


def met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def verdicts(rows: list[Row]) -> list[str]:
    out = []
    default = [r for r in rows if r["platform"] == "qemu-mixed" and r["pycxl_options"] == []]
    if default:
        ms = median_ms(default[0]["pycxl"]) or 0.0
        out.append(
            f"- `cxl list` on the default platform (qemu-mixed) under "
            f"{TARGET_DEFAULT_MS:.0f} ms wall: {met(ms < TARGET_DEFAULT_MS)} ({ms:.1f} ms)."
        )
    else:
        out.append("- `cxl list` on the default platform under 100 ms: not measured.")

    big = [r for r in rows if r["memdevs"] == 1024]
    if big and all(r.get("upstream") is not None for r in big):
        for r in big:
            for key, what in (("pycxl", ""), ("cold", " (first listing after a change)")):
                ratio = pair_ratio(r[key], r["upstream"]) or 0.0
                out.append(
                    f"- At 1,024 memdevs, {row_command(r)}{what} no slower than upstream "
                    f"on a static tree: {met(ratio <= 1.0)} (median of pairwise ratios "
                    f"{ratio:.2f}; medians pycxl {median_ms(r[key]):.1f} ms, upstream "
                    f"{median_ms(r['upstream']):.1f} ms)."
                )
    else:
        out.append("- At 1,024 memdevs no slower than upstream: not measured.")

    if rows:

        def peak(r: Row) -> float:
            return max(peak_mb(r["pycxl"]) or 0.0, peak_mb(r["cold"]) or 0.0)

        worst = max(rows, key=peak)
        mb = peak(worst)
        file_mb = max(peak_mb(r["file"]) or 0.0 for r in rows)
        out.append(
            f"- Peak memory under {TARGET_PEAK_MB:.0f} MB: {met(mb < TARGET_PEAK_MB)} "
            f"(largest pycxl peak {mb:.1f} MB, {worst['platform']} {row_command(worst)}; "
            f"file-backed pycxl largest {file_mb:.1f} MB)."
        )
    return out


def report(
    rows: list[Row],
    baseline: dict[str, Result],
    region_results: list[dict[str, Any]],
    meta: dict[str, Any],
) -> str:
    upstream = f"ndctl {UPSTREAM_VERSION} `{UPSTREAM}`" if meta["upstream"] else "not run"
    rss = (
        f"peak RSS of the command under GNU time, largest of {meta['rss_runs']} runs"
        if meta["rss_method"] == "gnu-time"
        else "peak RSS from `wait4` (an upper bound: it includes the launcher's RSS)"
    )
    lines = [
        f"Measured {meta['date']}: Linux {meta['kernel']}, {meta['cpus']} CPUs, "
        f"Python {meta['python']}; pycxl at commit {meta['source']}; 1-minute load average "
        f"{meta['load'][0]:.2f} before, {meta['load'][1]:.2f} after (the machine was "
        f"shared with other work: {meta['note']}). Upstream: {upstream}.",
        "",
    ]
    if rows:
        lines += [
            "### `cxl list`",
            "",
            f"Median of {meta['runs']} timed runs per cell after one untimed warm-up run; "
            "the cells of a row were run in turn (pycxl, pycxl first after a change, "
            "file-backed, upstream; then again), and each ratio is the median of the "
            "per-run ratios against upstream's run of the same turn.",
            "",
            *table(rows),
            "",
            f"MB = MiB; {rss}.",
            "",
            "pycxl = the emulated platform as a user meets it on a second and later run: "
            "the answers of an unchanged state come from the read cache (`reads.cache`, see "
            "fake-sysfs(1)). First after a change = the same, with a change of the state "
            "committed (untimed) before every run: a region created on decoder0.0 and "
            "deleted again, two stores through the emulated kernel.",
            "",
        ]
        problems = output_check(rows)
        if problems:
            lines += ["Output check, problems:", "", *[f"- {p}" for p in problems], ""]
        else:
            lines += [
                "Output check: for every row pycxl printed the same bytes cached and first "
                "after a change, and the same on the exported tree except for what only the "
                "emulated memdevs' mailbox answers (`health`, `alert_config`, "
                "`partition_info`, `firmware`: a plain tree has no device to ask); where "
                "v76.1 has the same listing, file-backed pycxl printed the same as upstream "
                "on the same tree once the documented v81-only keys are removed "
                "(tests/compat_v76.py).",
                "",
            ]
        lines += [
            "Interpreter start-up alone (no pycxl): the venv pycxl runs from, and the "
            "interpreter it was created from, whose site-packages this machine loads at "
            "start-up:",
            "",
            "| command | median ms | peak MB |",
            "|---|---:|---:|",
        ]
        for label, result in baseline.items():
            lines.append(f"| `{label}` | {fmt(median_ms(result))} | {fmt(peak_mb(result))} |")
        lines.append("")
    if region_results:
        lines += regions.report(region_results, meta["region_runs"])
    lines += ["### Targets", ""]
    if rows:
        lines += verdicts(rows)
    if region_results:
        lines += regions.verdicts(region_results)
    return "\n".join(lines)


def write_readme(body: str) -> None:
    block = f"{BEGIN}\n{body}\n{END}"
    text = README.read_text() if README.exists() else "# pycxl benchmark\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)


def source_version() -> str:
    """The commit pycxl was measured at, and whether its packages had uncommitted changes."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    dirty = git("status", "--porcelain", "--", "pycxl", "fake_sysfs")
    return commit + (" with uncommitted changes" if dirty else "")


def strip_paths(value: Any) -> Any:
    """Results for the JSON record, without the (deleted) scratch paths."""
    if isinstance(value, dict):
        return {k: strip_paths(v) for k, v in value.items() if k != "stdout_path"}
    if isinstance(value, list):
        return [strip_paths(v) for v in value]
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark pycxl against upstream cxl.")
    parser.add_argument("--runs", type=int, help="timed runs per cell (default 7; quick 2)")
    parser.add_argument(
        "--rss-runs", type=int, help="runs under GNU time for peak RSS (default 3; quick 1)"
    )
    parser.add_argument("--region-runs", type=int, help="rounds per region (default 3; quick 1)")
    parser.add_argument(
        "--big-upstream-runs",
        type=int,
        help="upstream rounds per region at 1,024 memdevs (default 1; quick 0)",
    )
    parser.add_argument(
        "--big-upstream-ways",
        type=int,
        nargs="+",
        default=[16],
        metavar="N",
        help="regions (by ways) timed on the upstream side at 1,024 memdevs (default 16)",
    )
    parser.add_argument("--platforms", nargs="+", metavar="NAME")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=SECTIONS)
    parser.add_argument("--quick", action="store_true", help="few runs: a smoke run")
    parser.add_argument("--skip-upstream", action="store_true", help="time pycxl only")
    parser.add_argument("--workdir", type=Path, help="stage here and keep it (default: a tmpdir)")
    parser.add_argument(
        "--no-readme",
        action="store_true",
        help="print the report only (bench/README.md and bench/results/ are left alone)",
    )
    parser.add_argument(
        "--note", default="", help="a note on the machine's state for the report header"
    )
    parser.add_argument(
        "--installed",
        action="store_true",
        help="time the cxl script installed next to this interpreter instead of a fresh venv",
    )
    args = parser.parse_args()
    quick = args.quick
    defaults = {
        "runs": 2 if quick else 7,
        "rss_runs": 1 if quick else 3,
        "region_runs": 1 if quick else 3,
        "big_upstream_runs": 0 if quick else 1,
        "platforms": QUICK_PLATFORMS if quick else DEFAULT_PLATFORMS,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.runs, args.rss_runs, args.region_runs) < 1 or args.big_upstream_runs < 0:
        fail("--runs, --rss-runs and --region-runs must be at least 1")
    return args


def list_section(
    name: str, work: Path, script: str, interpreter: str, upstream: bool, args: argparse.Namespace
) -> list[Row]:
    """The `cxl list` rows of one platform."""
    log(f"{name}: staging")
    state, tree, memdevs = stage(name, work)
    out = Path(tempfile.mkdtemp(prefix="out-", dir=work / name))
    emulated = Local(child_env(FAKE_SYSFS_STATE=str(state)))
    file_backed = Local(child_env(PYCXL_SYSFS_ROOT=str(tree / "sys")))
    change = StateChange(state, interpreter)
    server = upstream_server(tree, out) if upstream else None
    rows = rows_for(name, memdevs)
    try:
        for i, row in enumerate(rows):
            log(f"{name}: {cmd(row['pycxl_options'])}")
            argv = [script, "list", *row["pycxl_options"]]
            cells: dict[str, tuple[Runner, list[str], Any]] = {
                "pycxl": (emulated, argv, None),
                "cold": (emulated, argv, change),
                "file": (file_backed, argv, None),
            }
            if server is not None:
                cells["upstream"] = (server, [UPSTREAM, "list", *row["upstream_options"]], None)
            measure_row(row, cells, args.runs, args.rss_runs, out, i)
    finally:
        change.close()
        if server is not None:
            server.close()
    return rows


def main() -> None:
    from fake_sysfs.errors import FakeSysfsError

    try:
        benchmark(parse_args())
    # A server that could not start or died, an unknown preset: one line, no trace.
    except (RuntimeError, FakeSysfsError) as e:
        fail(str(e))


def benchmark(args: argparse.Namespace) -> None:
    upstream = not args.skip_upstream
    if upstream:
        reason = upstream_unavailable()
        if reason is None and "regions" in args.sections:
            reason = fuse_unavailable()
        if reason is not None:
            fail(f"cannot run the upstream oracle: {reason} (or use --skip-upstream)")
    version = source_version()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pycxl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    region_results: list[dict[str, Any]] = []
    baseline: dict[str, Result] = {}
    try:
        script, interpreter = pycxl_script() if args.installed else install_pycxl(work)
        dirs = compile_packages(interpreter)
        log(f"pycxl: {script} ({interpreter}); byte-compiled {', '.join(dirs)}")
        load_before = os.getloadavg()[0]
        if "list" in args.sections:
            base = os.path.realpath(sys.executable)
            starts = [("", interpreter, "-c"), ("", interpreter, "-S -c")]
            if not args.installed:
                starts.append((" (base)", base, "-c"))
            for label, python, flags in starts:
                row: Row = {}
                cell = (Local(child_env()), [python, *flags.split(), "pass"], None)
                measure_row(row, {"python": cell}, args.runs, args.rss_runs, work, 0)
                baseline[f"python{label} {flags} pass"] = row["python"]
            for name in args.platforms:
                rows += list_section(name, work, script, interpreter, upstream, args)
        if "regions" in args.sections:
            for name in args.platforms:
                if name not in REGION_PLATFORMS:
                    continue
                region_results.append(
                    regions.run_platform(
                        name,
                        work,
                        script,
                        interpreter,
                        child_env(),
                        args.region_runs,
                        upstream,
                        None if name != "scale-1024" else args.big_upstream_ways,
                        args.region_runs if name != "scale-1024" else args.big_upstream_runs,
                    )
                )
        python = subprocess.run(
            [interpreter, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            env=child_env(),
        ).stdout.strip()
        now = datetime.datetime.now(datetime.UTC)
        meta = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": host.release(),
            "cpus": os.cpu_count(),
            "python": python,
            "runs": args.runs,
            "rss_runs": args.rss_runs,
            "region_runs": args.region_runs,
            "rss_method": "gnu-time" if gnu_time_available() else "wait4-upper-bound",
            "upstream": upstream,
            "pycxl": script,
            "source": version,
            "load": [load_before, os.getloadavg()[0]],
            "note": args.note or "see the load averages",
        }
        body = report(rows, baseline, region_results, meta)  # reads the kept outputs
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print(body)
    if args.no_readme:
        return
    write_readme(body)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    raw = results / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    data = {
        "meta": meta,
        "baseline": baseline,
        "rows": rows,
        "regions": regions.record(region_results),
    }
    raw.write_text(json.dumps(strip_paths(data), indent=1) + "\n")
    log(f"wrote {README.relative_to(REPO)} and {raw.relative_to(REPO)}")


if __name__ == "__main__":
    main()
