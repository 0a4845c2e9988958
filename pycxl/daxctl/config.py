"""``daxctl reconfigure-device -C``: the persistent configuration in
``/etc/daxctl.conf.d/*.conf`` (ndctl-daxctl.md §8.11).

A section ``[reconfigure-device <anything>]`` applies to the device whose nvdimm namespace's
DAX claim has the section's ``nvdimm.uuid``; it gives ``mode``, ``online`` and ``movable``.
Files are ini files read as iniparser reads them (section and key names in lower case,
``#`` and ``;`` comments, values optionally quoted); every ``.conf`` regular file of the
directory is read, in reverse alphabetical order, and values found in several files are
joined with a space, as upstream does.

``PYCXL_DAXCTL_CONF_DIR`` names another directory (pycxl's own, for tests).
"""

from __future__ import annotations

import os

from pycxl.daxctl.lib import _read
from pycxl.sysfs.base import Sysfs

CONF_DIR = "/etc/daxctl.conf.d"
SECTION = "reconfigure-device"
ND_DEVICES = "/sys/bus/nd/devices"


def conf_dir() -> str:
    return os.environ.get("PYCXL_DAXCTL_CONF_DIR", CONF_DIR)


def nvdimm_uuid(sysfs: Sysfs, device: str) -> str | None:
    """The uuid of the nd DAX claim whose DAX region's first device is ``device`` (the
    last match, as upstream scans every bus, region and namespace)."""
    try:
        names = sysfs.listdir(ND_DEVICES)
    except OSError:
        return None
    found = None
    for name in names:
        if not name.startswith("namespace"):
            continue
        holder = _read(sysfs, f"{ND_DEVICES}/{name}/holder")
        if not holder or not holder.startswith("dax"):
            continue
        try:
            claim = sysfs.realpath(f"{ND_DEVICES}/{holder}")
            entries = sysfs.listdir(claim)
        except OSError:
            continue
        region_id = holder[len("dax") :].split(".", 1)[0]
        devices = [e for e in entries if e.startswith(f"dax{region_id}.")]
        # libdaxctl lists a region's devices newest first: the last one read comes first.
        if devices and devices[-1] == device:
            found = _read(sysfs, f"{claim}/uuid")
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    for mark in (";", "#"):
        value = value.split(mark, 1)[0]
    return value.strip()


def load_ini(path: str) -> tuple[list[str], dict[str, str]] | None:
    """Section names in file order and ``section:key`` -> value; None if unreadable."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    sections: list[str] = []
    values: dict[str, str] = {}
    section = ""
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and "]" in line:
            section = line[1 : line.index("]")].strip().lower()
            if section not in sections:
                sections.append(section)
            continue
        if "=" in line and section:
            key, _, value = line.partition("=")
            values[f"{section}:{key.strip().lower()}"] = _unquote(value.strip())
    return sections, values


def _search(ini: tuple[list[str], dict[str, str]], uuid: str, key: str) -> str | None:
    sections, values = ini
    for section in sections:
        words = section.split()
        if not words or words[0] != SECTION:
            continue
        if values.get(f"{section}:nvdimm.uuid") != uuid:
            continue
        return values.get(f"{section}:{key}")
    return None


def _to_bool(text: str | None) -> bool | None:
    if not text:
        return None
    if text[0] in "tTyY1":
        return True
    if text[0] in "fFnN0":
        return False
    return None


def reconfig_params(uuid: str) -> tuple[int, dict[str, object]]:
    """0 and the parameters the configuration sets for ``uuid`` (``mode``, ``no_online``,
    ``no_movable``, only those found), or -errno when the directory cannot be read."""
    directory = conf_dir()
    try:
        names = sorted(
            n
            for n in os.listdir(directory)
            if os.path.isfile(os.path.join(directory, n))
            and not os.path.islink(os.path.join(directory, n))
            and "." in n[1:]
            and n.rsplit(".", 1)[1] == "conf"
        )
    except OSError as e:
        return -(e.errno or 2), {}
    found: dict[str, str] = {}
    for name in reversed(names):
        ini = load_ini(os.path.join(directory, name))
        if ini is None:
            return -2, {}
        for key in ("mode", "online", "movable"):
            value = _search(ini, uuid, key)
            if value is not None:
                found[key] = f"{found[key]} {value}" if key in found else value
    params: dict[str, object] = {}
    if "mode" in found:
        params["mode"] = found["mode"]
    for key, param in (("online", "no_online"), ("movable", "no_movable")):
        flag = _to_bool(found.get(key))
        if flag is not None:
            params[param] = not flag
    return 0, params
