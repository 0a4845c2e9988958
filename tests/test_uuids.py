"""fake_sysfs.kernel.uuids against the standard uuid module it stands in for."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_sysfs.kernel.nd_labels import CLAIM_UUIDS, _guid
from fake_sysfs.kernel.uuids import to_bytes, to_text


@given(st.binary(min_size=16, max_size=16))
def test_text_and_bytes_are_the_standard_ones(raw: bytes) -> None:
    text = to_text(raw)
    assert text == str(uuid.UUID(bytes=raw))
    assert to_bytes(text) == raw
    assert to_bytes(text.upper()) == uuid.UUID(text.upper()).bytes
    assert to_bytes(text.replace("-", "")) == raw


@pytest.mark.parametrize(
    "text", ["", "0" * 31, "0" * 33, "g" * 32, "0000000-00000-0000-0000-000000000000x"]
)
def test_what_is_no_uuid_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        to_bytes(text)


def test_claim_guids_are_in_efi_byte_order() -> None:
    # The abstraction GUIDs the nvdimm core writes into labels are stored mixed-endian.
    for name, text in (
        ("btt", "18633bfc-1735-4217-8ac9-17239282d3f8"),
        ("pfn", "266400ba-fb9f-4677-bcb0-968f11d0d225"),
        ("dax", "97a86d9c-3cdd-4eda-986f-5068b4f80088"),
    ):
        assert CLAIM_UUIDS[name] == _guid(text) == uuid.UUID(text).bytes_le
