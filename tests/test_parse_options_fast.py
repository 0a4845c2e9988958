"""Opt without dataclasses: the run-time kinds agree with the OptKind type, and options keep
value semantics."""

from __future__ import annotations

import ast
import inspect

from pycxl.util import parse_options
from pycxl.util.parse_options import OPT_KINDS, Opt


def test_kinds_match_the_static_type() -> None:
    tree = ast.parse(inspect.getsource(parse_options))
    literal = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "OptKind" for t in node.targets)
    )
    assert isinstance(literal, ast.Subscript)
    assert isinstance(literal.slice, ast.Tuple)
    kinds = tuple(e.value for e in literal.slice.elts if isinstance(e, ast.Constant))
    assert kinds == OPT_KINDS


def test_value_semantics() -> None:
    a = Opt("m", "memdev", "string", "filter", "name")
    b = Opt("m", "memdev", "string", "filter", argh="name")
    assert a == b and hash(a) == hash(b)
    assert a != Opt("m", "memdev", "string", "filter")
    assert a.dest == "memdev"
    assert Opt("x", None, "bool", "h").dest == "x"
    assert Opt(None, "alert-config", "bool", "h").dest == "alert_config"
    assert repr(a) == (
        "Opt(short='m', long='memdev', kind='string', help='filter', argh='name', "
        "dest='memdev', default=None, noneg=False, hidden=False)"
    )
