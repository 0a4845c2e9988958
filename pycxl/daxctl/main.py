"""The ``daxctl`` program: its command table; the main loop is the tools' shared one
(pycxl.util.toolmain)."""

from __future__ import annotations

import sys

from pycxl.util.toolmain import Tool

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.sysfs.base import Sysfs
    from pycxl.util.toolmain import Command

#: The version of upstream daxctl this reimplements.
VERSION = "81"
TOOL = Tool("daxctl", VERSION)


def _cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.daxctl.commands.list import cmd_list

    return cmd_list(argv, sysfs)


def _device_command(name: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.daxctl.commands.device import run_device_command

        return run_device_command(name, argv, sysfs)

    return run


def _not_emulated(name: str) -> Command:
    """Commands for platforms the emulation does not model (ACPI NFIT split, the legacy
    dax class): they say so and fail."""

    def run(argv: list[str], sysfs: Sysfs) -> int:
        del argv, sysfs
        sys.stderr.write(f"daxctl {name}: not supported by pycxl\n")
        return 1

    return run


#: Upstream's command table, in its order.
TOOL.commands = {
    "version": TOOL.cmd_version,
    "list": _cmd_list,
    "help": TOOL.cmd_help,
    "split-acpi": _not_emulated("split-acpi"),
    "migrate-device-model": _not_emulated("migrate-device-model"),
    "create-device": _device_command("create-device"),
    "destroy-device": _device_command("destroy-device"),
    "reconfigure-device": _device_command("reconfigure-device"),
    "online-memory": _device_command("online-memory"),
    "offline-memory": _device_command("offline-memory"),
    "disable-device": _device_command("disable-device"),
    "enable-device": _device_command("enable-device"),
}
run = TOOL.run
main = TOOL.main
warm_up = TOOL.warm_up  # for a fork server (fake-sysfs serve)

if __name__ == "__main__":
    main()
