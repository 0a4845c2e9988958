"""One worker of the concurrency test: create, verify, destroy regions until a deadline.

usage: region_worker.py LOG SECONDS DECODER MEMDEV CXL [ENV=VALUE...]

CXL is a program, or a JSON array (a command line, e.g. a Python running pycxl's main).
An ``ENV=`` assignment with no value removes ENV.

Runs ``CXL create-region -d DECODER -t pmem -m MEMDEV`` again and again. For each region
it reports created (a JSON object on stdout), it checks at once with ``CXL list -R -r``
that the region exists with the reported resource and size (nobody else destroys it),
then destroys it. Each attempt is one JSON line in LOG. Standard library only: it also
runs inside the oracle's mount namespace, as the upstream binary's driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    log, seconds, decoder, memdev, cxl, *assignments = sys.argv[1:]
    command = json.loads(cxl) if cxl.startswith("[") else [cxl]
    env = dict(os.environ)
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    deadline = time.monotonic() + float(seconds)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )

    with open(log, "w") as out:
        while time.monotonic() < deadline:
            record: dict[str, object] = {}
            made = run("create-region", "-d", decoder, "-t", "pmem", "-m", memdev)
            record["create_rc"] = made.returncode
            # v76.1 exits 0 after a failed creation: a region was made iff it was printed.
            if made.stdout.strip():
                region = json.loads(made.stdout)
                record["region"] = name = region["region"]
                record["resource"], record["size"] = region["resource"], region["size"]
                seen = run("list", "-R", "-r", name)
                listed = json.loads(seen.stdout) if seen.stdout.strip() else []
                record["listed"] = [(r["region"], r.get("resource"), r.get("size")) for r in listed]
                gone = run("destroy-region", "-f", name)
                record["destroy_rc"] = gone.returncode
                record["destroy_err"] = gone.stderr[-300:]
            else:
                record["create_err"] = made.stderr[-300:]
            out.write(json.dumps(record) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
