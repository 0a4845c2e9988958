#!/bin/bash
# Admin-style walk through "CXL RAM as a memory-only NUMA node" with cxl, daxctl and jq,
# as on a real machine: a RAM region from a volatile-capable window over two memdevs, its
# DAX device onlined as System RAM (ZONE_MOVABLE), the new node checked in /sys, then
# everything taken down again. Run it where /sys is the machine's (or inside
# `fake-sysfs run`). Exits non-zero with a message on the first fact that does not hold.
set -euo pipefail

fail() { echo "dax_system_ram: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: expected $2, got $1"; }

# A window behind one host bridge, and two memdevs below it.
decoder=$(cxl list -D -d root |
    jq -r '[.[] | select(.volatile_capable and .nr_targets == 1)][0].decoder')
[ "$decoder" != null ] || fail "no volatile-capable window"
memdevs=$(cxl list -M -d "$decoder" |
    jq -r '[.[] | select(.ram_size > 0)][0:2] | map(.memdev) | join(" ")')
# shellcheck disable=SC2086
region=$(cxl create-region -d "$decoder" -t ram -m $memdevs 2>/dev/null | jq -r .region)
id=${region#region}

# The kernel's default policy: kmem takes the device, the blocks stay offline.
dev=$(daxctl list -r "$id" -D | jq -r '.[0].chardev')
expect "$(daxctl list -d "$dev" | jq -r '.[0].mode')" system-ram "default mode"
expect "$(daxctl list -d "$dev" | jq '.[0].online_memblocks')" 0 "blocks online at first"

daxctl reconfigure-device -m system-ram "$dev" >/dev/null 2>&1
info=$(daxctl list -d "$dev")
node=$(jq '.[0].target_node' <<<"$info")
size=$(jq '.[0].size' <<<"$info")
expect "$(jq '.[0].online_memblocks == .[0].total_memblocks' <<<"$info")" true "all online"
expect "$(jq '.[0].movable' <<<"$info")" true "ZONE_MOVABLE"

# The memory-only node, as numactl and lsmem find it.
sys=/sys/devices/system/node
[ -d "$sys/node$node" ] || fail "node$node missing"
expect "$(cat "$sys/node$node/cpulist")" "" "CPUs of node$node"
grep -qw "$node" < <(tr ',-' '  ' < "$sys/has_memory") || fail "node$node has no memory"
total=$(awk '/MemTotal/ {print $4}' "$sys/node$node/meminfo")
expect "$total" "$((size / 1024))" "node$node MemTotal (kB)"
blocks=$(find "$sys/node$node/" -maxdepth 1 -name 'memory[0-9]*' | wc -l)
bs=$((16#$(cat /sys/devices/system/memory/block_size_bytes)))
expect "$blocks" "$((size / bs))" "memory blocks of node$node"

# Down again: offline, then the region goes with its DAX device and the node.
daxctl offline-memory "$dev" >/dev/null 2>&1
cxl disable-region "$region" >/dev/null 2>&1
cxl destroy-region "$region" >/dev/null 2>&1
[ ! -d "$sys/node$node" ] || fail "node$node still online"
echo "dax system-ram: ok"
