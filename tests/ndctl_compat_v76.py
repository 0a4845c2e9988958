"""The one place where pycxl's ``ndctl`` (v81 behaviour) is compared with the Debian v76.1
oracle: every rule here is a documented v76.1 -> v81 difference (ndctl-daxctl.md 12) or a
documented gap of the emulation's frontends; nothing else may be normalized.

Version differences:

* ``ndctl list -u``: v76.1 prints ``iset_id`` as ``"0x7fffffffffffffff"`` for an
  interleave-set cookie of 2^63 or more (it goes through a signed conversion); v81 prints
  the cookie. The emulated CXL cookies are often that large.
* ``ndctl --version``: ``76.1`` against ``81``.
* ``ndctl list -C``: v76.1 shows ``capabilities`` only when all three seeds exist, v81 when
  any does. CXL regions always have all three, so no rule is needed.

Frontend gaps once listed here are closed: under ``fake-sysfs run`` /dev is live (a
``daxN.M`` a devdax namespace registers appears at once) and the pmem block devices are
served as plain files at ``/dev/pmemN`` whose writes land on the memdevs' media
(upstream's disable-safe open and info-block zeroing work). pycxl makes the same block
I/O steps (pycxl.ndctl.commands.namespace; tests/test_ndctl_blockio.py compares the
bytes).
"""

from __future__ import annotations

import re

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ISET = re.compile(rb'"iset_id":"0x[0-9a-f]+"')


def human_iset(out: bytes) -> bytes:
    """Both versions' ``-u`` iset_id as v76.1 prints a cookie of 2^63 or more."""

    def clamp(m: re.Match[bytes]) -> bytes:
        value = int(m.group(0).split(b'"')[3], 16)
        if value >= 1 << 63:
            return b'"iset_id":"0x7fffffffffffffff"'
        return m.group(0)

    return _ISET.sub(clamp, out)


def uuids(data: bytes) -> bytes:
    """Random uuids (create-namespace makes them) compared by shape only."""
    return _UUID.sub(b"UUID", data)
