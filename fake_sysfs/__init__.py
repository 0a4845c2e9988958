"""An emulated Linux kernel serving a live /sys for a modeled CXL platform."""
