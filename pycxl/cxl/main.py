"""The ``cxl`` program: its command table; the main loop is the tools' shared one
(pycxl.util.toolmain)."""

from __future__ import annotations

from pycxl import UPSTREAM_VERSION
from pycxl.util.toolmain import Tool

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.sysfs.base import Sysfs
    from pycxl.util.toolmain import Command

TOOL = Tool("cxl", UPSTREAM_VERSION)


def _cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.list import cmd_list

    return cmd_list(argv, sysfs)


def _cmd_disable_memdev(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.memdev import cmd_disable_memdev

    return cmd_disable_memdev(argv, sysfs)


def _cmd_enable_memdev(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.memdev import cmd_enable_memdev

    return cmd_enable_memdev(argv, sysfs)


def _cmd_reserve_dpa(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.memdev import cmd_reserve_dpa

    return cmd_reserve_dpa(argv, sysfs)


def _cmd_free_dpa(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.memdev import cmd_free_dpa

    return cmd_free_dpa(argv, sysfs)


def _memdev_command(name: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.cxl.commands.memdev import run_memdev_command

        return run_memdev_command(name, argv, sysfs)

    return run


def _cmd_monitor(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.monitor import cmd_monitor

    return cmd_monitor(argv, sysfs)


def _cmd_disable_port(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.port import cmd_disable_port

    return cmd_disable_port(argv, sysfs)


def _cmd_enable_port(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.port import cmd_enable_port

    return cmd_enable_port(argv, sysfs)


def _cmd_disable_bus(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.port import cmd_disable_bus

    return cmd_disable_bus(argv, sysfs)


def _cmd_create_region(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.region import cmd_create_region

    return cmd_create_region(argv, sysfs)


def _cmd_enable_region(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.region import cmd_enable_region

    return cmd_enable_region(argv, sysfs)


def _cmd_disable_region(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.region import cmd_disable_region

    return cmd_disable_region(argv, sysfs)


def _cmd_destroy_region(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.region import cmd_destroy_region

    return cmd_destroy_region(argv, sysfs)


#: Upstream v81's command table, in its order (``--list-cmds``).
TOOL.commands = {
    "version": TOOL.cmd_version,
    "list": _cmd_list,
    "help": TOOL.cmd_help,
    "zero-labels": _memdev_command("zero-labels"),
    "read-labels": _memdev_command("read-labels"),
    "write-labels": _memdev_command("write-labels"),
    "disable-memdev": _cmd_disable_memdev,
    "enable-memdev": _cmd_enable_memdev,
    "reserve-dpa": _cmd_reserve_dpa,
    "free-dpa": _cmd_free_dpa,
    "update-firmware": _memdev_command("update-firmware"),
    "set-alert-config": _memdev_command("set-alert-config"),
    "wait-sanitize": _memdev_command("wait-sanitize"),
    "disable-port": _cmd_disable_port,
    "enable-port": _cmd_enable_port,
    "set-partition": _memdev_command("set-partition"),
    "disable-bus": _cmd_disable_bus,
    "create-region": _cmd_create_region,
    "enable-region": _cmd_enable_region,
    "disable-region": _cmd_disable_region,
    "destroy-region": _cmd_destroy_region,
    "monitor": _cmd_monitor,
}
run = TOOL.run
main = TOOL.main
warm_up = TOOL.warm_up  # for a fork server (fake-sysfs serve)

if __name__ == "__main__":
    main()
