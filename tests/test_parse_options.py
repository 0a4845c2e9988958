"""Tests for pycxl.util.parse_options (the ndctl tools' git/perf-style option parser).

Three kinds of checks:

* the v81 usage blocks of some cxl commands against specs/cxl-cli.md Appendix A;
* each parsing rule, with the values it produces;
* byte-for-byte comparisons with the upstream v76.1 binaries (``/usr/bin/cxl``, and
  ``/usr/bin/ndctl`` for an option whose own name starts with ``no-``).  They are skipped when
  the binary is missing, except when the environment variable CI is "true".
"""

from __future__ import annotations

import functools
import os
import random
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from pycxl.util.parse_options import (
    EXIT_LIST,
    EXIT_USAGE,
    Opt,
    UsageExit,
    parse_options,
    usage_text,
)

# ---------------------------------------------------------------------------------------------
# option tables (data only: the commands own the real ones)

LIST_USAGE = ("cxl list [<options>]",)

LIST_V81 = (
    Opt("m", "memdev", "string", "filter by CXL memory device name(s)", "memory device name(s)"),
    Opt(
        "s",
        "serial",
        "string",
        "filter by CXL memory device serial number(s)",
        "memory device serial(s)",
    ),
    Opt("M", "memdevs", "bool", "include CXL memory device info"),
    Opt("b", "bus", "string", "filter by CXL bus device name(s)", "bus device name"),
    Opt("B", "buses", "bool", "include CXL bus info"),
    Opt("p", "port", "string", "filter by CXL port device name(s)", "port device name"),
    Opt("P", "ports", "bool", "include CXL port info"),
    Opt("S", "single", "bool", "skip listing descendant objects"),
    Opt(
        "e",
        "endpoint",
        "string",
        "filter by CXL endpoint device name(s)",
        "endpoint device name",
    ),
    Opt("E", "endpoints", "bool", "include CXL endpoint info"),
    Opt(
        "d",
        "decoder",
        "string",
        "filter by CXL decoder device name(s) / class",
        "decoder device name",
    ),
    Opt("D", "decoders", "bool", "include CXL decoder info"),
    Opt("T", "targets", "bool", "include CXL target data with decoders, ports, or regions"),
    Opt("r", "region", "string", "filter by CXL region name(s)", "region name"),
    Opt("R", "regions", "bool", "include CXL regions"),
    Opt("X", "dax", "bool", "include CXL DAX region enumeration"),
    Opt("i", "idle", "bool", "include disabled devices"),
    Opt("u", "human", "bool", "use human friendly number formats"),
    Opt("H", "health", "bool", "include memory device health information"),
    Opt("I", "partition", "bool", "include memory device partition information"),
    Opt("F", "firmware", "bool", "include memory device firmware information"),
    Opt("A", "alert-config", "bool", "include alert configuration information"),
    Opt("L", "media-errors", "bool", "include media-error information "),
    Opt("v", "verbose", "counter", "increase output detail"),
    Opt(None, "debug", "bool", "debug list walk"),
)
LIST_V76 = tuple(opt for opt in LIST_V81 if opt.short not in ("X", "F", "L"))

CREATE_REGION_USAGE = ("cxl create-region <target0> ... [<options>]",)
CREATE_REGION_V81 = (
    Opt("b", "bus", "string", "Limit operation to the specified bus", "bus name"),
    Opt(
        "d",
        "decoder",
        "string",
        "Limit to / use the specified root decoder",
        "root decoder name",
    ),
    Opt(None, "debug", "bool", "turn on debug"),
    Opt(
        "s",
        "size",
        "string",
        "total size desired for the resulting region.",
        "size in bytes or with a K/M/G etc. suffix",
    ),
    Opt("w", "ways", "uinteger", "number of memdevs participating in the regions interleave set"),
    Opt("g", "granularity", "uinteger", "granularity of the interleave set"),
    Opt("t", "type", "string", "region type - 'pmem' or 'ram'", "region type"),
    Opt("U", "uuid", "string", "uuid for the new region (default: autogenerate)", "region uuid"),
    Opt("m", "memdevs", "bool", "non-option arguments are memdevs"),
    Opt("u", "human", "bool", "use human friendly number formats"),
    Opt("Q", "enforce-qos", "bool", "enforce qos_class match"),
)
CREATE_REGION_V76 = tuple(opt for opt in CREATE_REGION_V81 if opt.short not in ("U", "Q"))

READ_LABELS_USAGE = ("cxl read-labels <mem0> [<mem1>..<memN>] [-o <filename>]",)
READ_LABELS_V81 = (
    Opt("b", "bus", "string", "Limit operation to the specified bus", "bus name"),
    Opt("v", "verbose", "bool", "turn on debug"),
    Opt("S", "serial", "bool", "use serial numbers to id memdevs"),
    Opt("s", "size", "uinteger", "number of label bytes to operate"),
    Opt("O", "offset", "uinteger", "offset into the label area to start operation"),
    Opt("o", "output", "filename", "filename to write label area contents", "output-file"),
)
READ_LABELS_V76 = tuple(opt for opt in READ_LABELS_V81 if opt.short != "b")

ENABLE_PORT_USAGE = ("cxl enable-port <port0> [<port1>..<portN>] [<options>]",)
ENABLE_PORT = (
    Opt(None, "debug", "bool", "turn on debug"),
    Opt("e", "endpoint", "bool", "target endpoints instead of switch ports"),
    Opt("m", "enable-memdevs", "bool", "enable downstream memdev(s)"),
)

MONITOR_USAGE = ("cxl monitor [<options>]",)
MONITOR = (
    Opt(
        "l",
        "log",
        "string",
        "where to output the monitor's notification",
        "<file> | standard",
    ),
    Opt(None, "daemon", "bool", "run cxl monitor as a daemon"),
    Opt("u", "human", "bool", "use human friendly output formats"),
    Opt("v", "verbose", "bool", "emit extra debug messages to log"),
)

SET_ALERT_CONFIG_USAGE = ("cxl set-alert-config <mem0> [<mem1>..<memN>] [<options>]",)
SET_ALERT_CONFIG_V81 = (
    Opt("b", "bus", "string", "Limit operation to the specified bus", "bus name"),
    Opt("v", "verbose", "bool", "turn on debug"),
    Opt("S", "serial", "bool", "use serial numbers to id memdevs"),
    Opt(
        "L",
        "life-used-threshold",
        "string",
        "threshold value for life used warning alert",
        "threshold",
    ),
    Opt(
        None,
        "life-used-alert",
        "string",
        "enable or disable life used warning alert",
        "'on' or 'off'",
    ),
    Opt(
        "O",
        "over-temperature-threshold",
        "string",
        "threshold value for device over temperature warning alert",
        "threshold",
    ),
    Opt(
        None,
        "over-temperature-alert",
        "string",
        "enable or disable device over temperature warning alert",
        "'on' or 'off'",
    ),
    Opt(
        "U",
        "under-temperature-threshold",
        "string",
        "threshold value for device under temperature warning alert",
        "threshold",
    ),
    Opt(
        None,
        "under-temperature-alert",
        "string",
        "enable or disable device under temperature warning alert",
        "'on' or 'off'",
    ),
    Opt(
        "V",
        "volatile-mem-err-threshold",
        "string",
        "threshold value for corrected volatile mem error warning alert",
        "threshold",
    ),
    Opt(
        None,
        "volatile-mem-err-alert",
        "string",
        "enable or disable corrected volatile mem error warning alert",
        "'on' or 'off'",
    ),
    Opt(
        "P",
        "pmem-err-threshold",
        "string",
        "threshold value for corrected pmem error warning alert",
        "threshold",
    ),
    Opt(
        None,
        "pmem-err-alert",
        "string",
        "enable or disable corrected pmem error warning alert",
        "'on' or 'off'",
    ),
)

# ndctl inject-error (v76.1): its -N option is itself called "no-notify".
INJECT_ERROR_USAGE = ("ndctl inject-error <namespace> [<options>]",)
INJECT_ERROR_V76 = (
    Opt(
        "b",
        "bus",
        "string",
        "limit namespace to a bus with an id or provider of <bus-id>",
        "bus-id",
    ),
    Opt(
        "r",
        "region",
        "string",
        "limit namespace to a region with an id or name of <region-id>",
        "region-id",
    ),
    Opt("v", "verbose", "bool", "emit extra debug messages to stderr"),
    Opt(
        "B",
        "block",
        "string",
        "specify the block at which to (un)inject the error",
        "namespace block offset (512B)",
    ),
    Opt("n", "count", "string", "specify the number of blocks of errors to (un)inject", "count"),
    Opt("d", "uninject", "bool", "un-inject a previously injected error"),
    Opt("t", "status", "bool", "get error injection status"),
    Opt("N", "no-notify", "bool", "firmware should not notify OS"),
    Opt("S", "saturate", "bool", "inject full sector, not just 'ars_unit' bytes"),
    Opt("u", "human", "bool", "use human friendly number formats "),
)

# ---------------------------------------------------------------------------------------------
# expected v81 usage blocks (specs/cxl-cli.md Appendix A), one list item per line

APPENDIX_A: dict[str, tuple[str, ...]] = {
    "list": (
        "",
        " usage: cxl list [<options>]",
        "",
        "    -m, --memdev <memory device name(s)>",
        "                          filter by CXL memory device name(s)",
        "    -s, --serial <memory device serial(s)>",
        "                          filter by CXL memory device serial number(s)",
        "    -M, --memdevs         include CXL memory device info",
        "    -b, --bus <bus device name>",
        "                          filter by CXL bus device name(s)",
        "    -B, --buses           include CXL bus info",
        "    -p, --port <port device name>",
        "                          filter by CXL port device name(s)",
        "    -P, --ports           include CXL port info",
        "    -S, --single          skip listing descendant objects",
        "    -e, --endpoint <endpoint device name>",
        "                          filter by CXL endpoint device name(s)",
        "    -E, --endpoints       include CXL endpoint info",
        "    -d, --decoder <decoder device name>",
        "                          filter by CXL decoder device name(s) / class",
        "    -D, --decoders        include CXL decoder info",
        "    -T, --targets         include CXL target data with decoders, ports, or regions",
        "    -r, --region <region name>",
        "                          filter by CXL region name(s)",
        "    -R, --regions         include CXL regions",
        "    -X, --dax             include CXL DAX region enumeration",
        "    -i, --idle            include disabled devices",
        "    -u, --human           use human friendly number formats",
        "    -H, --health          include memory device health information",
        "    -I, --partition       include memory device partition information",
        "    -F, --firmware        include memory device firmware information",
        "    -A, --alert-config    include alert configuration information",
        "    -L, --media-errors    include media-error information ",
        "    -v, --verbose         increase output detail",
        "        --debug           debug list walk",
    ),
    "create-region": (
        "",
        " usage: cxl create-region <target0> ... [<options>]",
        "",
        "    -b, --bus <bus name>  Limit operation to the specified bus",
        "    -d, --decoder <root decoder name>",
        "                          Limit to / use the specified root decoder",
        "        --debug           turn on debug",
        "    -s, --size <size in bytes or with a K/M/G etc. suffix>",
        "                          total size desired for the resulting region.",
        "    -w, --ways <n>        number of memdevs participating in the regions interleave set",
        "    -g, --granularity <n>",
        "                          granularity of the interleave set",
        "    -t, --type <region type>",
        "                          region type - 'pmem' or 'ram'",
        "    -U, --uuid <region uuid>",
        "                          uuid for the new region (default: autogenerate)",
        "    -m, --memdevs         non-option arguments are memdevs",
        "    -u, --human           use human friendly number formats",
        "    -Q, --enforce-qos     enforce qos_class match",
    ),
    "read-labels": (
        "",
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
    "enable-port": (
        "",
        " usage: cxl enable-port <port0> [<port1>..<portN>] [<options>]",
        "",
        "        --debug           turn on debug",
        "    -e, --endpoint        target endpoints instead of switch ports",
        "    -m, --enable-memdevs  enable downstream memdev(s)",
    ),
    "monitor": (
        "",
        " usage: cxl monitor [<options>]",
        "",
        "    -l, --log <<file> | standard>",
        "                          where to output the monitor's notification",
        "        --daemon          run cxl monitor as a daemon",
        "    -u, --human           use human friendly output formats",
        "    -v, --verbose         emit extra debug messages to log",
    ),
    "set-alert-config": (
        "",
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
}

V81_TABLES: dict[str, tuple[tuple[str, ...], tuple[Opt, ...]]] = {
    "list": (LIST_USAGE, LIST_V81),
    "create-region": (CREATE_REGION_USAGE, CREATE_REGION_V81),
    "read-labels": (READ_LABELS_USAGE, READ_LABELS_V81),
    "enable-port": (ENABLE_PORT_USAGE, ENABLE_PORT),
    "monitor": (MONITOR_USAGE, MONITOR),
    "set-alert-config": (SET_ALERT_CONFIG_USAGE, SET_ALERT_CONFIG_V81),
}


def appendix_block(name: str) -> str:
    return "\n".join(APPENDIX_A[name]) + "\n\n"


LIST_HEADER = "\n usage: cxl list [<options>]\n\n"
LIST_HELP_V81 = appendix_block("list")

# ---------------------------------------------------------------------------------------------
# helpers


def parse(
    argv: Sequence[str], opts: Sequence[Opt] = LIST_V81, usage: Sequence[str] = LIST_USAGE
) -> tuple[dict[str, object], list[str]]:
    return parse_options(argv, opts, usage)


def failure(
    argv: Sequence[str], opts: Sequence[Opt] = LIST_V81, usage: Sequence[str] = LIST_USAGE
) -> UsageExit:
    with pytest.raises(UsageExit) as info:
        parse_options(argv, opts, usage)
    return info.value


def option_line(opts: Sequence[Opt], short: str) -> str:
    """The usage-block line(s) of the option with this short letter."""
    opt = next(o for o in opts if o.short == short)
    return usage_text([], [opt]).split("\n\n", 1)[1][:-1]


# ---------------------------------------------------------------------------------------------
# usage blocks


@pytest.mark.parametrize("name", sorted(V81_TABLES))
def test_v81_usage_block_matches_appendix_a(name: str) -> None:
    usage, opts = V81_TABLES[name]
    assert usage_text(usage, opts) == appendix_block(name)


def test_v81_list_usage_block_details() -> None:
    text = usage_text(LIST_USAGE, LIST_V81)
    assert text == LIST_HELP_V81
    assert "    -L, --media-errors    include media-error information \n" in text
    assert "\n        --debug           debug list walk\n\n" in text


def test_usage_block_layout_rules() -> None:
    opts = [
        Opt("a", "fourteen-chars", "bool", "fits"),  # 24 columns: still fits
        Opt("b", "fifteen-chars-x", "bool", "wraps"),  # 25 columns: too long
        Opt("c", None, "string", "no long name", "x"),
        Opt("d", "dots", "string", "no argh"),
        Opt(None, "num", "u64", "an integer ignores argh", "ignored"),
        Opt("e", "long-int", "long", "long"),
    ]
    assert usage_text(["u"], opts) == (
        "\n usage: u\n\n"
        "    -a, --fourteen-chars  fits\n"
        "    -b, --fifteen-chars-x\n"
        "                          wraps\n"
        "    -c <x>                no long name\n"
        "    -d, --dots ...        no argh\n"
        "        --num <n>         an integer ignores argh\n"
        "    -e, --long-int <n>    long\n"
        "\n"
    )


def test_usage_with_several_lines() -> None:
    text = usage_text(["cmd a", "cmd b", "", "free text", "", "more"], [])
    # the empty string ends the "or:" lines and is printed as an empty line itself
    assert text == "\n usage: cmd a\n    or: cmd b\n\n    free text\n\n    more\n\n\n"


def test_usage_without_options() -> None:
    assert usage_text(["cmd"], []) == "\n usage: cmd\n\n\n"


def test_hidden_options_only_with_help_all() -> None:
    opts = [Opt("a", "all", "bool", "shown"), Opt("z", "secret", "bool", "hidden", hidden=True)]
    assert "secret" not in usage_text(["u"], opts)
    assert "    -z, --secret          hidden\n" in usage_text(["u"], opts, full=True)
    assert "secret" not in failure(["-h"], opts, ["u"]).stderr
    assert "secret" in failure(["--help-all"], opts, ["u"]).stderr
    assert parse(["--secret"], opts, ["u"])[0]["secret"] is True


# ---------------------------------------------------------------------------------------------
# help / list-opts


@pytest.mark.parametrize(
    "argv",
    [["-h"], ["--help"], ["--help-all"], ["-Mh"], ["-M", "--help"], ["x", "-vh"], ["-hx"]],
)
def test_help_prints_usage_on_stderr(argv: list[str]) -> None:
    exc = failure(argv)
    assert (exc.code, exc.stdout, exc.stderr) == (EXIT_USAGE, "", LIST_HELP_V81)


def test_help_is_not_taken_from_values_or_prefixes() -> None:
    assert parse(["-mh"])[0]["memdev"] == "h"
    assert failure(["--hel"]).stderr.startswith("  Error: unknown option `hel'\n")


def test_list_opts() -> None:
    exc = failure(["-M", "--list-opts", "-x"])
    assert exc.code == EXIT_LIST == 130
    assert exc.stderr == ""
    assert exc.stdout == (
        "--memdev --serial --memdevs --bus --buses --port --ports --single --endpoint "
        "--endpoints --decoder --decoders --targets --region --regions --dax --idle --human "
        "--health --partition --firmware --alert-config --media-errors --verbose --debug "
    )


def test_list_opts_short_only_option_prints_null() -> None:
    opts = [Opt("a", "all", "bool", "x"), Opt("q", None, "bool", "y")]
    assert failure(["--list-opts"], opts, ["u"]).stdout == "--all --(null) "


def test_list_cmds() -> None:
    exc = failure(["--list-cmds"])
    assert (exc.code, exc.stdout, exc.stderr) == (EXIT_LIST, "", "")


def test_list_opts_must_be_exact() -> None:
    assert failure(["--list-opt"]).stderr.startswith("  Error: unknown option `list-opt'\n")


# ---------------------------------------------------------------------------------------------
# values


def test_defaults() -> None:
    values, args = parse([])
    assert args == []
    assert values["memdev"] is None
    assert values["memdevs"] is False
    assert values["alert_config"] is False
    assert values["verbose"] == 0
    assert values["debug"] is False
    assert set(values) == {opt.dest for opt in LIST_V81}


def test_dest_and_default() -> None:
    opts = [
        Opt("x", None, "bool", "h"),
        Opt("t", "type", "string", "h", "type", default="pmem"),
        Opt("w", "ways", "integer", "h", dest="nr_ways", default=-1),
        Opt("W", None, "integer", "h", dest="nr_ways"),
    ]
    assert [opt.dest for opt in opts] == ["x", "type", "nr_ways", "nr_ways"]
    values, _ = parse([], opts, ["u"])
    assert values == {"x": False, "type": "pmem", "nr_ways": -1}
    assert parse(["-W3"], opts, ["u"])[0]["nr_ways"] == 3
    assert parse(["--no-type"], opts, ["u"])[0]["type"] is None


def test_opt_validation() -> None:
    with pytest.raises(ValueError):
        Opt("ab", None, "bool", "h")
    with pytest.raises(ValueError):
        Opt(None, None, "bool", "h")
    with pytest.raises(ValueError):
        Opt("a", "x=y", "bool", "h")
    with pytest.raises(ValueError):
        Opt("a", "a", "float", "h")  # type: ignore[arg-type]


def test_bundled_flags() -> None:
    values, args = parse(["-BMu"])
    assert (values["buses"], values["memdevs"], values["human"], args) == (True, True, True, [])


def test_short_value_takes_rest_of_bundle() -> None:
    assert parse(["-mmem0"])[0]["memdev"] == "mem0"
    values, _ = parse(["-Mumem0"])
    assert (values["memdevs"], values["human"], values["memdev"]) == (True, True, "em0")


def test_short_value_from_next_argument() -> None:
    values, args = parse(["-m", "mem0", "-M"])
    assert (values["memdev"], values["memdevs"], args) == ("mem0", True, [])
    values, args = parse(["-Mm", "-x", "y"])  # the value may look like an option
    assert (values["memdev"], args) == ("-x", ["y"])


def test_long_value_forms() -> None:
    assert parse(["--memdev=mem0"])[0]["memdev"] == "mem0"
    assert parse(["--memdev", "mem0"])[0]["memdev"] == "mem0"
    assert parse(["--memdev="])[0]["memdev"] == ""
    assert parse(["--memdev=a=b"])[0]["memdev"] == "a=b"
    assert parse(["--memdev", "--"])[0]["memdev"] == "--"


def test_last_value_wins() -> None:
    assert parse(["-m", "a", "--memdev=b"])[0]["memdev"] == "b"


def test_long_prefixes() -> None:
    assert parse(["--ser", "5"])[0]["serial"] == "5"
    assert parse(["--ser=5"])[0]["serial"] == "5"
    assert parse(["--alert"])[0]["alert_config"] is True
    assert parse(["--deb"])[0]["debug"] is True
    assert parse(["--memdevs"])[0]["memdevs"] is True
    # an exact name wins over the longer names it abbreviates
    values, _ = parse(["--memdev", "x", "--bus", "y", "--port=z"])
    assert (values["memdev"], values["bus"], values["port"], values["memdevs"]) == (
        "x",
        "y",
        "z",
        False,
    )


def test_ambiguous_prefix() -> None:
    exc = failure(["--mem"])
    assert exc.code == EXIT_USAGE
    assert exc.stdout == ""
    assert exc.stderr == (
        "  Error: Ambiguous option: mem (could be --memdev or --memdevs)\n" + LIST_HEADER
    )
    assert failure(["--mem=x"]).stderr.startswith(
        "  Error: Ambiguous option: mem=x (could be --memdev or --memdevs)\n"
    )
    # the names reported are the last two candidates in table order
    assert failure(["--p"]).stderr.startswith(
        "  Error: Ambiguous option: p (could be --ports or --partition)\n"
    )
    assert failure(["--=x"]).stderr.startswith(
        "  Error: Ambiguous option: =x (could be --verbose or --debug)\n"
    )


def test_negation() -> None:
    values, _ = parse(["-M", "--no-memdevs", "-m", "x", "--no-memdev", "-vvv", "--no-verbose"])
    assert (values["memdevs"], values["memdev"], values["verbose"]) == (False, None, 0)
    values, _ = parse(["-s", "1", "--no-ser"])
    assert values["serial"] is None
    assert parse(["--no-memdev", "x"])[1] == ["x"]  # a negated string takes no value


def test_negation_prefix_ambiguity() -> None:
    assert failure(["--no-mem"]).stderr == (
        "  Error: Ambiguous option: no-mem (could be --no-memdev or --no-memdevs)\n" + LIST_HEADER
    )
    for word in ("n", "no", "no-"):
        assert failure(["--" + word]).stderr == (
            f"  Error: Ambiguous option: {word} (could be --no-verbose or --no-debug)\n"
            + LIST_HEADER
        )


def test_negation_of_integers() -> None:
    opts = CREATE_REGION_V81
    values, _ = parse(["-w", "4", "--no-ways"], opts, CREATE_REGION_USAGE)
    assert values["ways"] == 0


def test_negation_unknown_and_with_value() -> None:
    assert failure(["--no-foo"]).stderr == ("  Error: unknown option `no-foo'\n" + LIST_HELP_V81)
    assert failure(["--no-memdevs=1"]).stderr == (
        "  Error: option `no-memdevs' takes no value\n" + LIST_HEADER + option_line(LIST_V81, "m")
    )
    assert failure(["--no-memdev=x"]).stderr == (
        "  Error: option `no-memdev' takes no value\n" + LIST_HEADER + option_line(LIST_V81, "m")
    )


def test_option_named_no_something() -> None:
    opts, usage = INJECT_ERROR_V76, INJECT_ERROR_USAGE
    assert parse(["-N"], opts, usage)[0]["no_notify"] is True
    assert parse(["--no-notify"], opts, usage)[0]["no_notify"] is True
    assert parse(["-N", "--notify"], opts, usage)[0]["no_notify"] is False
    assert parse(["-N", "--noti"], opts, usage)[0]["no_notify"] is False
    assert parse(["-N", "--no-no-notify"], opts, usage)[0]["no_notify"] is False
    assert parse(["--no-noti"], opts, usage)[0]["no_notify"] is True
    assert failure(["--notify=1"], opts, usage).stderr.startswith(
        "  Error: option `no-no-notify' takes no value\n"
    )
    assert failure(["--noti=1"], opts, usage).stderr.startswith(
        "  Error: unknown option `noti=1'\n"
    )


def test_noneg() -> None:
    opts = [Opt("f", "force", "bool", "force it", noneg=True)]
    assert failure(["--no-force"], opts, ["u"]).stderr == (
        "  Error: option `no-force' isn't available\n"
        "\n usage: u\n\n"
        "    -f, --force           force it\n"
    )
    assert parse(["--force"], opts, ["u"])[0]["force"] is True


def test_counter() -> None:
    assert parse(["-vvv"])[0]["verbose"] == 3
    assert parse(["-v", "--verbose", "-Mv"])[0]["verbose"] == 3
    assert parse(["-vv", "--no-verbose", "-v"])[0]["verbose"] == 1


def test_flags_reject_values() -> None:
    assert failure(["--memdevs=1"]).stderr == (
        "  Error: option `memdevs' takes no value\n" + LIST_HEADER + option_line(LIST_V81, "m")
    )
    assert failure(["--verbose=2"]).stderr == (
        "  Error: option `verbose' takes no value\n" + LIST_HEADER + option_line(LIST_V81, "v")
    )
    assert failure(["--debug="]).stderr == (
        "  Error: option `debug' takes no value\n"
        + LIST_HEADER
        + "        --debug           debug list walk\n"
    )
    assert failure(["--al=1"]).stderr == (
        "  Error: option `alert-config' takes no value\n" + LIST_HEADER
    )


# ---------------------------------------------------------------------------------------------
# integers

INT_OPTS = (
    Opt("i", "int", "integer", "int"),
    Opt("u", "uint", "uinteger", "unsigned int"),
    Opt("l", "long", "long", "long"),
    Opt("q", "u64", "u64", "u64"),
)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("int", "42", 42),
        ("int", " \t7", 7),
        ("int", "+5", 5),
        ("int", "-3", -3),
        ("int", "", 0),
        ("int", "007", 7),
        ("int", "2147483648", -2147483648),
        ("int", "4294967297", 1),
        ("int", "99999999999999999999", -1),
        ("uint", "-1", 4294967295),
        ("uint", "4294967296", 0),
        ("long", "9223372036854775807", 9223372036854775807),
        ("long", "99999999999999999999", 9223372036854775807),
        ("long", "-99999999999999999999", -9223372036854775808),
        ("u64", "18446744073709551615", 18446744073709551615),
        ("u64", "18446744073709551616", 18446744073709551615),
        ("u64", "-1", 18446744073709551615),
        ("u64", "-99999999999999999999", 18446744073709551615),
    ],
)
def test_integer_values(kind: str, text: str, value: int) -> None:
    assert parse([f"--{kind}={text}"], INT_OPTS, ["u"])[0][kind] == value
    short = {"int": "-i", "uint": "-u", "long": "-l", "u64": "-q"}[kind]
    assert parse([short, text], INT_OPTS, ["u"])[0][kind] == value


@pytest.mark.parametrize("text", ["abc", "1x", "0x10", " ", "-", "1 ", "1.5", "+", "1k"])
def test_integer_must_be_fully_consumed(text: str) -> None:
    exc = failure(["-i", text], INT_OPTS, ["u"])
    assert exc.stderr == (
        "  Error: switch `i' expects a numerical value\n"
        "\n usage: u\n\n"
        "    -i, --int <n>         int\n"
    )
    exc = failure([f"--int={text}"], INT_OPTS, ["u"])
    assert exc.stderr.startswith("  Error: option `int' expects a numerical value\n")


def test_integer_messages_create_region() -> None:
    opts, usage = CREATE_REGION_V81, CREATE_REGION_USAGE
    header = "\n usage: cxl create-region <target0> ... [<options>]\n\n"
    ways = option_line(opts, "w")
    assert ways == (
        "    -w, --ways <n>        number of memdevs participating in the regions interleave set\n"
    )
    assert failure(["-w", "abc"], opts, usage).stderr == (
        "  Error: switch `w' expects a numerical value\n" + header + ways
    )
    assert failure(["--ways=abc"], opts, usage).stderr == (
        "  Error: option `ways' expects a numerical value\n" + header + ways
    )
    assert failure(["-w"], opts, usage).stderr == (
        "  Error: switch `w' requires a value\n" + header + ways
    )
    # the abbreviated usage picks the first option whose name starts the typed word
    assert failure(["--gran=x"], opts, usage).stderr == (
        "  Error: option `granularity' expects a numerical value\n" + header
    )
    assert parse(["-w2", "-g", "256"], opts, usage)[0]["ways"] == 2


# ---------------------------------------------------------------------------------------------
# missing values, unknown options, typos


def test_missing_values() -> None:
    assert failure(["-m"]).stderr == (
        "  Error: switch `m' requires a value\n" + LIST_HEADER + option_line(LIST_V81, "m")
    )
    assert failure(["-Mm"]).stderr.startswith("  Error: switch `m' requires a value\n")
    assert failure(["--memdev"]).stderr == (
        "  Error: option `memdev' requires a value\n" + LIST_HEADER + option_line(LIST_V81, "m")
    )
    assert failure(["--ser"]).stderr == (
        "  Error: option `serial' requires a value\n" + LIST_HEADER
    )


def test_unknown_switch_and_option() -> None:
    exc = failure(["-x"])
    assert (exc.code, exc.stdout) == (EXIT_USAGE, "")
    assert exc.stderr == "  Error: unknown switch `x'\n" + LIST_HELP_V81
    assert failure(["-Mx"]).stderr == "  Error: unknown switch `x'\n" + LIST_HELP_V81
    assert failure(["--foo=1"]).stderr == "  Error: unknown option `foo=1'\n" + LIST_HELP_V81
    # upstream turns the rest of a bundle into a "--..." word
    assert failure(["-M-foo"]).stderr == "  Error: unknown option `foo'\n" + LIST_HELP_V81
    assert failure(["-M-"]).stderr == "  Error: unknown option `'\n" + LIST_HELP_V81


def test_unknown_switch_reports_a_single_byte() -> None:
    exc = failure(["-Mé"])
    assert os.fsencode(exc.stderr).startswith(b"  Error: unknown switch `\xc3'\n")


def test_error_message_is_truncated_like_upstream() -> None:
    exc = failure(["--" + "x" * 2000])
    first = exc.stderr.split("\n", 1)[0]
    assert first == "  Error: unknown option `" + "x" * (1023 - len("unknown option `"))


def test_did_you_mean() -> None:
    exc = failure(["-idle"])
    assert (exc.code, exc.stdout, exc.stderr) == (
        EXIT_USAGE,
        "",
        "  Error: did you mean `--idle` (with two dashes ?)\n",
    )
    assert failure(["-idl"]).stderr == "  Error: did you mean `--idl` (with two dashes ?)\n"
    # checked only after a first short flag succeeded and left text behind, and only for
    # words of three bytes or more that start a long name (or start with "no-")
    assert parse(["-iM"])[0]["idle"] is True
    assert parse(["-id", "x"])[0]["decoder"] == "x"
    assert parse(["-mno-x"])[0]["memdev"] == "no-x"
    assert parse(["-vdebug"])[0]["decoder"] == "ebug"
    assert failure(["-ver"]).stderr.startswith("  Error: did you mean `--ver`")


def test_did_you_mean_negation() -> None:
    opts = [Opt("n", "dry-run", "bool", "h"), Opt("o", "other", "bool", "h")]
    assert failure(["-no-x"], opts, ["u"]).stderr == (
        "  Error: did you mean `--no-x` (with two dashes ?)\n"
    )
    assert failure(["-dry"], [Opt("d", "dry-run", "bool", "h")], ["u"]).stderr == (
        "  Error: did you mean `--dry` (with two dashes ?)\n"
    )


# ---------------------------------------------------------------------------------------------
# positionals


def test_positionals() -> None:
    values, args = parse(["a", "-M", "b", "-", "-m", "x", "c"])
    assert args == ["a", "b", "-", "c"]
    assert (values["memdevs"], values["memdev"]) == (True, "x")


def test_double_dash_ends_options() -> None:
    values, args = parse(["-M", "--", "-u", "--", "x"])
    assert (values["memdevs"], values["human"], args) == (True, False, ["-u", "--", "x"])


def test_non_utf8_bytes_round_trip() -> None:
    raw = os.fsdecode(b"\xff\xfe")
    values, args = parse(["-m" + raw, raw])
    assert (values["memdev"], args) == (raw, [raw])


def test_emit_writes_bytes(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    exc = failure(["-Mé"])
    assert exc.emit() == EXIT_USAGE
    out, err = capfdbinary.readouterr()
    assert out == b""
    assert err.startswith(b"  Error: unknown switch `\xc3'\n\n usage: cxl list")
    exc = failure(["--list-opts"])
    assert exc.emit() == EXIT_LIST
    out, err = capfdbinary.readouterr()
    assert (out[:9], err) == (b"--memdev ", b"")


# ---------------------------------------------------------------------------------------------
# comparisons with the upstream v76.1 binaries

CXL = Path("/usr/bin/cxl")
NDCTL = Path("/usr/bin/ndctl")
ORACLE_VERSION = "76.1"


def _oracle_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CXL_", "NDCTL_", "DAXCTL_"))
    }


@functools.cache
def _oracle_problem(binary: Path) -> str | None:
    if not binary.exists():
        return f"{binary} is not installed (Debian package ndctl {ORACLE_VERSION})"
    version = subprocess.run(
        [str(binary), "version"], capture_output=True, timeout=30, env=_oracle_env()
    )
    found = version.stdout.decode(errors="replace").strip()
    if found != ORACLE_VERSION:
        return f"{binary} is version {found!r}, the comparisons need {ORACLE_VERSION}"
    return None


def require_oracle(binary: Path) -> None:
    problem = _oracle_problem(binary)
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem)
    pytest.skip(problem)


def run_oracle(binary: Path, command: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
    require_oracle(binary)
    done = subprocess.run(
        [str(binary), command, *argv], capture_output=True, timeout=60, env=_oracle_env()
    )
    return done.returncode, done.stdout, done.stderr


def run_ours(
    argv: Sequence[str], opts: Sequence[Opt], usage: Sequence[str]
) -> tuple[int, bytes, bytes] | None:
    try:
        parse_options(argv, opts, usage)
    except UsageExit as exc:
        return exc.code, os.fsencode(exc.stdout), os.fsencode(exc.stderr)
    return None


LIST_FAILURES: list[list[str]] = [
    ["-x"],
    ["-Mx"],
    ["-BMux"],
    ["--mem"],
    ["--mem=x"],
    ["-m"],
    ["-Mm"],
    ["--memdev"],
    ["--ser"],
    ["--memdevs=1"],
    ["--memdevs="],
    ["--no-memdevs=1"],
    ["--no-memdev=x"],
    ["--verbose=2"],
    ["--debug=1"],
    ["--al=1"],
    ["--de=1"],
    ["-idle"],
    ["-idl"],
    ["-ver"],
    ["--no-foo"],
    ["--foo=1"],
    ["--no-mem"],
    ["--n"],
    ["--no"],
    ["--no-"],
    ["--p"],
    ["--=x"],
    ["--hel"],
    ["--list-opt"],
    ["-M-"],
    ["-M-foo"],
    ["-Mé"],
    ["-é"],
    ["--" + "x" * 2000],
    ["--" + "é" * 600],
    ["-M", "x", "-y", "z"],
    ["-h"],
    ["--help-all"],
    ["-Mh"],
    ["-M", "--help"],
    ["--list-opts"],
    ["-M", "--list-opts", "-x"],
    ["--list-cmds"],
    ["-v", "--list-cmds"],
]


@pytest.mark.parametrize("argv", LIST_FAILURES, ids=lambda argv: " ".join(argv)[:40])
def test_cxl_list_matches_upstream(argv: list[str]) -> None:
    expected = run_oracle(CXL, "list", argv)
    assert expected[0] in (EXIT_USAGE, EXIT_LIST)
    assert run_ours(argv, LIST_V76, LIST_USAGE) == expected


CREATE_REGION_FAILURES: list[list[str]] = [
    ["-w", "abc"],
    ["-wabc"],
    ["--ways=abc"],
    ["--ways", "1x"],
    ["-w"],
    ["--ways"],
    ["-g1k"],
    ["--gran=x"],
    ["--no-ways=1"],
    ["-w", " 1 "],
    ["-w", "0x10"],
    ["-w", "-"],
    ["-mw", "q"],
    ["--de"],
    ["--deb=x"],
    ["-s"],
    ["--size"],
    ["--no-size=1"],
    ["-uq"],
    ["--memdevs=0"],
    ["-h"],
    ["--list-opts"],
]


@pytest.mark.parametrize("argv", CREATE_REGION_FAILURES, ids=" ".join)
def test_cxl_create_region_matches_upstream(argv: list[str]) -> None:
    expected = run_oracle(CXL, "create-region", argv)
    assert expected[0] in (EXIT_USAGE, EXIT_LIST)
    assert run_ours(argv, CREATE_REGION_V76, CREATE_REGION_USAGE) == expected


READ_LABELS_FAILURES: list[list[str]] = [
    ["-s", "x"],
    ["--offset=1.5"],
    ["-O"],
    ["-o"],
    ["--out"],
    ["--s=4"],
    ["--no-output=x"],
    ["-vSx"],
    ["-h"],
    ["--list-opts"],
]


@pytest.mark.parametrize("argv", READ_LABELS_FAILURES, ids=" ".join)
def test_cxl_read_labels_matches_upstream(argv: list[str]) -> None:
    expected = run_oracle(CXL, "read-labels", argv)
    assert expected[0] in (EXIT_USAGE, EXIT_LIST)
    assert run_ours(argv, READ_LABELS_V76, READ_LABELS_USAGE) == expected


@pytest.mark.parametrize(
    ("command", "usage", "opts"),
    [
        ("enable-port", ENABLE_PORT_USAGE, ENABLE_PORT),
        ("monitor", MONITOR_USAGE, MONITOR),
    ],
    ids=["enable-port", "monitor"],
)
@pytest.mark.parametrize("argv", [["-h"], ["--list-opts"], ["-z"], ["--e"], ["--log"]], ids=str)
def test_other_commands_match_upstream(
    command: str, usage: tuple[str, ...], opts: tuple[Opt, ...], argv: list[str]
) -> None:
    if run_ours(argv, opts, usage) is None:
        pytest.skip("parses successfully: the command would run")
    assert run_ours(argv, opts, usage) == run_oracle(CXL, command, argv)


INJECT_ERROR_FAILURES: list[list[str]] = [
    ["--notify=1"],
    ["--noti=1"],
    ["--no-noti=1"],
    ["--no-notify=1"],
    ["--no-no-notify=1"],
    ["--n"],
    ["--no"],
    ["--no-"],
    ["--no-notif=3"],
    ["--notif=3"],
    ["-h"],
    ["--list-opts"],
]


@pytest.mark.parametrize("argv", INJECT_ERROR_FAILURES, ids=" ".join)
def test_ndctl_negated_option_names_match_upstream(argv: list[str]) -> None:
    expected = run_oracle(NDCTL, "inject-error", argv)
    assert expected[0] in (EXIT_USAGE, EXIT_LIST)
    assert run_ours(argv, INJECT_ERROR_V76, INJECT_ERROR_USAGE) == expected


_UNKNOWN_PARAMETER = re.compile(rb'^  Error: unknown parameter "(.*)"$', re.M)


def check_list_against_upstream(argv: Sequence[str]) -> None:
    """Compare one ``cxl list`` command line with the binary, whatever its outcome.

    A failed parse must match byte for byte.  After a successful parse ``cxl list`` reports
    every positional argument as an unknown parameter (exit 129), or runs (reading /sys, which
    is harmless): the positionals must then be the ones we found.
    """
    code, out, err = run_oracle(CXL, "list", argv)
    ours = run_ours(argv, LIST_V76, LIST_USAGE)
    unknown = _UNKNOWN_PARAMETER.findall(err) if code == EXIT_USAGE else []
    if unknown or code not in (EXIT_USAGE, EXIT_LIST):
        assert ours is None, (argv, ours)
        _values, args = parse_options(argv, LIST_V76, LIST_USAGE)
        assert [os.fsencode(arg) for arg in args] == unknown
    else:
        assert ours == (code, out, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["-M"],
        ["foo"],
        ["--", "-x"],
        ["-"],
        ["foo", "-M", "bar"],
        ["--memdev", "--", "x"],
        ["-m", "-x", "y"],
        ["-Mu", "--", "-M", "--"],
        ["--no-memdev", "x"],
        ["--ver", "x"],
        ["-Mumem0", "-vvv", "--no-verbose"],
        ["--memdev="],
        ["-Dec"],
    ],
    ids=" ".join,
)
def test_cxl_list_positionals_match_upstream(argv: list[str]) -> None:
    check_list_against_upstream(argv)


_FUZZ_WORDS = (
    "-M",
    "-m",
    "mem0",
    "-Mumem0",
    "--mem",
    "--memdev",
    "--memdevs",
    "--memdevs=1",
    "--memdev=x",
    "--no-memdevs",
    "--no-mem",
    "--no-memd",
    "-v",
    "-vvv",
    "--verbose=1",
    "--no-verbose",
    "-idle",
    "-iM",
    "-x",
    "--",
    "-",
    "foo",
    "--de",
    "--deb",
    "--debug=",
    "--n",
    "--no-",
    "--list-opts",
    "--ser",
    "--s",
    "-s",
    "-M-x",
    "--=x",
    "--bus",
    "--bu",
    "-Tno",
    "-h",
    "-DEP",
    "--regions",
    "--region=r",
    "-ea",
    "--alert",
    "--health=",
    "-HIA",
    "--targ",
)


def test_cxl_list_fuzz_against_upstream() -> None:
    require_oracle(CXL)
    rng = random.Random(20250321)
    for _ in range(150):
        argv = [rng.choice(_FUZZ_WORDS) for _ in range(rng.randint(1, 4))]
        check_list_against_upstream(argv)
