"""QEMU command lines -> platform models (fake_sysfs.platform.qemu)."""

# The documentation examples below are pasted verbatim, some of their lines are long.
# ruff: noqa: E501

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import GiB, MiB, Platform
from fake_sysfs.platform.presets import QEMU_PRESETS, load_preset
from fake_sysfs.platform.qemu import (
    QEMU_HDM_DECODERS,
    QEMU_HOST_BRIDGE_TARGETS,
    QEMU_SWITCH_TARGETS,
    parse_qemu,
)

# --------------------------------------------------------------------------------------------
# The example command lines of QEMU's docs/system/devices/cxl.rst, verbatim (raw strings keep
# the backslash line continuations). Current document first, then earlier revisions.
# --------------------------------------------------------------------------------------------

DOC_PMEM = r"""
  qemu-system-x86_64 -M q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 4 \
  ...
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,persistent-memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0,sn=0x1 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G
"""

DOC_VMEM = r"""
  qemu-system-x86_64 -M q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 4 \
  ...
  -object memory-backend-ram,id=vmem0,share=on,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,volatile-memdev=vmem0,id=cxl-vmem0 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G
"""

DOC_VMEM_LSA = r"""
  qemu-system-x86_64 -M q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 4 \
  ...
  -object memory-backend-ram,id=vmem0,share=on,size=256M \
  -object memory-backend-file,id=cxl-lsa0,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,volatile-memdev=vmem0,lsa=cxl-lsa0,id=cxl-vmem0 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G
"""

DOC_INTERLEAVE = r"""
  qemu-system-x86_64 -M q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 4 \
  ...
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-mem2,share=on,mem-path=/tmp/cxltest2.raw,size=256M \
  -object memory-backend-file,id=cxl-mem3,share=on,mem-path=/tmp/cxltest3.raw,size=256M \
  -object memory-backend-file,id=cxl-mem4,share=on,mem-path=/tmp/cxltest4.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa2,share=on,mem-path=/tmp/lsa2.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa3,share=on,mem-path=/tmp/lsa3.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa4,share=on,mem-path=/tmp/lsa4.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device pxb-cxl,bus_nr=222,bus=pcie.0,id=cxl.2 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,persistent-memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0,sn=0x1 \
  -device cxl-rp,port=1,bus=cxl.1,id=root_port14,chassis=0,slot=3 \
  -device cxl-type3,bus=root_port14,persistent-memdev=cxl-mem2,lsa=cxl-lsa2,id=cxl-pmem1,sn=0x2 \
  -device cxl-rp,port=0,bus=cxl.2,id=root_port15,chassis=0,slot=5 \
  -device cxl-type3,bus=root_port15,persistent-memdev=cxl-mem3,lsa=cxl-lsa3,id=cxl-pmem2,sn=0x3 \
  -device cxl-rp,port=1,bus=cxl.2,id=root_port16,chassis=0,slot=6 \
  -device cxl-type3,bus=root_port16,persistent-memdev=cxl-mem4,lsa=cxl-lsa4,id=cxl-pmem3,sn=0x4 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.targets.1=cxl.2,cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity=8k
"""

DOC_SWITCH = r"""
  qemu-system-x86_64 -M q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 4 \
  ...
  -object memory-backend-file,id=cxl-mem0,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest1.raw,size=256M \
  -object memory-backend-file,id=cxl-mem2,share=on,mem-path=/tmp/cxltest2.raw,size=256M \
  -object memory-backend-file,id=cxl-mem3,share=on,mem-path=/tmp/cxltest3.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa0,share=on,mem-path=/tmp/lsa0.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa1.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa2,share=on,mem-path=/tmp/lsa2.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa3,share=on,mem-path=/tmp/lsa3.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port0,chassis=0,slot=0 \
  -device cxl-rp,port=1,bus=cxl.1,id=root_port1,chassis=0,slot=1 \
  -device cxl-upstream,bus=root_port0,id=us0 \
  -device cxl-downstream,port=0,bus=us0,id=swport0,chassis=0,slot=4 \
  -device cxl-type3,bus=swport0,persistent-memdev=cxl-mem0,lsa=cxl-lsa0,id=cxl-pmem0,sn=0x1 \
  -device cxl-downstream,port=1,bus=us0,id=swport1,chassis=0,slot=5 \
  -device cxl-type3,bus=swport1,persistent-memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem1,sn=0x2 \
  -device cxl-downstream,port=2,bus=us0,id=swport2,chassis=0,slot=6 \
  -device cxl-type3,bus=swport2,persistent-memdev=cxl-mem2,lsa=cxl-lsa2,id=cxl-pmem2,sn=0x3 \
  -device cxl-downstream,port=3,bus=us0,id=swport3,chassis=0,slot=7 \
  -device cxl-type3,bus=swport3,persistent-memdev=cxl-mem3,lsa=cxl-lsa3,id=cxl-pmem3,sn=0x4 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity=4k
"""

DOC_SWITCH_HDM_DB = r"""
  qemu-system-x86_64 -M q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 4 \
  ...
  -object memory-backend-ram,id=cxl-mem0,share=on,size=256M \
  -object memory-backend-ram,id=cxl-mem1,share=on,size=256M \
  -object memory-backend-ram,id=cxl-mem2,share=on,size=256M \
  -object memory-backend-ram,id=cxl-mem3,share=on,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port0,chassis=0,slot=0 \
  -device cxl-rp,port=1,bus=cxl.1,id=root_port1,chassis=0,slot=1 \
  -device cxl-upstream,bus=root_port0,id=us0,x-256b-flit=on \
  -device cxl-downstream,port=0,bus=us0,id=swport0,chassis=0,slot=4 \
  -device cxl-type3,bus=swport0,volatile-memdev=cxl-mem0,id=cxl-mem0,sn=0x1,x-256b-flit=on,hdm-db=on \
  -device cxl-downstream,port=1,bus=us0,id=swport1,chassis=0,slot=5 \
  -device cxl-type3,bus=swport1,volatile-memdev=cxl-mem1,id=cxl-mem1,sn=0x2,x-256b-flit=on,hdm-db=on \
  -device cxl-downstream,port=2,bus=us0,id=swport2,chassis=0,slot=6 \
  -device cxl-type3,bus=swport2,volatile-memdev=cxl-mem2,id=cxl-mem2,sn=0x3 \
  -device cxl-downstream,port=3,bus=us0,id=swport3,chassis=0,slot=7 \
  -device cxl-type3,bus=swport3,volatile-memdev=cxl-mem3,id=cxl-mem3,sn=0x4 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity=4k
"""

DOC_ARM_VMEM = r"""
  qemu-system-aarch64 -M virt,gic-version=3,cxl=on -m 4g,maxmem=8g,slots=4 -cpu max -smp 4 \
  ...
  -object memory-backend-ram,id=vmem0,share=on,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,volatile-memdev=vmem0,id=cxl-vmem0 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G
"""

# QEMU 7.1/7.2: aarch64 examples, legacy memdev= (persistent).
DOC_71_PMEM = r"""
  qemu-system-aarch64 -M virt,gic-version=3,cxl=on -m 4g,maxmem=8G,slots=8 -cpu max \
  ...
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G
"""

DOC_71_INTERLEAVE = r"""
  qemu-system-aarch64 -M virt,gic-version=3,cxl=on -m 4g,maxmem=8G,slots=8 -cpu max \
  ...
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-mem2,share=on,mem-path=/tmp/cxltest2.raw,size=256M \
  -object memory-backend-file,id=cxl-mem3,share=on,mem-path=/tmp/cxltest3.raw,size=256M \
  -object memory-backend-file,id=cxl-mem4,share=on,mem-path=/tmp/cxltest4.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa2,share=on,mem-path=/tmp/lsa2.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa3,share=on,mem-path=/tmp/lsa3.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa4,share=on,mem-path=/tmp/lsa4.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device pxb-cxl,bus_nr=222,bus=pcie.0,id=cxl.2 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0 \
  -device cxl-rp,port=1,bus=cxl.1,id=root_port14,chassis=0,slot=3 \
  -device cxl-type3,bus=root_port14,memdev=cxl-mem2,lsa=cxl-lsa2,id=cxl-pmem1 \
  -device cxl-rp,port=0,bus=cxl.2,id=root_port15,chassis=0,slot=5 \
  -device cxl-type3,bus=root_port15,memdev=cxl-mem3,lsa=cxl-lsa3,id=cxl-pmem2 \
  -device cxl-rp,port=1,bus=cxl.2,id=root_port16,chassis=0,slot=6 \
  -device cxl-type3,bus=root_port16,memdev=cxl-mem4,lsa=cxl-lsa4,id=cxl-pmem3 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.targets.1=cxl.2,cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity=8k
"""

DOC_71_SWITCH = r"""
  qemu-system-aarch64 -M virt,gic-version=3,cxl=on -m 4g,maxmem=8G,slots=8 -cpu max \
  ...
  -object memory-backend-file,id=cxl-mem0,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest1.raw,size=256M \
  -object memory-backend-file,id=cxl-mem2,share=on,mem-path=/tmp/cxltest2.raw,size=256M \
  -object memory-backend-file,id=cxl-mem3,share=on,mem-path=/tmp/cxltest3.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa0,share=on,mem-path=/tmp/lsa0.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa1.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa2,share=on,mem-path=/tmp/lsa2.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa3,share=on,mem-path=/tmp/lsa3.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port0,chassis=0,slot=0 \
  -device cxl-rp,port=1,bus=cxl.1,id=root_port1,chassis=0,slot=1 \
  -device cxl-upstream,bus=root_port0,id=us0 \
  -device cxl-downstream,port=0,bus=us0,id=swport0,chassis=0,slot=4 \
  -device cxl-type3,bus=swport0,memdev=cxl-mem0,lsa=cxl-lsa0,id=cxl-pmem0,size=256M \
  -device cxl-downstream,port=1,bus=us0,id=swport1,chassis=0,slot=5 \
  -device cxl-type3,bus=swport1,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem1,size=256M \
  -device cxl-downstream,port=2,bus=us0,id=swport2,chassis=0,slot=6 \
  -device cxl-type3,bus=swport2,memdev=cxl-mem2,lsa=cxl-lsa2,id=cxl-pmem2,size=256M \
  -device cxl-downstream,port=3,bus=us0,id=swport3,chassis=0,slot=7 \
  -device cxl-type3,bus=swport3,memdev=cxl-mem3,lsa=cxl-lsa3,id=cxl-pmem3,size=256M \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity=4k
"""

# QEMU 7.0: the windows were a top-level option.
DOC_70_PMEM = r"""
  qemu-system-aarch64 -M virt,gic-version=3,cxl=on -m 4g,maxmem=8G,slots=8 -cpu max \
  ...
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0 \
  -cxl-fixed-memory-window targets.0=cxl.1,size=4G
"""

DOC_70_INTERLEAVE = r"""
  qemu-system-aarch64 -M virt,gic-version=3,cxl=on -m 4g,maxmem=8G,slots=8 -cpu max \
  ...
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-mem2,share=on,mem-path=/tmp/cxltest2.raw,size=256M \
  -object memory-backend-file,id=cxl-mem3,share=on,mem-path=/tmp/cxltest3.raw,size=256M \
  -object memory-backend-file,id=cxl-mem4,share=on,mem-path=/tmp/cxltest4.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa2,share=on,mem-path=/tmp/lsa2.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa3,share=on,mem-path=/tmp/lsa3.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa4,share=on,mem-path=/tmp/lsa4.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device pxb-cxl,bus_nr=222,bus=pcie.0,id=cxl.2 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0 \
  -device cxl-rp,port=1,bus=cxl.1,id=root_port14,chassis=0,slot=3 \
  -device cxl-type3,bus=root_port14,memdev=cxl-mem2,lsa=cxl-lsa2,id=cxl-pmem1 \
  -device cxl-rp,port=0,bus=cxl.2,id=root_port15,chassis=0,slot=5 \
  -device cxl-type3,bus=root_port15,memdev=cxl-mem3,lsa=cxl-lsa3,id=cxl-pmem2 \
  -device cxl-rp,port=1,bus=cxl.2,id=root_port16,chassis=0,slot=6 \
  -device cxl-type3,bus=root_port16,memdev=cxl-mem4,lsa=cxl-lsa4,id=cxl-pmem3 \
  -cxl-fixed-memory-window targets.0=cxl.1,targets.1=cxl.2,size=4G,interleave-granularity=8k
"""

# The switch example as first added to the document (before the windows became -M options).
DOC_70_SWITCH = r"""
  qemu-system-aarch64 -M virt,gic-version=3,cxl=on -m 4g,maxmem=8G,slots=8 -cpu max \
  ...
  -object memory-backend-file,id=cxl-mem0,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest1.raw,size=256M \
  -object memory-backend-file,id=cxl-mem2,share=on,mem-path=/tmp/cxltest2.raw,size=256M \
  -object memory-backend-file,id=cxl-mem3,share=on,mem-path=/tmp/cxltest3.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa0,share=on,mem-path=/tmp/lsa0.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa1.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa2,share=on,mem-path=/tmp/lsa2.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa3,share=on,mem-path=/tmp/lsa3.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port0,chassis=0,slot=0 \
  -device cxl-rp,port=1,bus=cxl.1,id=root_port1,chassis=0,slot=1 \
  -device cxl-upstream,bus=root_port0,id=us0 \
  -device cxl-downstream,port=0,bus=us0,id=swport0,chassis=0,slot=4 \
  -device cxl-type3,bus=swport0,memdev=cxl-mem0,lsa=cxl-lsa0,id=cxl-pmem0,size=256M \
  -device cxl-downstream,port=1,bus=us0,id=swport1,chassis=0,slot=5 \
  -device cxl-type3,bus=swport1,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem1,size=256M \
  -device cxl-downstream,port=2,bus=us0,id=swport2,chassis=0,slot=6 \
  -device cxl-type3,bus=swport2,memdev=cxl-mem2,lsa=cxl-lsa2,id=cxl-pmem2,size=256M \
  -device cxl-downstream,port=3,bus=us0,id=swport3,chassis=0,slot=7 \
  -device cxl-type3,bus=swport3,memdev=cxl-mem3,lsa=cxl-lsa3,id=cxl-pmem3,size=256M \
  -cxl-fixed-memory-window targets.0=cxl.1,size=4G,interleave-granularity=4k
"""

# A revision of the x86 examples: -machine with type=, accel= and nvdimm=, and -enable-kvm.
DOC_X86_KVM = r"""
  qemu-system-x86_64 -m 4G,slots=8,maxmem=8G -smp 4 -machine type=q35,accel=kvm,nvdimm=on,cxl=on -enable-kvm \
  ...
  -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M \
  -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M \
  -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
  -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2 \
  -device cxl-type3,bus=root_port13,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0 \
  -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G
"""

# (label, ram MiB, pmem MiB, lsa MiB, serial) per device, in Platform.devices() order.
Dev = tuple[str, int, int, int, int | None]
PMEM4: list[Dev] = [(f"cxl-pmem{i}", 0, 256, 256, None) for i in (2, 3, 0, 1)]
PMEM4_SN: list[Dev] = [(f"cxl-pmem{i}", 0, 256, 256, i + 1) for i in (2, 3, 0, 1)]
SWITCH4: list[Dev] = [(f"cxl-pmem{i}", 0, 256, 256, None) for i in range(4)]
SWITCH4_SN: list[Dev] = [(f"cxl-pmem{i}", 0, 256, 256, i + 1) for i in range(4)]

# name: (command line, host bridge uids, devices, [(targets, granularity)], window base)
DOC_EXAMPLES: dict[str, tuple[str, list[int], list[Dev], list[tuple[list[int], int]], int]] = {
    "pmem": (DOC_PMEM, [12], [("cxl-pmem0", 0, 256, 256, 1)], [([12], 256)], 0x4_9000_0000),
    "vmem": (DOC_VMEM, [12], [("cxl-vmem0", 256, 0, 0, None)], [([12], 256)], 0x4_9000_0000),
    "vmem-lsa": (
        DOC_VMEM_LSA,
        [12],
        [("cxl-vmem0", 256, 0, 256, None)],
        [([12], 256)],
        0x4_9000_0000,
    ),
    "interleave": (DOC_INTERLEAVE, [222, 12], PMEM4_SN, [([12, 222], 8192)], 0x4_9000_0000),
    "switch": (DOC_SWITCH, [12], SWITCH4_SN, [([12], 4096)], 0x4_9000_0000),
    "switch-hdm-db": (
        DOC_SWITCH_HDM_DB,
        [12],
        [(f"cxl-mem{i}", 256, 0, 0, i + 1) for i in range(4)],
        [([12], 4096)],
        0x4_9000_0000,
    ),
    # 4 GiB RAM, maxmem 8 GiB, 4 slots: device memory 0x180000000-0x380000000.
    "arm-vmem": (
        DOC_ARM_VMEM,
        [12],
        [("cxl-vmem0", 256, 0, 0, None)],
        [([12], 256)],
        0x3_9000_0000,
    ),
    "7.1-pmem": (
        DOC_71_PMEM,
        [12],
        [("cxl-pmem0", 0, 256, 256, None)],
        [([12], 256)],
        0x4_9000_0000,
    ),
    "7.1-interleave": (DOC_71_INTERLEAVE, [222, 12], PMEM4, [([12, 222], 8192)], 0x4_9000_0000),
    "7.1-switch": (DOC_71_SWITCH, [12], SWITCH4, [([12], 4096)], 0x4_9000_0000),
    "7.0-pmem": (
        DOC_70_PMEM,
        [12],
        [("cxl-pmem0", 0, 256, 256, None)],
        [([12], 256)],
        0x4_9000_0000,
    ),
    "7.0-interleave": (DOC_70_INTERLEAVE, [222, 12], PMEM4, [([12, 222], 8192)], 0x4_9000_0000),
    "7.0-switch": (DOC_70_SWITCH, [12], SWITCH4, [([12], 4096)], 0x4_9000_0000),
    "x86-kvm": (
        DOC_X86_KVM,
        [12],
        [("cxl-pmem0", 0, 256, 256, None)],
        [([12], 256)],
        0x4_9000_0000,
    ),
}


@pytest.mark.parametrize("example", DOC_EXAMPLES)
def test_doc_examples(example: str) -> None:
    cmdline, uids, devices, windows, base = DOC_EXAMPLES[example]
    platform = parse_qemu(cmdline, name=example)
    assert platform.name == example
    assert platform.style == "acpi"
    assert [hb.uid for hb in platform.host_bridges] == uids
    assert [hb.bus_nr for hb in platform.host_bridges] == uids
    got = [
        (d.label, d.ram_size // MiB, d.pmem_size // MiB, d.lsa_size // MiB, d.serial)
        for d in platform.devices()
    ]
    assert got == devices
    assert [(w.targets, w.granularity) for w in platform.windows] == windows
    assert platform.window_pool == base
    assert platform.windows[0].base == base
    for win in platform.windows:
        assert win.size == 4 * GiB
        assert (win.ram, win.pmem, win.type2, win.type3) == (True, True, True, True)
        assert (win.qos_class, win.xor, win.locked) == (0, False, False)
    for dev in platform.devices():
        assert dev.firmware_version == "BWFW VERSION 00"
        assert dev.payload_max == 2048
        assert dev.decoders == 4
        assert dev.qos_class == 0
        assert dev.numa_node == -1
        assert not dev.rcd
        assert dev.path.startswith("devices/pci0000:")


def test_doc_switch_topology() -> None:
    platform = parse_qemu(DOC_SWITCH)
    (hb,) = platform.host_bridges
    assert [rp.label for rp in hb.root_ports] == ["root_port0", "root_port1"]
    assert [rp.port for rp in hb.root_ports] == [0, 1]
    sw = hb.root_ports[0].switch
    assert sw is not None and hb.root_ports[1].switch is None
    assert hb.root_ports[0].device is None and hb.root_ports[1].device is None
    assert sw.label == "us0"
    assert [sp.label for sp in sw.ports] == [f"swport{i}" for i in range(4)]
    assert [sp.port for sp in sw.ports] == [0, 1, 2, 3]


# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(QEMU_PRESETS))
def test_qemu_presets(preset: str) -> None:
    cmdline, description = QEMU_PRESETS[preset]
    platform = parse_qemu(cmdline, name=preset)
    assert platform.name == preset
    assert platform.window_pool == 0x4_9000_0000
    loaded = load_preset(preset)
    assert loaded.description == description
    assert [hb.path for hb in loaded.host_bridges] == [hb.path for hb in platform.host_bridges]
    assert [d.path for d in loaded.devices()] == [d.path for d in platform.devices()]
    serials = sorted(d.serial or 0 for d in platform.devices())
    assert serials == list(range(1, len(serials) + 1))


def test_preset_mixed_windows() -> None:
    platform = parse_qemu(QEMU_PRESETS["qemu-mixed"][0])
    assert [(w.targets, w.granularity, w.base) for w in platform.windows] == [
        ([12, 222], 8192, 0x4_9000_0000),
        ([12], 256, 0x5_9000_0000),
        ([222], 256, 0x6_9000_0000),
    ]
    assert {(d.ram_size, d.pmem_size, d.lsa_size) for d in platform.devices()} == {
        (512 * MiB, 512 * MiB, 256 * MiB)
    }


# --------------------------------------------------------------------------------------------
# Device paths (what the guest's PCI enumeration names)
# --------------------------------------------------------------------------------------------


def _paths(platform: Platform) -> dict[str, str]:
    found: dict[str, str] = {}
    for hb in platform.host_bridges:
        found[hb.label] = hb.path
        for rp in hb.root_ports:
            found[rp.label] = rp.path
            if rp.device is not None:
                found[rp.device.label] = rp.device.path
            if rp.switch is not None:
                found[rp.switch.label] = rp.switch.path
                for sp in rp.switch.ports:
                    found[sp.label] = sp.path
                    if sp.device is not None:
                        found[sp.device.label] = sp.device.path
    return found


def test_two_host_bridge_paths() -> None:
    platform = parse_qemu(DOC_INTERLEAVE)
    # ACPI enumerates the pxb-cxl devices in reverse command-line order.
    assert [hb.uid for hb in platform.host_bridges] == [222, 12]
    assert [hb.acpi_path.rsplit("/", 1)[1] for hb in platform.host_bridges] == [
        "ACPI0016:00",
        "ACPI0016:01",
    ]
    paths = _paths(platform)
    assert paths["cxl.1"] == "devices/pci0000:0c"
    assert paths["cxl.2"] == "devices/pci0000:de"
    assert paths["root_port13"] == "devices/pci0000:0c/0000:0c:00.0"
    assert paths["root_port14"] == "devices/pci0000:0c/0000:0c:01.0"
    assert paths["cxl-pmem0"] == "devices/pci0000:0c/0000:0c:00.0/0000:0d:00.0"
    assert paths["cxl-pmem1"] == "devices/pci0000:0c/0000:0c:01.0/0000:0e:00.0"
    assert paths["root_port15"] == "devices/pci0000:de/0000:de:00.0"
    assert paths["root_port16"] == "devices/pci0000:de/0000:de:01.0"
    assert paths["cxl-pmem2"] == "devices/pci0000:de/0000:de:00.0/0000:df:00.0"
    assert paths["cxl-pmem3"] == "devices/pci0000:de/0000:de:01.0/0000:e0:00.0"
    # Root ports keep command-line order and their port numbers.
    hb12 = platform.host_bridges[1]
    assert [(rp.label, rp.port) for rp in hb12.root_ports] == [
        ("root_port13", 0),
        ("root_port14", 1),
    ]


def test_switch_paths() -> None:
    paths = _paths(parse_qemu(DOC_SWITCH))
    usp = "devices/pci0000:0c/0000:0c:00.0/0000:0d:00.0"
    assert paths["root_port0"] == "devices/pci0000:0c/0000:0c:00.0"
    assert paths["root_port1"] == "devices/pci0000:0c/0000:0c:01.0"
    assert paths["us0"] == usp
    for i in range(4):
        assert paths[f"swport{i}"] == f"{usp}/0000:0e:0{i}.0"
        assert paths[f"cxl-pmem{i}"] == f"{usp}/0000:0e:0{i}.0/0000:{0x0F + i:02x}:00.0"


def test_hdm_decoder_capabilities() -> None:
    platform = parse_qemu(DOC_SWITCH)
    (hb,) = platform.host_bridges
    assert (hb.decoders, hb.targets) == (4, 8)
    assert (QEMU_HDM_DECODERS, QEMU_HOST_BRIDGE_TARGETS, QEMU_SWITCH_TARGETS) == (4, 8, 8)
    sw = hb.root_ports[0].switch
    assert sw is not None
    assert (sw.decoders, sw.targets) == (4, 8)
    assert not hb.rch and hb.rcd is None and hb.segment == 0


# --------------------------------------------------------------------------------------------
# Machine memory map: where the windows start
# --------------------------------------------------------------------------------------------

ONE_DEVICE = """
 -object memory-backend-ram,id=vmem0,size=256M
 -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1
 -device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2
 -device cxl-type3,bus=rp0,volatile-memdev=vmem0,id=mem0
 -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G
"""


def one_device(
    machine: str = "-machine q35,cxl=on -m 4G,maxmem=8G,slots=8", extra: str = ""
) -> str:
    return f"qemu-system-x86_64 {machine} {ONE_DEVICE} {extra}"


@pytest.mark.parametrize(
    ("memory", "ram", "base"),
    [
        ("-m 4G,maxmem=8G,slots=8", 4 * GiB, 0x4_9000_0000),
        ("-m size=4G,slots=8,maxmem=8G", 4 * GiB, 0x4_9000_0000),
        ("-m 4G -m maxmem=8G,slots=8", 4 * GiB, 0x4_9000_0000),
        ("-m 4G", 4 * GiB, 0x1_9000_0000),  # RAM 2G below 4G + 2G above: ends at 6G
        ("-m 4G,maxmem=4G,slots=8", 4 * GiB, 0x1_9000_0000),  # no hotplug memory
        ("", 128 * MiB, 0x1_1000_0000),  # default 128 MiB, all below 4G
        ("-m 2G", 2 * GiB, 0x1_1000_0000),
        ("-m 2815M", 2815 * MiB, 0x1_1000_0000),  # still below the 0xb0000000 limit
        ("-m 2816M", 2816 * MiB, 0x1_5000_0000),  # 0xb0000000: only 2G stay low, end 0x130000000
        ("-m 3G", 3 * GiB, 0x1_5000_0000),
        ("-m 8192", 8 * GiB, 0x2_9000_0000),  # suffix-less -m is MiB
        ("-m 1G,maxmem=2G,slots=1", GiB, 0x1_9000_0000),  # device memory 4G..6G
        # 14G above 4G, then 24G of device memory: the 0xa90000000 of kernel-sysfs.md 1.6
        ("-m 16G,maxmem=32G,slots=8", 16 * GiB, 0xA_9000_0000),
    ],
)
def test_window_base(memory: str, ram: int, base: int) -> None:
    platform = parse_qemu(one_device(f"-machine q35,cxl=on {memory}"))
    assert platform.window_pool == base
    assert platform.system_ram == ram
    assert platform.windows[0].base == base


def test_windows_are_placed_consecutively() -> None:
    cmdline = one_device(
        extra="-M cxl-fmw.1.targets.0=cxl.1,cxl-fmw.1.size=1G "
        "-M cxl-fmw.2.targets.0=cxl.1,cxl-fmw.2.size=512M"
    )
    platform = parse_qemu(cmdline)
    assert [(w.base, w.size) for w in platform.windows] == [
        (0x4_9000_0000, 4 * GiB),
        (0x5_9000_0000, GiB),
        (0x5_D000_0000, 512 * MiB),
    ]


# --------------------------------------------------------------------------------------------
# Option values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        ("256", 256),
        ("512", 512),
        ("1k", 1024),
        ("2K", 2048),
        ("4096", 4096),
        ("8k", 8192),
        ("16k", 16384),
        ("0x400", 1024),
    ],
)
def test_granularity(granularity: str, expected: int) -> None:
    cmdline = one_device().replace(
        "cxl-fmw.0.size=4G", f"cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity={granularity}"
    )
    assert parse_qemu(cmdline).windows[0].granularity == expected


def test_granularity_default() -> None:
    assert parse_qemu(one_device()).windows[0].granularity == 256


@pytest.mark.parametrize("granularity", ["3k", "32k", "128", "8x", ""])
def test_bad_granularity(granularity: str) -> None:
    cmdline = one_device().replace(
        "cxl-fmw.0.size=4G", f"cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity={granularity}"
    )
    with pytest.raises(PlatformError, match=r"^(window 0|cxl-fmw\.0): .*granularity"):
        parse_qemu(cmdline)


@pytest.mark.parametrize(
    ("sn", "expected"),
    [
        ("0x1", 1),
        ("0X1f", 31),
        ("16", 16),
        ("0", 0),
        ("010", 8),  # QEMU reads integers with base 0: a leading 0 is octal
        ("0xffffffffffffffff", (1 << 64) - 1),
        ("18446744073709551615", (1 << 64) - 1),
    ],
)
def test_serial_numbers(sn: str, expected: int) -> None:
    platform = parse_qemu(one_device().replace("id=mem0", f"id=mem0,sn={sn}"))
    assert platform.devices()[0].serial == expected


def test_no_serial_number() -> None:
    assert parse_qemu(one_device()).devices()[0].serial is None


@pytest.mark.parametrize("sn", ["-1", "0x", "1e3", "0x10000000000000000", "08", "abc", "+1"])
def test_bad_serial_numbers(sn: str) -> None:
    with pytest.raises(PlatformError, match=r"^cxl-type3 mem0: sn: "):
        parse_qemu(one_device().replace("id=mem0", f"id=mem0,sn={sn}"))


NUMA = r"""
qemu-system-x86_64 -machine q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 2
 -object memory-backend-ram,id=ram0,size=2G -numa node,nodeid=0,memdev=ram0
 -object memory-backend-ram,id=ram1,size=2G -numa node,nodeid=1,memdev=ram1
 -object memory-backend-ram,id=m0,size=256M -object memory-backend-ram,id=m1,size=256M
 -object memory-backend-ram,id=m2,size=256M -object memory-backend-ram,id=m3,size=256M
 -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1,numa_node=1
 -device pxb-cxl,bus_nr=52,bus=pcie.0,id=cxl.2
 -device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=1
 -device cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=2
 -device cxl-rp,port=0,bus=cxl.2,id=rp2,chassis=0,slot=3
 -device cxl-type3,bus=rp0,volatile-memdev=m0,id=mem0
 -device cxl-upstream,bus=rp1,id=us0
 -device cxl-downstream,port=3,bus=us0,id=dsp3,chassis=0,slot=4
 -device cxl-type3,bus=dsp3,volatile-memdev=m1,id=mem1
 -device cxl-downstream,port=5,bus=us0,id=dsp5,chassis=0,slot=5
 -device cxl-type3,bus=dsp5,volatile-memdev=m2,id=mem2
 -device cxl-type3,bus=rp2,volatile-memdev=m3,id=mem3
 -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.targets.1=cxl.2,cxl-fmw.0.size=8G
"""


def test_numa_node_inheritance() -> None:
    platform = parse_qemu(NUMA)
    nodes = {d.label: d.numa_node for d in platform.devices()}
    assert nodes == {"mem0": 1, "mem1": 1, "mem2": 1, "mem3": -1}
    assert [hb.uid for hb in platform.host_bridges] == [52, 12]
    switch = platform.host_bridges[1].root_ports[1].switch
    assert switch is not None
    assert [(sp.label, sp.port) for sp in switch.ports] == [("dsp3", 3), ("dsp5", 5)]


def test_numa_node_without_numa_options_is_taken_as_given() -> None:
    cmdline = one_device().replace("id=cxl.1", "id=cxl.1,numa_node=0")
    assert parse_qemu(cmdline).devices()[0].numa_node == 0


def test_numa_node_must_exist() -> None:
    with pytest.raises(PlatformError, match=r"^pxb-cxl cxl\.1: numa_node 2 does not exist"):
        parse_qemu(NUMA.replace("numa_node=1", "numa_node=2"))


def test_legacy_memdev_is_persistent() -> None:
    cmdline = one_device().replace("volatile-memdev=vmem0", "memdev=vmem0")
    dev = parse_qemu(cmdline).devices()[0]
    assert (dev.ram_size, dev.pmem_size) == (0, 256 * MiB)


def test_volatile_and_persistent_device() -> None:
    cmdline = one_device(
        extra="-object memory-backend-file,id=p0,mem-path=/tmp/p0,size=1G "
        "-object memory-backend-file,id=l0,mem-path=/tmp/l0,size=128K"
    ).replace("volatile-memdev=vmem0", "volatile-memdev=vmem0,persistent-memdev=p0,lsa=l0")
    dev = parse_qemu(cmdline).devices()[0]
    assert (dev.ram_size, dev.pmem_size, dev.lsa_size) == (256 * MiB, GiB, 128 * 1024)


# --------------------------------------------------------------------------------------------
# Tokenizing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        "qemu-system-x86_64",
        "/usr/bin/qemu-system-x86_64",
        "./build/qemu-system-aarch64",
        "qemu-kvm",
        "",
        "qemu-system-x86_64 -nographic -enable-kvm --enable-kvm -no-reboot -S -s -snapshot",
        "qemu-system-x86_64 ... -nodefaults -no-user-config -daemonize -no-shutdown ...",
        "qemu-system-x86_64 -cpu max -smp 4 -accel kvm -kernel bzImage -append 'root=/dev/vda rw'",
        "qemu-system-x86_64 -device e1000,netdev=net0 -netdev user,id=net0 -device virtio-rng-pci",
        "qemu-system-x86_64 -drive file=img.qcow2,if=none,id=d0 -device virtio-blk-pci,drive=d0",
        "qemu-system-x86_64 -object secret,id=sec0,data=x -global cxl-type3.sn=7",
    ],
)
def test_other_options_are_skipped(prefix: str) -> None:
    cmdline = f"{prefix} -machine q35,cxl=on -m 4G,maxmem=8G,slots=8 {ONE_DEVICE}"
    assert parse_qemu(cmdline).window_pool == 0x4_9000_0000


def test_crlf_continuations_and_quotes() -> None:
    cmdline = (
        "qemu-system-x86_64 -machine q35,cxl=on \\\r\n"
        " -object 'memory-backend-file,id=vmem0,mem-path=/tmp/a,,b,size=256M' \\\n"
        ' -device "pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1" \\\n'
        " -device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2 \\\n"
        " ... \\\n"
        " -device cxl-type3,bus=rp0,volatile-memdev=vmem0,id=mem0 \\\n"
        " -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G\n"
    )
    assert parse_qemu(cmdline).devices()[0].ram_size == 256 * MiB


def test_json_device_and_object() -> None:
    cmdline = (
        one_device()
        .replace(
            "-object memory-backend-ram,id=vmem0,size=256M",
            """-object '{"qom-type": "memory-backend-ram", "id": "vmem0", "size": 268435456}'""",
        )
        .replace(
            "-device cxl-type3,bus=rp0,volatile-memdev=vmem0,id=mem0",
            """-device '{"driver": "cxl-type3", "bus": "rp0", "volatile-memdev": "vmem0",
        "id": "mem0", "sn": 5, "x-256b-flit": true}'""",
        )
    )
    dev = parse_qemu(cmdline).devices()[0]
    assert (dev.ram_size, dev.serial) == (256 * MiB, 5)


def test_pci_addresses_and_slots() -> None:
    cmdline = one_device(
        extra="-device cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=1,slot=2,addr=0x3,hotplug=off "
        "-device cxl-rp,port=2,bus=cxl.1,id=rp2,chassis=0,slot=3,addr=1f.0,multifunction=on"
    )
    hb = parse_qemu(cmdline).host_bridges[0]
    assert [rp.label for rp in hb.root_ports] == ["rp0", "rp1", "rp2"]


def test_numa_options_are_only_counted() -> None:
    cmdline = NUMA.replace("nodeid=0,memdev=ram0", "nodeid=0,memdev=ram0,cpus=0,cpus=1")
    cmdline += " -numa dist,src=0,dst=1,val=20 -numa type=node -numa cpu,node-id=0,socket-id=0"
    nodes = {
        d.label: d.numa_node
        for d in parse_qemu(cmdline.replace("numa_node=1", "numa_node=2")).devices()
    }
    assert nodes["mem0"] == 2


def test_machine_options_merge() -> None:
    cmdline = one_device("-M q35 -m 4G,maxmem=8G,slots=8 -machine hmat=on,cxl=on")
    assert parse_qemu(cmdline).host_bridges[0].uid == 12


# --------------------------------------------------------------------------------------------
# Errors: one line naming the culprit
# --------------------------------------------------------------------------------------------

BAD: list[tuple[str, str, str]] = [
    # (mutation of one_device(): old -> new, expected message fragment)
    ("id=mem0", "id=mem0,foo=1", "-device cxl-type3,...: unknown option 'foo'"),
    ("bus=rp0,", "bus=nope,", "cxl-type3 mem0: bus 'nope' is not a cxl-rp or cxl-downstream port"),
    (
        "bus=rp0,",
        "bus=cxl.1,",
        "cxl-type3 mem0: bus 'cxl.1' is not a cxl-rp or cxl-downstream port",
    ),
    ("bus=rp0,", "", "cxl-type3 mem0: bus= is required"),
    (
        "cxl-fmw.0.targets.0=cxl.1",
        "cxl-fmw.0.targets.0=cxl.9",
        "cxl-fmw.0: target 'cxl.9' is not a pxb-cxl device",
    ),
    (
        "cxl-fmw.0.targets.0=cxl.1",
        "cxl-fmw.0.targets.0=rp0",
        "cxl-fmw.0: target 'rp0' is not a pxb-cxl device",
    ),
    (
        "volatile-memdev=vmem0",
        "volatile-memdev=x",
        "cxl-type3 mem0: memdev 'x' is not a memory backend (volatile-memdev=x)",
    ),
    ("volatile-memdev=vmem0", "memdev=x", "cxl-type3 mem0: memdev 'x' is not a memory backend"),
    (
        "volatile-memdev=vmem0",
        "volatile-memdev=vmem0,lsa=x",
        "cxl-type3 mem0: lsa 'x' is not a memory backend (lsa=x)",
    ),
    ("volatile-memdev=vmem0,", "", "cxl-type3 mem0: needs volatile-memdev, persistent-memdev"),
    (
        "volatile-memdev=vmem0",
        "memdev=vmem0,persistent-memdev=vmem0",
        "memdev and persistent-memdev cannot be used together",
    ),
    (
        "volatile-memdev=vmem0",
        "volatile-memdev=vmem0,lsa=vmem0",
        "cxl-type3 mem0: memory backend 'vmem0' is already used by cxl-type3 mem0",
    ),
    ("q35,cxl=on", "q35", "pxb-cxl requires -machine cxl=on"),
    ("q35,cxl=on", "q35,cxl=off", "pxb-cxl requires -machine cxl=on"),
    ("q35,cxl=on", "q35,cxl=maybe", "-machine cxl: expected on or off, got 'maybe'"),
    ("q35,cxl=on", "pc,cxl=on", "-machine pc: this machine type has no CXL"),
    ("id=rp0,", "id=cxl.1,", "duplicate id 'cxl.1'"),
    ("id=mem0", "id=9mem", "id '9mem' is not an identifier"),
    (
        "size=256M",
        "size=100M",
        "device mem0: volatile capacity 0x6400000 is not a multiple of 256M",
    ),
    ("size=256M", "size=lots", "-object memory-backend-ram,id=vmem0,...: size: not a size"),
    ("size=256M", "size=0", "-object memory-backend-ram,id=vmem0,...: size must not be 0"),
    ("size=256M", "sise=256M", "-object memory-backend-ram,id=vmem0,...: unknown option 'sise'"),
    (",size=256M", "", "cxl-type3 mem0: memory backend 'vmem0' has no size="),
    ("size=256M", "size=256M,share=sometimes", "share: expected on or off"),
    ("cxl-fmw.0.size=4G", "cxl-fmw.0.size=4097M", "window 0: size 0x100100000 is not a positive"),
    ("cxl-fmw.0.size=4G", "cxl-fmw.0.size=4G,cxl-fmw.0.foo=1", "cxl-fmw.0.foo: unknown window"),
    ("cxl-fmw.0.size=4G", "cxl-fmw.0.size=4G -M cxl-fmw.0.size=8G", "cxl-fmw.0.size: given twice"),
    ("cxl-fmw.0.size=4G", "cxl-fmw.0.size=4G,cxl-fmw.0.size=8G", "'cxl-fmw.0.size' given twice"),
    ("cxl-fmw.0.size=4G", "cxl-fmw.0.sizes.x=4G", "cxl-fmw.0.sizes.x: unknown window option"),
    ("cxl-fmw.0.size=4G", "cxl-fmw.x.size=4G", "cxl-fmw.x.size: malformed window option"),
    (",cxl-fmw.0.size=4G", "", "cxl-fmw.0: cxl-fmw.0.size is required"),
    (
        "cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",
        "cxl-fmw.1.targets.0=cxl.1,cxl-fmw.1.size=4G",
        "cxl-fmw.1: windows must be numbered from 0 without gaps (cxl-fmw.0 is missing)",
    ),
    ("targets.0=cxl.1", "targets.1=cxl.1", "cxl-fmw.0: targets must be numbered from 0"),
    ("cxl-fmw.0.targets.0=cxl.1,", "", "cxl-fmw.0: has no targets"),
    (
        "id=mem0",
        "id=mem0,num-dc-regions=2",
        "cxl-type3 mem0: dynamic capacity (num-dc-regions) is not modeled",
    ),
    (
        "id=mem0",
        "id=mem0,volatile-dc-memdev=vmem0",
        "cxl-type3 mem0: dynamic capacity (volatile-dc-memdev) is not modeled",
    ),
    ("id=mem0", "id=mem0,hdm-db=on", "cxl-type3 mem0: hdm-db=on requires x-256b-flit=on"),
    ("id=mem0", "id=mem0,hdm-db=yes,x-256b-flit=nah", "x-256b-flit: expected on or off"),
    ("bus_nr=12", "bus_nr=300", "pxb-cxl cxl.1: bus_nr: 300 is out of range"),
    ("bus_nr=12", "bus_nr=0", "pxb-cxl cxl.1: bus_nr 0 is the number of the main root bus"),
    ("bus_nr=12,", "", "pxb-cxl cxl.1: bus_nr= is required"),
    ("bus=pcie.0,", "bus=pcie.1,", "pxb-cxl cxl.1: bus 'pcie.1' is not the main PCIe root bus"),
    ("port=0,", "port=256,", "cxl-rp rp0: port: 256 is out of range"),
    ("port=0,", "port=zero,", "cxl-rp rp0: port: not a number: 'zero'"),
    ("bus=cxl.1,id=rp0", "bus=nope,id=rp0", "cxl-rp rp0: bus 'nope' is not a pxb-cxl host bridge"),
    ("slot=2", "slot=2,addr=0x20", "cxl-rp rp0: addr '0x20' is not a PCI slot"),
    ("slot=2", "slot=2,addr=1.8", "cxl-rp rp0: addr '1.8' is not a PCI slot"),
    ("chassis=0,slot=2", "chassis=256,slot=2", "cxl-rp rp0: chassis: 256 is out of range"),
    ("slot=2", "slot=two", "cxl-rp rp0: slot: not a number: 'two'"),
    ("4G,maxmem=8G", "8G,maxmem=4G", "-m: maxmem 0x100000000 is smaller than the RAM size"),
    ("slots=8", "slots=8,hotplug=on", "-m: unknown option 'hotplug'"),
    ("slots=8", "slots=1000", "-m: slots: 1000 is out of range"),
    ("-m 4G", "-m lots", "-m: size: not a size"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_errors(old: str, new: str, message: str) -> None:
    cmdline = one_device()
    assert old in cmdline
    with pytest.raises(PlatformError) as info:
        parse_qemu(cmdline.replace(old, new, 1))
    text = str(info.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("cmdline", "message"),
    [
        (one_device() + " -m", "-m: missing argument"),
        (one_device() + " -device", "-device: missing argument"),
        (
            one_device() + " disk.img",
            "expected an option after -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw...., got 'disk.img'",
        ),
        (one_device() + " -nographic -", "expected an option after -nographic, got '-'"),
        (one_device() + " -append 'root=/dev/vda", "malformed QEMU command line"),
        ("qemu-system-x86_64 -machine q35 -m 1G", "does not enable CXL"),
        ("qemu-system-x86_64 -machine q35,cxl=on -m 1G", "no host bridges"),
        (
            "qemu-system-x86_64 -machine q35 -M cxl-fmw.0.targets.0=x,cxl-fmw.0.size=4G",
            "cxl-fmw.0 requires -machine cxl=on",
        ),
        (
            "-machine q35,cxl=on -device pxb-cxl,bus_nr=12,id=cxl.1",
            "no CXL fixed memory window",
        ),
        (one_device() + " -device pxb-cxl,bus_nr=12,id=cxl.3", "duplicate host bridge uid 12"),
        (one_device() + " -device pxb-cxl,bus_nr=13,id=cxl.3", "overlapping"),
        (one_device() + " -object memory-backend-ram,id=vmem0,size=1G", "duplicate object id"),
        (one_device() + " -object memory-backend-ram,size=1G", "id is required"),
        (one_device() + " -device ,id=x", "-device ,id=x: empty option in the list"),
        (
            one_device() + " -device cxl-type3,bus=rp0,volatile-memdev=v9,id=mem9",
            "cxl-type3 mem9: port 'rp0' already holds mem0",
        ),
        (
            one_device() + " -device cxl-upstream,bus=rp0,id=us0",
            "cxl-upstream us0: port 'rp0' already holds mem0",
        ),
        (
            one_device() + " -device cxl-downstream,port=0,bus=rp0,id=d0,chassis=0,slot=9",
            "cxl-downstream d0: bus 'rp0' is not a cxl-upstream switch port",
        ),
        (
            one_device() + " -device cxl-rp,port=0,bus=cxl.1,id=rp1,chassis=0,slot=3",
            "duplicate root port number 0",
        ),
        (
            one_device() + " -device cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=2",
            "cxl-rp rp1: chassis 0 slot 2 is already taken by cxl-rp rp0",
        ),
        (
            one_device() + " -device cxl-rp,port=1,bus=cxl.1,id=rp1"
            " -device cxl-rp,port=2,bus=cxl.1,id=rp2",
            "cxl-rp rp2: chassis 0 slot 0 is already taken by cxl-rp rp1",
        ),
        (
            one_device() + " -cxl-fixed-memory-window targets.0=cxl.1,size=1G,ways=2",
            "-cxl-fixed-memory-window ways: unknown window option 'ways'",
        ),
        (
            one_device() + " -cxl-fixed-memory-window cxl.1,size=1G",
            "expected key=value, got 'cxl.1'",
        ),
        (
            "-machine q35,cxl=on -device cxl-type3,bus=rp0,volatile-memdev=v,id=mem0"
            " -object memory-backend-ram,id=v,size=256M"
            " -device pxb-cxl,bus_nr=12,id=cxl.1 -device cxl-rp,bus=cxl.1,id=rp0"
            " -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",
            "cxl-type3 mem0: bus 'rp0' is created later on the command line",
        ),
        (
            one_device()
            + " -object memory-backend-ram,id=v1,size=256M -device cxl-upstream,bus=rp9,id=us0"
            " -device cxl-rp,port=1,bus=cxl.1,id=rp9,chassis=0,slot=9",
            "cxl-upstream us0: bus 'rp9' is created later",
        ),
        (
            one_device() + " -device cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=3"
            " -device cxl-upstream,bus=rp1,id=us0"
            " -device cxl-downstream,port=0,bus=us0,id=d0,chassis=0,slot=4"
            " -device cxl-upstream,bus=d0,id=us1",
            "cxl-upstream us1: a switch below a switch port is not modeled",
        ),
        (
            one_device() + " -device cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=3"
            " -device cxl-upstream,bus=rp1,id=us0",
            "switch us0: has no downstream ports",
        ),
        (one_device() + " -device cxl-type3,bus=rp0,id=x,,y", "id 'x,y' is not an identifier"),
        (one_device() + " -device cxl-type3,,bus=rp0", "missing the device driver"),
        (one_device() + " -device cxl-type3,bus=rp0,,", "bus 'rp0,' is not a cxl-rp"),
        (one_device() + " -device cxl-type3,bus=rp0,", "empty option in the list"),
        (one_device() + " -device cxl-type3,bus=rp0,bus=rp0", "option 'bus' given twice"),
        (one_device() + " -device cxl-type3,=x", "option without a name"),
        (one_device() + ' -device \'{"driver": "cxl-type3"\'', "malformed JSON"),
        (one_device() + ' -object \'{"id": "x"}\'', "missing the object type"),
    ],
)
def test_command_line_errors(cmdline: str, message: str) -> None:
    with pytest.raises(PlatformError) as info:
        parse_qemu(cmdline)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("id=cxl-pmem0", "id=cxl-pmem0,foo=1", "-device cxl-type3,...: unknown option 'foo'"),
        (
            "bus=root_port13,persistent",
            "bus=nope,persistent",
            "cxl-type3 cxl-pmem0: bus 'nope' is not a cxl-rp or cxl-downstream port",
        ),
        (
            "targets.0=cxl.1",
            "targets.0=cxl.9",
            "cxl-fmw.0: target 'cxl.9' is not a pxb-cxl device",
        ),
        (
            "persistent-memdev=cxl-mem1",
            "persistent-memdev=x",
            "cxl-type3 cxl-pmem0: memdev 'x' is not a memory backend",
        ),
        ("q35,cxl=on", "q35", "pxb-cxl requires -machine cxl=on"),
        (
            "-device cxl-rp",
            "-device pxb-cxl,bus_nr=13,id=cxl.1 -device cxl-rp",
            "duplicate id 'cxl.1'",
        ),
        (
            "cxltest.raw,size=256M",
            "cxltest.raw,size=100M",
            "device cxl-pmem0: persistent capacity 0x6400000 is not a multiple of 256M",
        ),
    ],
)
def test_brief_messages_on_doc_example(old: str, new: str, message: str) -> None:
    assert old in DOC_PMEM
    with pytest.raises(PlatformError, match=re.escape(message)):
        parse_qemu(DOC_PMEM.replace(old, new, 1))


def test_missing_argument() -> None:
    with pytest.raises(PlatformError, match=r"^-m: missing argument$"):
        parse_qemu(DOC_PMEM + " -m")


def test_unknown_drivers_still_own_their_ids() -> None:
    cmdline = one_device(extra="-device e1000,id=rp0")
    with pytest.raises(PlatformError, match="duplicate id 'rp0'"):
        parse_qemu(cmdline)


def test_not_text() -> None:
    with pytest.raises(PlatformError, match="must be text"):
        parse_qemu(None)  # type: ignore[arg-type]


def test_message_stays_on_one_line() -> None:
    cmdline = one_device(extra="-device 'cxl-type3,bus=rp0,\nid=x'")
    with pytest.raises(PlatformError) as info:
        parse_qemu(cmdline)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# Robustness: whatever the input, PlatformError or a platform, never another exception
# --------------------------------------------------------------------------------------------

FRAGMENTS = [
    "-device",
    "-object",
    "-M",
    "-machine",
    "-m",
    "-cxl-fixed-memory-window",
    "-numa",
    "-nographic",
    "...",
    "\\\n",
    "pxb-cxl,bus_nr=12,id=cxl.1",
    "cxl-rp,bus=cxl.1,id=rp0",
    "cxl-upstream,bus=rp0,id=us0",
    "cxl-downstream,bus=us0,id=d0,port=1",
    "cxl-type3,bus=d0,volatile-memdev=v0,id=mem0,sn=0x2",
    "cxl-type3,bus=rp0,memdev=v0",
    "memory-backend-ram,id=v0,size=256M",
    "memory-backend-file,id=v0",
    "q35,cxl=on",
    "cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",
    "cxl-fmw.0.targets.1=cxl.1",
    "targets.0=cxl.1,size=4G",
    "4G,maxmem=8G,slots=8",
    "node,nodeid=0",
    "{}",
    '{"driver": 1}',
    "'",
    ",,",
    "=",
    "x",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=24))
def test_fuzz_fragments(fragments: list[str]) -> None:
    try:
        parse_qemu(" ".join(fragments))
    except PlatformError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(DOC_EXAMPLES)), st.data())
def test_fuzz_doc_mutations(example: str, data: st.DataObject) -> None:
    tokens = DOC_EXAMPLES[example][0].replace("\\\n", " ").split()
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(tokens) - 1))
        action = data.draw(st.sampled_from(["drop", "dup", "cut", "swap", "text"]))
        if action == "drop":
            del tokens[index]
        elif action == "dup":
            tokens.insert(index, tokens[index])
        elif action == "cut":
            token = tokens[index]
            cut = data.draw(st.integers(0, len(token)))
            tokens[index] = token[:cut]
        elif action == "swap":
            other = data.draw(st.integers(0, len(tokens) - 1))
            tokens[index], tokens[other] = tokens[other], tokens[index]
        else:
            tokens[index] = data.draw(st.text(max_size=12))
        if not tokens:
            break
    try:
        parse_qemu(" ".join(tokens))
    except PlatformError as exc:
        assert "\n" not in str(exc)
