"""The only way pycxl touches the kernel: sysfs paths and bytes (and /dev nodes)."""

from pycxl.sysfs.base import DevStat, Sysfs

__all__ = ["DevStat", "Sysfs"]
