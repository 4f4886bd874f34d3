#!/usr/bin/env bash
# purge-load.sh — the purge benchmark of `make bench`: the retention purge
# of 100,000 expired recordings (rows and files) while ivrd holds calls, and
# what it does to their 20 ms pacing.
#
# The store is seeded (bench/cmd/seedrecordings) with N recordings that
# expire shortly after the calls are up. sipp then places CALLS calls of the
# bench flow; loadprobe measures the pacing of its own probe calls for
# WINDOW seconds with no purge (baseline), then again while ivrd's own
# purger, which wakes when the first of them expires, deletes them.
# Everything runs on loopback on this machine.
#
# Settings (environment): N=100000 CALLS=1000 RATE=100 WINDOW=20 PROBES=20
# BASE_PORT=26000 RTP_PORTS=10000-24998. The summary goes to stdout and
# data/bench/purge-latest.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
CALLS=${CALLS:-1000}
RATE=${RATE:-100}
WINDOW=${WINDOW:-20}
PROBES=${PROBES:-20}
BASE_PORT=${BASE_PORT:-26000}
RTP_PORTS=${RTP_PORTS:-10000-24998}
NAME=purge-load
# Deletions are logged at info, with their count and time.
LOG_LEVEL=info
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
new_run purge-
go build -o "$RUN/seedrecordings" ./bench/cmd/seedrecordings

ramp=$(( (CALLS + RATE - 1) / RATE ))
# The recordings expire once the calls are up and the baseline is measured.
expire_in=$(( ramp + WINDOW + 60 ))
echo "purge-load: seeding $N recordings expiring in ${expire_in}s"
"$RUN/seedrecordings" -db "$RUN/data/ivrd.db" -dir "$RUN/data/recordings" -n "$N" -expire-in "${expire_in}s"
t_seeded=$(date +%s)

start_ivrd

hold_s=$(( expire_in + 2 * WINDOW + 120 ))
echo "purge-load: sipp $RATE calls/s up to $CALLS, each held ${hold_s} s"
sipp -sf bench/sipp/load.xml -s "$NUMBER" -i 127.0.0.1 -p "$SIPP_PORT" -mp "$SIPP_MEDIA" \
	-r "$RATE" -l "$CALLS" -m "$CALLS" -d "$((hold_s * 1000))" -fd 1 \
	-timeout "$(( hold_s + 2 * ramp + 60 ))" -timeout_error -nostdin \
	"$SIP_ADDR" >"$RUN/sipp.out" 2>&1 &
SIPP_PID=$!

echo "purge-load: baseline window (${WINDOW}s, no purge)"
"$RUN/loadprobe" measure -pid "$IVRD_PID" -sipp-pid "$SIPP_PID" -health "$HEALTH" \
	-sip "$SIP_ADDR" -number "$NUMBER" -want "$CALLS" -wait "$(( ramp + 30 ))s" -settle 5s \
	-calls "$PROBES" -window "${WINDOW}s" -out "$RUN/baseline.json"

# Measure from just before the expiry, while ivrd's purger runs.
now=$(date +%s)
left=$(( t_seeded + expire_in - 2 - now ))
[ "$left" -gt 0 ] && sleep "$left"
echo "purge-load: purge window (${WINDOW}s; the recordings expire 2 s in and ivrd purges them)"
"$RUN/loadprobe" measure -pid "$IVRD_PID" -sipp-pid "$SIPP_PID" -health "$HEALTH" \
	-sip "$SIP_ADDR" -number "$NUMBER" -want "$CALLS" -wait 10s -settle 0s \
	-calls "$PROBES" -window "${WINDOW}s" -out "$RUN/purge.json"
# The purge may go on after the window: wait for the last file.
for _ in $(seq 300); do
	[ -z "$(find "$RUN/data/recordings" -type f -name '*.wav' -print -quit)" ] && break
	sleep 1
done
left_rows=$(find "$RUN/data/recordings" -type f -name '*.wav' | wc -l)
purged=$(grep 'msg="recordings purged"' "$RUN/ivrd.log" | sed -n 's/.* purged=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
took=$(grep 'msg="recordings purged"' "$RUN/ivrd.log" | sed -n 's/.* took=\([^ ]*\).*/\1/p' | paste -sd' ' -)

{
	echo "Purge of $N expired recordings (rows and files) by ivrd's purger while it holds $CALLS calls (sipp), $(nproc) CPUs, loopback."
	echo "recordings purged: ${purged:-0} in runs taking ${took:-?}; files left: $left_rows"
	echo
	"$RUN/loadprobe" compare -files "no purge=$RUN/baseline.json,during purge=$RUN/purge.json"
} | tee "$RUN/summary.txt"
cp "$RUN/summary.txt" data/bench/purge-latest.txt
echo "purge-load: summary in data/bench/purge-latest.txt, run files in $RUN"
