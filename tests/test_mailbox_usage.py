"""``cxl <command> -h`` of the mailbox commands: the usage blocks of ndctl v81
(specs/cxl-cli.md Appendix A), byte for byte, exit 129."""

from __future__ import annotations

import pytest

from tests.helpers import run_cxl

USAGE: dict[str, tuple[str, ...]] = {
    "read-labels": (
        " usage: cxl read-labels <mem0> [<mem1>..<memN>] [-o <filename>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -v, --verbose         turn on debug",
        "    -S, --serial          use serial numbers to id memdevs",
        "    -s, --size <n>        number of label bytes to operate",
        "    -O, --offset <n>      offset into the label area to start operation",
        "    -o, --output <output-file>",
        "                          filename to write label area contents",
    ),
    "write-labels": (
        " usage: cxl write-labels <memdev> [-i <filename>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -v, --verbose         turn on debug",
        "    -S, --serial          use serial numbers to id memdevs",
        "    -s, --size <n>        number of label bytes to operate",
        "    -O, --offset <n>      offset into the label area to start operation",
        "    -i, --input <input-file>",
        "                          filename to read label area data",
    ),
    "zero-labels": (
        " usage: cxl zero-labels <mem0> [<mem1>..<memN>] [<options>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -v, --verbose         turn on debug",
        "    -S, --serial          use serial numbers to id memdevs",
        "    -s, --size <n>        number of label bytes to operate",
        "    -O, --offset <n>      offset into the label area to start operation",
    ),
    "set-partition": (
        " usage: cxl set-partition <mem0> [<mem1>..<memN>] [<options>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -v, --verbose         turn on debug",
        "    -S, --serial          use serial numbers to id memdevs",
        "    -t, --type <type>     'pmem' or 'ram' (volatile) (Default: 'pmem')",
        "    -s, --size <size>     size in bytes (Default: all available capacity)",
        "    -a, --align           auto-align --size per device's requirement",
    ),
    "set-alert-config": (
        " usage: cxl set-alert-config <mem0> [<mem1>..<memN>] [<options>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -v, --verbose         turn on debug",
        "    -S, --serial          use serial numbers to id memdevs",
        "    -L, --life-used-threshold <threshold>",
        "                          threshold value for life used warning alert",
        "        --life-used-alert <'on' or 'off'>",
        "                          enable or disable life used warning alert",
        "    -O, --over-temperature-threshold <threshold>",
        "                          threshold value for device over temperature warning alert",
        "        --over-temperature-alert <'on' or 'off'>",
        "                          enable or disable device over temperature warning alert",
        "    -U, --under-temperature-threshold <threshold>",
        "                          threshold value for device under temperature warning alert",
        "        --under-temperature-alert <'on' or 'off'>",
        "                          enable or disable device under temperature warning alert",
        "    -V, --volatile-mem-err-threshold <threshold>",
        "                          threshold value for corrected volatile mem error warning alert",
        "        --volatile-mem-err-alert <'on' or 'off'>",
        "                          enable or disable corrected volatile mem error warning alert",
        "    -P, --pmem-err-threshold <threshold>",
        "                          threshold value for corrected pmem error warning alert",
        "        --pmem-err-alert <'on' or 'off'>",
        "                          enable or disable corrected pmem error warning alert",
    ),
    "update-firmware": (
        " usage: cxl update-firmware <mem0> [<mem1>..<memn>] [<options>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -v, --verbose         turn on debug",
        "    -S, --serial          use serial numbers to id memdevs",
        "    -F, --firmware-file <firmware-file>",
        "                          firmware image file to use for the update",
        "    -c, --cancel          attempt to abort an in-progress firmware update",
        "    -w, --wait            wait for firmware update to complete before returning",
    ),
    "wait-sanitize": (
        " usage: cxl wait-sanitize <mem0> [<mem1>..<memn>] [<options>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -v, --verbose         turn on debug",
        "    -S, --serial          use serial numbers to id memdevs",
        "    -t, --timeout <n>     time in milliseconds to wait for overwrite completion"
        " (default: infinite)",
    ),
    "monitor": (
        " usage: cxl monitor [<options>]",
        "",
        "    -l, --log <<file> | standard>",
        "                          where to output the monitor's notification",
        "        --daemon          run cxl monitor as a daemon",
        "    -u, --human           use human friendly output formats",
        "    -v, --verbose         emit extra debug messages to log",
    ),
}


@pytest.mark.parametrize("command", list(USAGE))
def test_usage(command: str) -> None:
    r = run_cxl([command, "-h"])
    expected = "\n" + "\n".join(USAGE[command]) + "\n\n"
    assert (r.out, r.err.decode(), r.rc) == (b"", expected, 129)
