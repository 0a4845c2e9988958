"""daxctl: the DAX side (regions and devices on the dax bus)."""
