#!/bin/bash
# Persistent fsdax on CXL pmem, as an administrator scripts it: a pmem region over two
# memdevs of different host bridges, an fsdax namespace on it, checks with jq, then the
# namespace disabled, re-enabled and destroyed. Run with `cxl` and `ndctl` on PATH, on a
# platform with an x2 window (qemu-mixed, the default). Exits non-zero with a message on
# the first fact that does not hold.
set -euo pipefail

fail() { echo "pmem_fsdax: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: expected $2, got $1"; }

# Two memdevs below different host bridges, in the window's target order.
decoder=$(cxl list -D -d root | jq -r '[.[] | select(.pmem_capable and .nr_targets == 2)][0].decoder')
[ "$decoder" != null ] || fail "no 2-way pmem window"
region=$(cxl create-region -d "$decoder" -t pmem -m mem2 mem0 | jq -r .region)
expect "$(cxl list -r "$region" | jq -r '.[0].type')" pmem "$region type"

# The nd region of the CXL region: same id, full size available.
nd=$(ndctl list -R -r "$region")
size=$(jq '.[0].size' <<<"$nd")
expect "$(jq '.[0].available_size' <<<"$nd")" "$size" "available before"
expect "$(jq -r '.[0].persistence_domain' <<<"$nd")" memory_controller "persistence domain"

ns=$(ndctl create-namespace -r "$region" -m fsdax -s 256M -n scratch)
dev=$(jq -r .dev <<<"$ns")
expect "$(jq -r .mode <<<"$ns")" fsdax "mode"
expect "$(jq -r .map <<<"$ns")" dev "memmap location"
expect "$(jq -r .name <<<"$ns")" scratch "name"
blockdev=$(jq -r .blockdev <<<"$ns")
[[ "$blockdev" =~ ^pmem[0-9]+$ ]] || fail "block device '$blockdev'"
# The usable size is what the struct page array leaves: less than asked, more than 240M.
usable=$(jq .size <<<"$ns")
(( usable < 268435456 && usable > 251658240 )) || fail "usable size $usable"

left=$(ndctl list -R -r "$region" | jq '.[0].available_size')
expect "$left" "$((size - 268435456))" "available after"

ndctl disable-namespace "$dev" 2>/dev/null
expect "$(ndctl list -n "$dev" -i | jq -r '.[0].state')" disabled "state after disable"
ndctl enable-namespace "$dev" 2>/dev/null
expect "$(ndctl list -n "$dev" | jq -r '.[0].blockdev')" "$blockdev" "block device after enable"

if ndctl destroy-namespace "$dev" 2>/dev/null; then fail "destroyed an active namespace"; fi
ndctl destroy-namespace -f "$dev" 2>/dev/null
expect "$(ndctl list -R -r "$region" | jq '.[0].available_size')" "$size" "available after destroy"
echo "pmem fsdax: ok"
