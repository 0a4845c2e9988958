"""The emulated kernel: the state Linux would hold for a platform, and its rules.

Shaped like the real one: a small driver core (core: the device registry, bind, unbind,
probe; drivers: the buses, drivers and device types), one module per object family as
drivers/cxl/core is split (each attribute's show and store beside the state it exposes),
the hardware firmware presents, the kernel log, and boot (registration and probing).
"""
