"""kernfs: the sysfs tree computed from kernel state, and path operations on it."""
