"""The kernel's table of user-visible mailbox commands (include/uapi/linux/cxl_mem.h).

The ioctl ABI names commands by id; each id stands for one opcode with fixed or variable
(``VARIABLE``) payload sizes. Ids whose commands were withdrawn stay in the table as holes,
which CXL_MEM_QUERY_COMMANDS reports as all-zero entries.
"""

from __future__ import annotations

from typing import NamedTuple

#: A payload size the command does not fix (``~0`` in the uapi).
VARIABLE = 0xFFFF_FFFF


class Command(NamedTuple):
    id: int
    name: str
    #: 0 for a hole, and for RAW (any opcode).
    opcode: int
    size_in: int
    size_out: int


ID_INVALID = 0
ID_IDENTIFY = 1
ID_RAW = 2
ID_GET_FW_INFO = 4
ID_GET_PARTITION_INFO = 5
ID_GET_LSA = 6
ID_GET_HEALTH_INFO = 7
ID_SET_PARTITION_INFO = 9
ID_SET_LSA = 10
ID_GET_ALERT_CONFIG = 11
ID_SET_ALERT_CONFIG = 12
ID_SET_SHUTDOWN_STATE = 14

#: Opcodes.
IDENTIFY = 0x4000
GET_FW_INFO = 0x0200
TRANSFER_FW = 0x0201
ACTIVATE_FW = 0x0202
GET_SUPPORTED_LOGS = 0x0400
GET_LOG = 0x0401
GET_PARTITION_INFO = 0x4100
SET_PARTITION_INFO = 0x4101
GET_LSA = 0x4102
SET_LSA = 0x4103
GET_HEALTH_INFO = 0x4200
GET_ALERT_CONFIG = 0x4201
GET_POISON_LIST = 0x4300
SET_ALERT_CONFIG = 0x4202

_HOLE = ("", 0, 0, 0)

#: Index = id. v6.14's table: ids 0-24.
TABLE: list[Command] = [
    Command(i, *row)
    for i, row in enumerate(
        [
            ("INVALID", 0, 0, 0),
            ("IDENTIFY", IDENTIFY, 0, 0x43),
            ("RAW", 0, VARIABLE, VARIABLE),
            ("GET_SUPPORTED_LOGS", GET_SUPPORTED_LOGS, 0, VARIABLE),
            ("GET_FW_INFO", GET_FW_INFO, 0, 0x50),
            ("GET_PARTITION_INFO", GET_PARTITION_INFO, 0, 0x20),
            ("GET_LSA", GET_LSA, 0x8, VARIABLE),
            ("GET_HEALTH_INFO", GET_HEALTH_INFO, 0, 0x12),
            ("GET_LOG", GET_LOG, 0x18, VARIABLE),
            ("SET_PARTITION_INFO", SET_PARTITION_INFO, 0x0A, 0),
            ("SET_LSA", SET_LSA, VARIABLE, 0),
            ("GET_ALERT_CONFIG", GET_ALERT_CONFIG, 0, 0x10),
            ("SET_ALERT_CONFIG", SET_ALERT_CONFIG, 0x0C, 0),
            ("GET_SHUTDOWN_STATE", 0x4203, 0, 0x1),
            ("SET_SHUTDOWN_STATE", 0x4204, 0x1, 0),
            _HOLE,  # GET_POISON (deprecated)
            _HOLE,  # INJECT_POISON (deprecated)
            _HOLE,  # CLEAR_POISON (deprecated)
            ("GET_SCAN_MEDIA_CAPS", 0x4303, 0x10, 0x4),
            _HOLE,  # SCAN_MEDIA (deprecated)
            _HOLE,  # GET_SCAN_MEDIA (deprecated)
            ("GET_TIMESTAMP", 0x0300, 0, 0x8),
            ("GET_LOG_CAPS", 0x0402, 0x10, 0x4),
            ("CLEAR_LOG", 0x0403, 0x10, 0),
            ("GET_SUP_LOG_SUBLIST", 0x0405, 0x2, VARIABLE),
        ]
    )
]

#: Enabled whatever the device's CEL says (the kernel needs them to probe).
FORCE_ENABLED = (IDENTIFY, GET_SUPPORTED_LOGS, GET_LOG)

#: Commands the kernel claims while the memdev's nvdimm is bound (SET_LSA writes would
#: bypass the label cache).
EXCLUSIVE_WHILE_NVDIMM = (ID_SET_LSA, ID_SET_SHUTDOWN_STATE)

#: Return codes (CXL 3.1 table 8-34).
SUCCESS = 0
BACKGROUND = 1
INVALID_INPUT = 2
UNSUPPORTED = 3
INTERNAL = 4
RETRY = 5
BUSY = 6
MEDIA_DISABLED = 7
FW_TRANSFER_IN_PROGRESS = 8
FW_TRANSFER_OUT_OF_ORDER = 9
FW_AUTH_FAILED = 0xA
FW_INVALID_SLOT = 0xB
INVALID_SECURITY_STATE = 0x13
