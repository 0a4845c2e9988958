"""The golden set: what upstream v81 printed for 91 `cxl list` command lines on a
hand-made tree (tests/data/golden/cxl-list). pycxl, reading that tree through
PYCXL_SYSFS_ROOT, must print the same bytes on stdout and stderr and exit the same way."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.helpers import GOLDEN, extract_golden_tree, run_cxl

CASES = sorted(p.stem for p in (GOLDEN / "v81").glob("*.cmd"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract_golden_tree(tmp_path_factory.mktemp("golden"))


def test_golden_set_is_complete() -> None:
    assert len(CASES) == 91


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tree: Path) -> None:
    base = GOLDEN / "v81" / case
    argv = shlex.split(base.with_suffix(".cmd").read_text())
    assert argv[0] == "cxl"
    result = run_cxl(argv[1:], {"PYCXL_SYSFS_ROOT": str(tree / "sys"), "PYCXL_DEV_ROOT": None})
    assert result.out.decode() == base.with_suffix(".out").read_text()
    assert result.err.decode() == base.with_suffix(".err").read_text()
    assert result.rc == int(base.with_suffix(".rc").read_text())
