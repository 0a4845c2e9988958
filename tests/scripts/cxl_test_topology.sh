#!/bin/bash
# An admin-style check of the cxl_test topology with cxl and jq, as a script on a real
# machine would do it (cxl_test-platform.md): run it with `cxl` on PATH, pointed at a
# cxl_test platform. Exits non-zero with a message on the first fact that does not hold.
set -euo pipefail

fail() { echo "cxl_test_topology: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: expected $2, got $1"; }

bus=$(cxl list -b cxl_test -B)
expect "$(jq length <<<"$bus")" 1 "buses named cxl_test"
expect "$(jq -r '.[0].provider' <<<"$bus")" cxl_test "bus provider"

# Three host-bridge ports below the root; two with two root ports, one with one.
ports=$(cxl list -b cxl_test -BPT)
hbs=$(jq '[.[0]["ports:root0"][] | select(.depth == 1)]' <<<"$ports")
expect "$(jq length <<<"$hbs")" 3 "host-bridge ports"
expect "$(jq -c '[.[].nr_dports] | sort' <<<"$hbs")" "[1,2,2]" "root ports per host bridge"

# Root decoders: sizes, interleave and what they allow, in decoder order.
decoders=$(cxl list -b cxl_test -D -d root)
expect "$(jq -c '[.[].size / 1073741824]' <<<"$decoders")" "[1,2,1,2,1,0.25]" "window sizes (GiB)"
expect "$(jq -c '[.[].nr_targets]' <<<"$decoders")" "[1,2,1,2,1,1]" "window targets"
expect "$(jq '[.[] | select(.volatile_capable)] | length' <<<"$decoders")" 3 "volatile windows"
expect "$(jq '[.[] | select(.pmem_capable)] | length' <<<"$decoders")" 3 "pmem windows"

# Ten memdevs with 1 GiB of persistent capacity, plus the RCD with only volatile.
memdevs=$(cxl list -b cxl_test -M)
expect "$(jq '[.[] | select(.pmem_size == 1073741824)] | length' <<<"$memdevs")" 10 "pmem memdevs"
expect "$(jq length <<<"$memdevs")" 11 "memdevs"

# Each switch port hosts exactly two memdevs.
for port in $(jq -r '.[0]["ports:root0"][] | .["ports:" + .port][]?.port' <<<"$ports"); do
    n=$(cxl list -M -p "$port" | jq length)
    expect "$n" 2 "memdevs below $port"
done

# The firmware-committed region: one ram region over two memdevs, committed.
region=$(cxl list -b cxl_test -R -T)
expect "$(jq length <<<"$region")" 1 "regions"
expect "$(jq -r '.[0].decode_state' <<<"$region")" commit "auto region decode state"
expect "$(jq '.[0].mappings | length' <<<"$region")" 2 "auto region mappings"
echo "cxl_test topology: ok"
