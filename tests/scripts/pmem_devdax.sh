#!/bin/bash
# Persistent devdax on CXL pmem, as an administrator scripts it: a pmem region, two devdax
# namespaces, their character devices on the DAX bus, then the region disabled and enabled
# again (the labels bring the namespaces back) and everything destroyed. Run with `cxl`
# and `ndctl` on PATH, on a platform with an x2 window (qemu-mixed, the default).
set -euo pipefail

fail() { echo "pmem_devdax: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: expected $2, got $1"; }

decoder=$(cxl list -D -d root | jq -r '[.[] | select(.pmem_capable and .nr_targets == 2)][0].decoder')
region=$(cxl create-region -d "$decoder" -t pmem -m mem2 mem0 | jq -r .region)
id=${region#region}

first=$(ndctl create-namespace -r "$region" -m devdax -s 128M)
expect "$(jq -r .mode <<<"$first")" devdax "mode"
expect "$(jq -r '.daxregion.devices[0].mode' <<<"$first")" devdax "dax device mode"
chardev=$(jq -r '.daxregion.devices[0].chardev' <<<"$first")
expect "$chardev" "dax$id.0" "character device"
expect "$(jq '.daxregion.devices[0].size' <<<"$first")" "$(jq .size <<<"$first")" "device size"

second=$(ndctl create-namespace -r "$region" -m devdax -s 64M -a 4K)
expect "$(jq '.daxregion.devices[0].align' <<<"$second")" 4096 "second device align"
expect "$(ndctl list -N -m devdax -X -r "$region" | jq length)" 2 "devdax namespaces"

ndctl disable-region "$region" 2>/dev/null
expect "$(ndctl list -N -r "$region" | jq -s "add | length")" 0 "namespaces while the region is disabled"
ndctl enable-region "$region" 2>/dev/null
back=$(ndctl list -N -m devdax -X -r "$region")
expect "$(jq length <<<"$back")" 2 "devdax namespaces after enable"
expect "$(jq -r '[.[].daxregion.devices[0].chardev] | sort | join(" ")' <<<"$back")" \
    "dax$id.0 dax$id.1" "character devices after enable"

ndctl destroy-namespace -f -r "$region" all 2>/dev/null
expect "$(ndctl list -N -r "$region" | jq -s "add | length")" 0 "namespaces after destroy"
expect "$(ndctl list -R -r "$region" | jq '.[0].available_size == .[0].size')" true "space back"
echo "pmem devdax: ok"
