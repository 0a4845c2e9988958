"""The C source of the LD_PRELOAD shim that lets programs under ``fake-sysfs run`` send
ioctls to the emulated /dev/cxl/memN and /dev/nmemN (see fake_sysfs.frontends.devioctl)."""
