"""The state file's snapshot in rows (codec.dump_rows / load_rows).

The reference is the keyed form (codec.dump / load), which names every field: a state
written as rows and read back must be the same kernel, field for field, as one written and
read keyed, for every preset and for states that commands have changed (regions, DAX,
memory blocks, namespaces, labels, DPA, unbound memdevs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_sysfs import codec
from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.platform.presets import load_preset, preset_names
from fake_sysfs.store import Origin, StateStore
from tests.helpers import run_cxl
from tests.nd_helpers import run_ndctl


def through_rows(k: Kernel) -> Kernel:
    return codec.load_rows(Kernel, json.loads(json.dumps(codec.dump_rows(k))))


def through_keys(k: Kernel) -> Kernel:
    return codec.load(Kernel, json.loads(json.dumps(k.to_json())))


def same(a: Kernel, b: Kernel) -> None:
    assert a == b
    assert json.dumps(a.to_json(), sort_keys=True) == json.dumps(b.to_json(), sort_keys=True)


@pytest.mark.parametrize("preset", [p for p in preset_names() if p != "scale-1024"])
def test_every_preset_reads_back_as_itself(preset: str) -> None:
    k = boot(load_preset(preset))
    same(through_rows(k), k)
    same(through_rows(k), through_keys(k))


SESSION = [
    ("cxl", "create-region", "-d", "decoder0.5", "-t", "ram"),
    ("daxctl", "reconfigure-device", "-m", "system-ram", "-f", "dax5.0"),
    ("cxl", "create-region", "-d", "decoder0.4", "-t", "pmem"),
    ("ndctl", "create-namespace", "-m", "fsdax", "-s", "256M"),
    ("ndctl", "create-namespace", "-m", "devdax", "-s", "256M"),
    ("cxl", "disable-memdev", "-f", "mem7"),
    ("cxl", "reserve-dpa", "-t", "pmem", "-s", "256M", "mem6"),
]


def test_states_commands_made_read_back_as_themselves(tmp_path: Path) -> None:
    from tests.test_daxctl_cmds import run_daxctl

    state = tmp_path / "state"
    store = StateStore(state)
    store.init(load_preset("cxl_test"), Origin("preset", "cxl_test"), False)
    env = {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}
    for tool, *argv in SESSION:
        if tool == "cxl":
            result = run_cxl(argv, env=env)
        elif tool == "ndctl":
            result = run_ndctl(argv, state)
        else:
            result = run_daxctl(argv, state)
        assert result.rc == 0, (tool, argv, result.err)
        k = StateStore(state).load()[0]
        same(through_rows(k), k)
        same(through_rows(k), through_keys(k))
    # The session reached every kind of object the rows hold.
    assert k.regions and k.nd_regions and k.dax_regions and k.log.records


def test_the_schema_names_every_stored_class_once() -> None:
    schema = codec.schema(Kernel)
    assert schema["Kernel"][0] == "platform" and "runtime" not in schema["Kernel"]
    for name in ("Decoder", "Port", "Memdev", "Region", "Device", "Platform", "LogRecord"):
        assert name in schema, name
    # A row is exactly its class's stored fields.
    k = boot(load_preset("cxl_test"))
    assert len(codec.dump_rows(k)) == len(schema["Kernel"])


def test_a_row_of_the_wrong_length_is_refused() -> None:
    rows = json.loads(json.dumps(codec.dump_rows(boot(load_preset("qemu-mixed")))))
    with pytest.raises(ValueError, match="Kernel: not a row"):
        codec.load_rows(Kernel, rows[:-1])
    with pytest.raises(ValueError, match="Kernel: not a row"):
        codec.load_rows(Kernel, {"platform": rows[0]})
