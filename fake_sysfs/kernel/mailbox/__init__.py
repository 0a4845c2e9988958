"""The emulated type-3 device's mailbox and the kernel's ioctl interface to it.

* ``device``: what the device holds (partition plans, health, alert settings, firmware
  slots, ...), created when the memdev is, with the defaults of the platform's device model
  (cxl_test's mock device or QEMU's type-3 device).
* ``commands``: the kernel's command table (ids, opcodes, payload sizes) and the command
  effects log (CEL) each device model advertises.
* one module per command set (``identify``, ``partition``, ``health``, ``firmware``,
  ``labels``): the device's answer to each opcode.
* ``ioctl``: CXL_MEM_QUERY_COMMANDS and CXL_MEM_SEND_COMMAND as the kernel checks them.
* ``transact``: one command that changes the device as one state transaction.
"""
