"""pycxl's JSON printer against json-c itself (libjson-c, which upstream links), through
ctypes: any value must print byte for byte as json_object_to_json_string_ext(PRETTY)."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycxl.util import jsonc

_LIB = ctypes.util.find_library("json-c")


def _json_c() -> ctypes.CDLL:
    if _LIB is None:
        pytest.skip("libjson-c is not installed")
    lib = ctypes.CDLL(_LIB)
    vp = ctypes.c_void_p
    lib.json_object_new_object.restype = vp
    lib.json_object_new_array.restype = vp
    lib.json_object_new_string.restype = vp
    lib.json_object_new_string.argtypes = [ctypes.c_char_p]
    lib.json_object_new_int64.restype = vp
    lib.json_object_new_int64.argtypes = [ctypes.c_int64]
    lib.json_object_new_uint64.restype = vp
    lib.json_object_new_uint64.argtypes = [ctypes.c_uint64]
    lib.json_object_new_boolean.restype = vp
    lib.json_object_new_boolean.argtypes = [ctypes.c_int]
    lib.json_object_object_add.argtypes = [vp, ctypes.c_char_p, vp]
    lib.json_object_array_add.argtypes = [vp, vp]
    lib.json_object_to_json_string_ext.restype = ctypes.c_char_p
    lib.json_object_to_json_string_ext.argtypes = [vp, ctypes.c_int]
    lib.json_object_put.argtypes = [vp]
    return lib


def _build(lib: ctypes.CDLL, value: Any) -> int:
    if isinstance(value, dict):
        obj = lib.json_object_new_object()
        for key, item in value.items():
            lib.json_object_object_add(obj, key.encode(), _build(lib, item))
        return int(obj)
    if isinstance(value, list):
        arr = lib.json_object_new_array()
        for item in value:
            lib.json_object_array_add(arr, _build(lib, item))
        return int(arr)
    if isinstance(value, bool):
        return int(lib.json_object_new_boolean(int(value)))
    if isinstance(value, int):
        if value >= 1 << 63:
            return int(lib.json_object_new_uint64(value))
        return int(lib.json_object_new_int64(value))
    return int(lib.json_object_new_string(value.encode()))


def json_c_pretty(value: Any) -> str:
    lib = _json_c()
    obj = _build(lib, value)
    text = lib.json_object_to_json_string_ext(obj, 2).decode()  # JSON_C_TO_STRING_PRETTY
    lib.json_object_put(obj)
    return str(text)


keys = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=8)
leaves = (
    st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.booleans()
    | st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_matches_json_c(value: Any) -> None:
    assert jsonc.dumps(value) == json_c_pretty(value)


@pytest.mark.parametrize(
    "value",
    [[], {}, {"a": []}, {"a": {}}, [[]], "a/b", '\x01\x1f\x7f\t\n"\\é', 2**64 - 1, -(2**63)],
    ids=repr,
)
def test_edge_cases(value: Any) -> None:
    assert jsonc.dumps(value) == json_c_pretty(value)
