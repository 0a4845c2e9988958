"""Benchmark pycxl against the upstream C binary (Debian ndctl 76.1 /usr/bin/cxl).

usage: sudo python3 bench/run.py [--runs N] [--platforms NAME ...] [--skip-upstream]

For each platform: boot it into a fresh state directory and export it (not timed); time the
installed ``cxl`` console script on the emulated state (FAKE_SYSFS_STATE) and on the exported
tree (PYCXL_SYSFS_ROOT); time /usr/bin/cxl on the exported tree inside a private mount
namespace (bench/nstime.py). Writes a Markdown table into bench/README.md between the
results markers and the raw numbers into bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import functools
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

from nstime import gnu_time_available, measure  # noqa: E402

from fake_sysfs.statedir import CACHE_FILE  # noqa: E402

UPSTREAM = "/usr/bin/cxl"
UPSTREAM_VERSION = "76.1"
DEFAULT_PLATFORMS = ["qemu-mixed", "scale-64", "scale-256", "scale-1024"]
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


def run_upstream(tree: Path, out: Path, runs: int, rss_runs: int) -> list[Result]:
    """Measure every command in one private mount namespace with ``tree`` over /sys, /dev."""
    mnt = out / "mnt"
    mnt.mkdir()
    spec, results = out / "spec.json", out / "results.json"
    spec.write_text(
        json.dumps(
            {
                "runs": runs,
                "rss_runs": rss_runs,
                "commands": [[UPSTREAM, "list", *c] for c in COMMANDS],
                "outputs": [str(out / f"upstream-{i}.out") for i in range(len(COMMANDS))],
            }
        )
    )
    argv = ["unshare", "-m", "--propagation", "private", sys.executable, str(BENCH / "nstime.py")]
    proc = subprocess.run(
        [*argv, str(tree), str(mnt), str(spec), str(results)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        fail(f"upstream namespace session failed: {lines[-1]}")
    data = json.loads(results.read_text())
    log(f"  upstream staged in {data['staging_s']:.1f} s (not timed)")
    found: list[Result] = data["results"]
    return found


def rows_for(name: str, memdevs: int, upstream: list[Result | None]) -> list[Row]:
    """The table rows of one platform: each command as typed, then, where v81 needs a
    different command line for v76.1's listing, pycxl with that one."""
    from tests.compat_v76 import command_lines

    rows = []
    for options, up in zip(COMMANDS, upstream, strict=True):
        rows.append({"platform": name, "memdevs": memdevs, "pycxl_options": options})
        rows[-1].update(upstream_options=options, upstream=up)
    for options, up in zip(COMMANDS, upstream, strict=True):
        same = command_lines(options)
        if same is not None and same[0] != options:
            rows.append({"platform": name, "memdevs": memdevs, "pycxl_options": same[0]})
            rows[-1].update(upstream_options=options, upstream=up)
    return rows


def median_ms(result: Result | None) -> float | None:
    return None if result is None else statistics.median(result["wall_s"]) * 1000


def peak_mb(result: Result | None) -> float | None:
    return None if result is None else max(result["peak_rss_kib"]) / 1024


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
        "| platform | memdevs | command | pycxl median ms | pycxl first run median ms "
        "| pycxl peak MB | pycxl file-backed median ms | upstream median ms "
        "| upstream peak MB | ratio pycxl/upstream |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        py, up = median_ms(r["pycxl"]), median_ms(r["upstream"])
        cold, fb = median_ms(r["cold"]), median_ms(r["file"])
        ratio = None if py is None or up is None else py / up
        peak = max(peak_mb(r["pycxl"]) or 0.0, peak_mb(r["cold"]) or 0.0)
        lines.append(
            f"| {r['platform']} | {r['memdevs']:,} | {row_command(r)} "
            f"| {fmt(py)} | {fmt(cold)} | {fmt(peak)} | {fmt(fb)} | {fmt(up)} "
            f"| {fmt(peak_mb(r['upstream']))} | {fmt(ratio, 2)} |"
        )
    return lines


def output_check(rows: list[Row]) -> list[str]:
    """Problems with what the measured commands printed: pycxl's two paths must print the
    same bytes; against upstream, where v76.1 has the same listing, pycxl's output with the
    documented v81-only keys removed (tests/compat_v76.py) must equal upstream's."""
    from tests.compat_v76 import command_lines
    from tests.compat_v76 import stdout as normalized

    problems = []
    for r in rows:
        where = f"{r['platform']} {row_command(r)}"
        ours, theirs = r["pycxl"], r["upstream"]
        codes = {
            code
            for key in ("pycxl", "cold", "file")
            for code in (r[key]["warmup_rc"], *r[key]["rc"])
        }
        hashes = {r[key]["stdout_sha256"] for key in ("pycxl", "cold", "file")}
        if len(hashes) > 1 or len(codes) > 1:
            problems.append(f"{where}: emulated (cached or not) and file-backed pycxl differ")
        if theirs is None or command_lines(r["upstream_options"]) != (
            r["pycxl_options"],
            r["upstream_options"],
        ):
            continue
        if {theirs["warmup_rc"], *theirs["rc"]} != codes:
            problems.append(f"{where}: exit status differs from upstream")
        with open(ours["stdout_path"], "rb") as f:
            mine = normalized(f.read())
        with open(theirs["stdout_path"], "rb") as f:
            if mine != f.read():
                problems.append(f"{where}: stdout differs from upstream")
    return problems


def verdicts(rows: list[Row]) -> list[str]:
    out = []

    def met(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

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
    if big and all(r["upstream"] is not None for r in big):
        for r in big:
            py, up = median_ms(r["pycxl"]) or 0.0, median_ms(r["upstream"]) or 1.0
            out.append(
                f"- At 1,024 memdevs, {row_command(r)} no slower than upstream: "
                f"{met(py <= up)} (pycxl {py:.1f} ms, upstream {up:.1f} ms, "
                f"ratio {py / up:.2f})."
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


def report(rows: list[Row], baseline: dict[str, Result], meta: dict[str, Any]) -> str:
    upstream = f"ndctl {UPSTREAM_VERSION} `{UPSTREAM}`" if meta["upstream"] else "not run"
    rss = (
        f"peak RSS of the command under GNU time, largest of {meta['rss_runs']} runs"
        if meta["rss_method"] == "gnu-time"
        else "peak RSS from `wait4` (an upper bound: it includes the launcher's RSS)"
    )
    lines = [
        f"Measured {meta['date']}: Linux {meta['kernel']}, {meta['cpus']} CPUs, "
        f"Python {meta['python']}; median of {meta['runs']} timed runs per cell after one "
        f"untimed warm-up run; pycxl at commit {meta['source']}; 1-minute load average "
        f"{meta['load'][0]:.2f} before, {meta['load'][1]:.2f} after. Upstream: {upstream}.",
        "",
        *table(rows),
        "",
        f"MB = MiB; {rss}. Ratio = pycxl (emulated) median / upstream median.",
        "",
        "pycxl = the emulated platform as a user meets it on a second and later run: the "
        "answers of an unchanged state come from the read cache (`reads.cache`, see "
        "fake-sysfs(1)). First run = the same with the cache removed before every run: "
        "what the first listing after a change of the state costs (load the state, build "
        "the tree, save the cache).",
        "",
    ]
    problems = output_check(rows)
    if problems:
        lines += ["Output check, problems:", "", *[f"- {p}" for p in problems], ""]
    else:
        lines += [
            "Output check: for every row pycxl printed the same bytes on both paths, and, "
            "where v76.1 has the same listing, the same as upstream once the documented "
            "v81-only keys are removed (tests/compat_v76.py).",
            "",
        ]
    lines += [
        "Interpreter start-up alone (no pycxl): the venv pycxl runs from, and the "
        "interpreter it was created from, whose site-packages this machine loads at start-up:",
        "",
        "| command | median ms | peak MB |",
        "|---|---:|---:|",
    ]
    for label, result in baseline.items():
        lines.append(f"| `{label}` | {fmt(median_ms(result))} | {fmt(peak_mb(result))} |")
    lines += ["", "Targets:", "", *verdicts(rows)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark pycxl against upstream cxl.")
    parser.add_argument("--runs", type=int, default=11, help="timed runs per cell (default 11)")
    parser.add_argument(
        "--rss-runs", type=int, default=3, help="runs under GNU time for peak RSS (default 3)"
    )
    parser.add_argument("--platforms", nargs="+", default=DEFAULT_PLATFORMS, metavar="NAME")
    parser.add_argument("--skip-upstream", action="store_true", help="time pycxl only")
    parser.add_argument("--workdir", type=Path, help="stage here and keep it (default: a tmpdir)")
    parser.add_argument(
        "--installed",
        action="store_true",
        help="time the cxl script installed next to this interpreter instead of a fresh venv",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.rss_runs < 1:
        fail("--runs and --rss-runs must be at least 1")

    if not args.skip_upstream:
        reason = upstream_unavailable()
        if reason is not None:
            fail(f"cannot run the upstream oracle: {reason} (or use --skip-upstream)")
    version = source_version()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pycxl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        script, interpreter = pycxl_script() if args.installed else install_pycxl(work)
        dirs = compile_packages(interpreter)
        log(f"pycxl: {script} ({interpreter}); byte-compiled {', '.join(dirs)}")
        load_before = os.getloadavg()[0]
        base = os.path.realpath(sys.executable)
        starts = [("", interpreter, "-c"), ("", interpreter, "-S -c")]
        if not args.installed:
            starts.append((" (base)", base, "-c"))
        baseline = {
            f"python{label} {flags} pass": measure(
                [python, *flags.split(), "pass"],
                child_env(),
                args.runs,
                args.rss_runs,
                str(work / f"baseline{label.strip(' ()')}{flags}.out"),
            )
            for label, python, flags in starts
        }
        rows: list[Row] = []
        for name in args.platforms:
            log(f"{name}: staging")
            state, tree, memdevs = stage(name, work)
            out = Path(tempfile.mkdtemp(prefix="out-", dir=work / name))
            upstream: list[Result | None] = [None] * len(COMMANDS)
            if not args.skip_upstream:
                log(f"{name}: upstream")
                upstream = list(run_upstream(tree, out, args.runs, args.rss_runs))
            emulated = child_env(FAKE_SYSFS_STATE=str(state))
            forget = functools.partial((state / CACHE_FILE).unlink, missing_ok=True)
            ways = {
                "pycxl": (emulated, None),
                "cold": (emulated, forget),
                "file": (child_env(PYCXL_SYSFS_ROOT=str(tree / "sys")), None),
            }
            for i, row in enumerate(rows_for(name, memdevs, upstream)):
                log(f"{name}: pycxl {cmd(row['pycxl_options'])}")
                argv = [script, "list", *row["pycxl_options"]]
                for key, (env, prepare) in ways.items():
                    output = str(out / f"{key}-{i}.out")
                    row[key] = measure(argv, env, args.runs, args.rss_runs, output, prepare)
                rows.append(row)
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
            "rss_method": "gnu-time" if gnu_time_available() else "wait4-upper-bound",
            "upstream": not args.skip_upstream,
            "pycxl": script,
            "source": version,
            "load": [load_before, os.getloadavg()[0]],
        }
        body = report(rows, baseline, meta)  # reads the kept outputs
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    write_readme(body)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    raw = results / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    record = {"meta": meta, "baseline": baseline, "rows": rows}
    raw.write_text(json.dumps(strip_paths(record), indent=1) + "\n")
    print(body)
    log(f"wrote {README.relative_to(REPO)} and {raw.relative_to(REPO)}")


if __name__ == "__main__":
    main()
