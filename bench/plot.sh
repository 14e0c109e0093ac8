#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/plot.sh DIR - draw the benchmark results in DIR as PNG pictures
# beside their JSON: latency against the number of hosts, VMs or
# brokers.  Needs jq and gnuplot (scripts/install-deps.sh --bench
# installs them).
set -eu

dir=${1:?usage: bench/plot.sh RESULTS_DIR}
for tool in jq gnuplot; do
    command -v $tool >/dev/null || {
        echo "plot: $tool is missing (scripts/install-deps.sh --bench)" >&2
        exit 1
    }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -f "$dir/broker.json" ]; then
    jq -r '.["add-then-accept"].phases[] |
           "\(.hosts) \(.["p50-us"] / 1000) \(.["p99-us"] / 1000)"' \
        "$dir/broker.json" >"$tmp/broker.dat"
    load=$(jq -r '.machine["loadavg-at-start"][0] // 0 | . * 100 | round / 100' "$dir/broker.json")
    gnuplot <<GP
set terminal pngcairo size 800,500
set output "$dir/broker.png"
set title "extent add until the host accepted (broker, load $load)"
set xlabel "hosts connected"
set ylabel "ms"
set logscale x 2
set key top left
set grid
plot "$tmp/broker.dat" using 1:2 with linespoints title "p50", \
     "$tmp/broker.dat" using 1:3 with linespoints title "p99"
GP
    echo "plot: $dir/broker.png"
fi

if [ -f "$dir/vm-add.json" ]; then
    jq -r '.phases[] | "\(.vms) \(.broker["all-accepted"]["p50-us"] / 1000)
           \(.broker["all-accepted"]["p99-us"] / 1000)
           \(.upstream["all-accepted"]["p50-us"] / 1000)
           \(.upstream["all-accepted"]["p99-us"] / 1000)"' \
        "$dir/vm-add.json" | paste -d' ' - - - - >"$tmp/vm-add.dat"
    load=$(jq -r '.machine["loadavg-at-start"][0] // 0 | . * 100 | round / 100' "$dir/vm-add.json")
    gnuplot <<GP
set terminal pngcairo size 800,500
set output "$dir/vm-add.png"
set title "one 64 MiB allocation until accepted in every VM (load $load)"
set xlabel "VMs"
set ylabel "ms"
set logscale x 2
set key top left
set grid
plot "$tmp/vm-add.dat" using 1:2 with linespoints title "broker p50", \
     "$tmp/vm-add.dat" using 1:3 with linespoints title "broker p99", \
     "$tmp/vm-add.dat" using 1:4 with linespoints title "upstream p50", \
     "$tmp/vm-add.dat" using 1:5 with linespoints title "upstream p99"
GP
    echo "plot: $dir/vm-add.png"
fi

if [ -f "$dir/guest-access.json" ]; then
    jq -r '.results[] | "\(.test) \(.ram_ns_median) \(.extent_ns_median) \(.slow_ns_median)"' \
        "$dir/guest-access.json" >"$tmp/guest-access.dat"
    load=$(jq -r '.loadavg[0] // 0 | . * 100 | round / 100' "$dir/guest-access.json")
    gnuplot <<GP
set terminal pngcairo size 800,500
set output "$dir/guest-access.png"
set title "ns per 8-byte access in a real guest under TCG, median (load $load)"
set ylabel "ns (log)"
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid y
plot "$tmp/guest-access.dat" using 2:xtic(1) title "guest RAM", \
     "" using 3 title "extent (direct)", \
     "" using 4 title "slow path"
GP
    echo "plot: $dir/guest-access.png"
fi

if [ -f "$dir/guest-add.json" ]; then
    for f in guest-add guest-add-1ms; do
        [ -f "$dir/$f.json" ] || continue
        jq -r '.results[] | "\(.guests) \(.add_ms_p50) \(.add_ms_p99) \(.release_ms_p50) \(.release_ms_p99)"' \
            "$dir/$f.json" >"$tmp/$f.dat"
    done
    [ -f "$tmp/guest-add-1ms.dat" ] || cp "$tmp/guest-add.dat" "$tmp/guest-add-1ms.dat"
    load=$(jq -r '.loadavg[0] // 0 | . * 100 | round / 100' "$dir/guest-add.json")
    gnuplot <<GP
set terminal pngcairo size 800,500
set output "$dir/guest-add.png"
set title "extent add / release until done in N real guests (load $load)"
set xlabel "guests"
set ylabel "ms"
set logscale x 2
set key top left
set grid
plot "$tmp/guest-add.dat" using 1:2 with linespoints title "add p50 (poll 5 ms)", \
     "$tmp/guest-add.dat" using 1:3 with linespoints title "add p99 (poll 5 ms)", \
     "$tmp/guest-add.dat" using 1:5 with linespoints title "release p99 (poll 5 ms)", \
     "$tmp/guest-add-1ms.dat" using 1:2 with linespoints title "add p50 (poll 1 ms)", \
     "$tmp/guest-add-1ms.dat" using 1:3 with linespoints title "add p99 (poll 1 ms)", \
     30 with lines dashtype 2 title "hot-plug attach, published: about 30 ms"
GP
    echo "plot: $dir/guest-add.png"
fi

if [ -f "$dir/cluster-scale.json" ]; then
    # brokers, then p50 and p99 in ms of: same-node add, cross-node add
    # (none with one broker: "?"), etcd's own write (in the same phase)
    jq -r '.sets[] | [.brokers,
           (.["same-node"].add["p50-us"] / 1000),
           (.["same-node"].add["p99-us"] / 1000),
           (if .["cross-node"] then .["cross-node"].add["p50-us"] / 1000
            else "?" end),
           (if .["cross-node"] then .["cross-node"].add["p99-us"] / 1000
            else "?" end),
           (.["same-node"]["etcd-write"]["p50-us"] / 1000),
           (.["same-node"]["etcd-write"]["p99-us"] / 1000)] |
           map(tostring) | join(" ")' \
        "$dir/cluster-scale.json" >"$tmp/cluster-scale.dat"
    load=$(jq -r '.machine["loadavg-at-start"][0] // 0 | . * 100 | round / 100' "$dir/cluster-scale.json")
    gnuplot <<GP
set terminal pngcairo size 800,500
set output "$dir/cluster-scale.png"
set title "extent add in a cluster vs etcd's own write (2 cores, load $load)"
set xlabel "brokers (one etcd of 3 members, one machine)"
set ylabel "ms (log)"
set logscale x 2
set logscale y
set datafile missing "?"
set key top left
set grid
plot "$tmp/cluster-scale.dat" using 1:2 with linespoints title "same-node add p50", \
     "$tmp/cluster-scale.dat" using 1:3 with linespoints title "same-node add p99", \
     "$tmp/cluster-scale.dat" using 1:4 with linespoints title "cross-node add p50", \
     "$tmp/cluster-scale.dat" using 1:5 with linespoints title "cross-node add p99", \
     "$tmp/cluster-scale.dat" using 1:6 with linespoints dashtype 2 title "etcd write p50", \
     "$tmp/cluster-scale.dat" using 1:7 with linespoints dashtype 2 title "etcd write p99"
GP
    echo "plot: $dir/cluster-scale.png"
    # What an add costs: etcd requests and watch messages per add, and
    # the add in etcd writes over the journal's single broker.
    jq -r '.sets[] | [.brokers,
           .["same-node"]["etcd-requests-per-add"],
           .["same-node"]["etcd-watch-messages-per-add"],
           .["same-node"]["extra-round-trips-vs-journal"],
           (.["cross-node"]["etcd-requests-per-add"] // "?"),
           (.["cross-node"]["etcd-watch-messages-per-add"] // "?"),
           (.["cross-node"]["extra-round-trips-vs-journal"] // "?")] |
           map(tostring) | join(" ")' \
        "$dir/cluster-scale.json" >"$tmp/cluster-cost.dat"
    gnuplot <<GP
set terminal pngcairo size 800,500
set output "$dir/cluster-scale-cost.png"
set title "per extent add: etcd requests, watch messages, extra round trips"
set xlabel "brokers"
set ylabel "per add (log)"
set logscale x 2
set logscale y
set datafile missing "?"
set key top left
set grid
plot "$tmp/cluster-cost.dat" using 1:2 with linespoints title "etcd requests, same-node", \
     "$tmp/cluster-cost.dat" using 1:5 with linespoints title "etcd requests, cross-node", \
     "$tmp/cluster-cost.dat" using 1:3 with linespoints title "watch messages sent, same-node", \
     "$tmp/cluster-cost.dat" using 1:6 with linespoints title "watch messages sent, cross-node", \
     "$tmp/cluster-cost.dat" using 1:4 with linespoints dashtype 2 title "extra round trips (latency), same-node", \
     "$tmp/cluster-cost.dat" using 1:7 with linespoints dashtype 2 title "extra round trips (latency), cross-node"
GP
    echo "plot: $dir/cluster-scale-cost.png"
fi
