#!/bin/bash
# An admin session with cxl, jq and the kernel log, on a cxl_test platform: make a 2-way
# pmem region over the interleaved pmem window, the way someone new to CXL does it.
#
#  1. Take the window and the first two memdevs it can reach, as `cxl list` shows them.
#  2. create-region fails (both are below the same host bridge); the kernel log says why
#     ("invalid target position").
#  3. Fix it: one memdev below each host bridge, in the window's target order. Retry.
#  4. Inspect the region with jq: committed, both mappings in order, the size asked for.
#  5. Tear it down and check that nothing is left: no region, no DPA on the decoders.
#
# Run with `cxl` and `fake-sysfs` on PATH and FAKE_SYSFS_STATE naming a cxl_test platform
# (the upstream cxl inside `fake-sysfs run` works too). Exits non-zero with a message on the
# first thing that does not hold; prints "region session: ok" at the end.
set -euo pipefail

fail() { echo "cxl_region_session: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: expected $2, got $1"; }

# create-region prints the region on success. (Exit status alone is not enough: cxl 76.1
# exits 0 after most failed creations.)
create() {
    local out
    out=$(cxl create-region "$@" 2>"$err") || true
    [ -n "$out" ] && printf '%s\n' "$out"
}
err=$(mktemp)
trap 'rm -f "$err"' EXIT

# 1. The interleaved pmem window and the first two memdevs below it.
decoder=$(cxl list -D -d root |
    jq -r '[.[] | select(.pmem_capable and .interleave_ways == 2)][0].decoder')
[ "$decoder" != null ] || fail "no x2 pmem window"
read -r -a first_two < <(cxl list -M -d "$decoder" | jq -r '[.[0:2][].memdev] | join(" ")')
expect "${#first_two[@]}" 2 "memdevs below $decoder"

# 2. The naive attempt, and what the kernel says about it.
fake-sysfs dmesg -c >/dev/null
if create -d "$decoder" -t pmem -m "${first_two[@]}" >/dev/null; then
    fail "${first_two[*]} share a host bridge, yet the region was created"
fi
grep -q "failed to set target1 to ${first_two[1]}" "$err" || fail "unexpected error: $(cat "$err")"
fake-sysfs dmesg | grep -q "${first_two[1]}:decoder[0-9.]* invalid target position for $decoder" ||
    fail "the kernel log does not say why target1 was refused"

# 3. One memdev below each host bridge, in the window's target order (the listing shows
# targets in reverse; "position" is the order).
mapfile -t bridges < <(cxl list -D -d "$decoder" -T | jq -r '.[0].targets | sort_by(.position)[].target')
expect "${#bridges[@]}" 2 "host bridges of $decoder"
order=()
for hb in "${bridges[@]}"; do
    port=$(cxl list -BP | jq -r --arg hb "$hb" '.. | objects | select(.host? == $hb) | .port')
    mem=$(cxl list -M -p "$port" -d "$decoder" | jq -r '.[0].memdev')
    [ "$mem" != null ] || fail "no memdev below $hb ($port)"
    order+=("$mem")
done
region_json=$(create -d "$decoder" -t pmem -s 512M -m "${order[@]}") ||
    fail "create-region -m ${order[*]}: $(cat "$err")"
region=$(jq -r .region <<<"$region_json")

# 4. Inspect it as cxl lists it.
listed=$(cxl list -R -r "$region" -T)
expect "$(jq -r '.[0].decode_state' <<<"$listed")" commit "$region decode state"
expect "$(jq -r '.[0].size' <<<"$listed")" 536870912 "$region size"
expect "$(jq -r '.[0].interleave_ways' <<<"$listed")" 2 "$region ways"
expect "$(jq -r '.[0].mappings | sort_by(.position) | [.[].memdev] | join(" ")' <<<"$listed")" \
    "${order[*]}" "$region targets in position order"

# 5. Tear down, and check that the capacity came back.
cxl disable-region "$region" 2>/dev/null
cxl destroy-region "$region" 2>/dev/null
expect "$(cxl list -R -r "$region" 2>/dev/null | jq length)" 0 "regions named $region after destroy"
for mem in "${order[@]}"; do
    n=$(cxl list -D -d endpoint -m "$mem" -i | jq '[.[] | select((.dpa_size // 0) > 0)] | length')
    expect "$n" 0 "endpoint decoders of $mem holding DPA"
done
echo "region session: ok"
