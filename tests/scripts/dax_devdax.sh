#!/bin/bash
# Admin-style walk through "CXL RAM as volatile device-DAX" with cxl, daxctl and jq: a RAM
# region's DAX device switched to devdax, carved into two devices, checked in /sys, then
# taken down. Run it where /sys is the machine's (or inside `fake-sysfs run`). Exits
# non-zero with a message on the first fact that does not hold.
set -euo pipefail

fail() { echo "dax_devdax: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: expected $2, got $1"; }

# A window behind one host bridge, and two memdevs below it.
decoder=$(cxl list -D -d root |
    jq -r '[.[] | select(.volatile_capable and .nr_targets == 1)][0].decoder')
memdevs=$(cxl list -M -d "$decoder" |
    jq -r '[.[] | select(.ram_size > 0)][0:2] | map(.memdev) | join(" ")')
# shellcheck disable=SC2086
region=$(cxl create-region -d "$decoder" -t ram -m $memdevs 2>/dev/null | jq -r .region)
id=${region#region}
dev=$(daxctl list -r "$id" -D | jq -r '.[0].chardev')

daxctl reconfigure-device -m devdax -f "$dev" >/dev/null 2>&1
expect "$(daxctl list -d "$dev" | jq -r '.[0].mode')" devdax "mode"
driver=$(basename "$(readlink -f "/sys/bus/dax/devices/$dev/driver")")
expect "$driver" device_dax "driver"
char=$(readlink -f "/sys/dev/char/$(cat "/sys/bus/dax/devices/$dev/dev")")
expect "$char" "$(readlink -f "/sys/bus/dax/devices/$dev")" "char device"

# Half for the first device, the rest for a new one.
size=$(daxctl list -d "$dev" | jq '.[0].size')
daxctl disable-device "$dev" >/dev/null 2>&1
daxctl reconfigure-device -s $((size / 2)) "$dev" >/dev/null 2>&1
daxctl enable-device "$dev" >/dev/null 2>&1
second=$(daxctl create-device -r "$id" 2>/dev/null | jq -r '.[0].chardev')
expect "$(daxctl list -r "$id" -D | jq length)" 2 "devices"
expect "$(daxctl list -r "$id" | jq '.[0].available_size // 0')" 0 "free capacity"
expect "$(daxctl list -d "$second" | jq '.[0].size')" $((size / 2)) "second device"

daxctl disable-device "$second" >/dev/null 2>&1
daxctl destroy-device "$second" >/dev/null 2>&1
cxl disable-region "$region" >/dev/null 2>&1
cxl destroy-region "$region" >/dev/null 2>&1
echo "dax devdax: ok"
