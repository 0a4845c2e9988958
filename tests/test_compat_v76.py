"""The v76.1 normalization turns upstream's own v81 golden output into its v76.1 golden
output, wherever both were recorded for the same command line: the normalization removes
exactly the documented differences and nothing else."""

from __future__ import annotations

import shlex

import pytest

from tests import compat_v76
from tests.helpers import GOLDEN

CASES = sorted(p.stem for p in (GOLDEN / "v81").glob("*.cmd"))


def _argv(case: str) -> list[str]:
    return shlex.split((GOLDEN / "v81" / f"{case}.cmd").read_text())[2:]


@pytest.mark.parametrize("case", CASES)
def test_v81_golden_normalizes_to_v76_golden(case: str) -> None:
    argv = _argv(case)
    lines = compat_v76.command_lines(argv)
    if lines is None or lines != (argv, argv):
        pytest.skip("no identical v76.1 command line for this case")
    v81, v76 = GOLDEN / "v81" / case, GOLDEN / "v76" / case
    assert (
        compat_v76.stdout(v81.with_suffix(".out").read_bytes())
        == v76.with_suffix(".out").read_bytes()
    )
    assert (
        compat_v76.stderr(v81.with_suffix(".err").read_bytes())
        == v76.with_suffix(".err").read_bytes()
    )
    assert v81.with_suffix(".rc").read_text() == v76.with_suffix(".rc").read_text()


def test_command_lines() -> None:
    assert compat_v76.command_lines(["-M"]) == (["-M"], ["-M"])
    assert compat_v76.command_lines(["-v", "-M"]) == (["-v", "-M"], ["-v", "-M", "-R"])
    assert compat_v76.command_lines(["-vvv"]) == (["-vv", "-H", "-I", "-A"], ["-vvv"])
    assert compat_v76.command_lines(["-v", "-m", "mem0"]) is None
    assert compat_v76.command_lines(["-X"]) is None
    assert compat_v76.command_lines(["-D", "-r", "region0"]) is None
    assert compat_v76.command_lines(["-m", "-vmem"]) == (["-m", "-vmem"], ["-m", "-vmem"])
