"""Platform descriptions: presets, platform files, QEMU command lines."""
