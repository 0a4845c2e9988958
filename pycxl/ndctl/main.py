"""The ``ndctl`` program: its command table; the main loop is the tools' shared one
(pycxl.util.toolmain)."""

from __future__ import annotations

from pycxl.util.toolmain import Tool

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.sysfs.base import Sysfs
    from pycxl.util.toolmain import Command

#: The version of upstream ndctl this reimplements.
VERSION = "81"
TOOL = Tool("ndctl", VERSION)


def _namespace_cmd(name: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.ndctl.commands import namespace

        handler: Command = getattr(namespace, f"cmd_{name}")
        return handler(argv, sysfs)

    return run


def _region_cmd(action: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.ndctl.commands.region import cmd_region

        return cmd_region(action, argv, sysfs)

    return run


def _labels_cmd(name: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.ndctl.commands.labels import cmd_labels

        return cmd_labels(name, argv, sysfs)

    return run


def _cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.ndctl.commands.list import cmd_list

    return cmd_list(argv, sysfs)


#: Commands in upstream's table order (those implemented so far).
TOOL.commands = {
    "version": TOOL.cmd_version,
    "enable-namespace": _namespace_cmd("enable_namespace"),
    "disable-namespace": _namespace_cmd("disable_namespace"),
    "create-namespace": _namespace_cmd("create_namespace"),
    "destroy-namespace": _namespace_cmd("destroy_namespace"),
    "enable-region": _region_cmd("enable"),
    "disable-region": _region_cmd("disable"),
    "zero-labels": _labels_cmd("zero-labels"),
    "read-labels": _labels_cmd("read-labels"),
    "write-labels": _labels_cmd("write-labels"),
    "init-labels": _labels_cmd("init-labels"),
    "check-labels": _labels_cmd("check-labels"),
    "list": _cmd_list,
    "help": TOOL.cmd_help,
}
run = TOOL.run
main = TOOL.main
warm_up = TOOL.warm_up  # for a fork server (fake-sysfs serve)

if __name__ == "__main__":
    main()
