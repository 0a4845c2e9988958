"""The emulated kernel: the state Linux would hold for a platform, and its rules.

One module per object family, as drivers/cxl/core is split.
"""
