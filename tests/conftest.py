"""Settings for the whole suite."""

import os

# Every refusal a store marks clean (fake_sysfs.errors.refused), in the tests and in the
# commands they run, is checked to have changed nothing but the kernel log: the state store
# keeps the kernel such a store ran on (fake_sysfs.journal.paranoid).
os.environ.setdefault("FAKE_SYSFS_PARANOID", "1")
