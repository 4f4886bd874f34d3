#!/usr/bin/env bash
# load.sh — the load run of `make bench`: how many concurrent calls ivrd
# holds with clean 20 ms pacing on this machine, and what a call costs.
#
# ivrd (bin/ivrd, built by `make build`) runs the bench flow (bench/flows):
# a long menu prompt, key 1 to a queue with looping hold audio, so every
# caller hears audio all the time. For each plateau N, sipp places N calls at
# RATE per second (bench/sipp/load.xml: INVITE PCMU + telephone-event, ACK,
# RFC 4733 "1" after 2 s, hold, BYE); once ivrd holds them, loadprobe places
# PROBES calls of its own, records the kernel arrival time of their RTP
# packets for WINDOW seconds and reads ivrd's CPU, memory and goroutines.
# Everything runs on loopback on this machine: sipp and the probe take CPU
# from ivrd.
#
# Settings (environment): PLATEAUS="500 1000 2000" RATE=100 WINDOW=20 PROBES=20
# SETTLE=5 (seconds at the plateau before measuring) BASE_PORT=25000 (SIP
# BASE_PORT+60, HTTP BASE_PORT+80, sipp BASE_PORT+62 and media BASE_PORT+64)
# RTP_PORTS=10000-24998. The summary goes to stdout and data/bench/latest.txt;
# the run's files stay in data/bench/<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."

PLATEAUS=${PLATEAUS:-"500 1000 2000"}
RATE=${RATE:-100}
WINDOW=${WINDOW:-20}
PROBES=${PROBES:-20}
SETTLE=${SETTLE:-5}
BASE_PORT=${BASE_PORT:-25000}
RTP_PORTS=${RTP_PORTS:-10000-24998}
NAME=load
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
new_run ""

echo "load: ivrd on $SIP_ADDR, run folder $RUN"
start_ivrd
sleep 2
"$RUN/loadprobe" idle -pid "$IVRD_PID" -health "$HEALTH" -out "$RUN/idle.json"

for n in $PLATEAUS; do
	ramp=$(( (n + RATE - 1) / RATE ))
	# Every call lasts through the ramp, the settling time, the probe window
	# and a margin, so the plateau holds while the probe measures.
	hold_s=$(( ramp + SETTLE + WINDOW + 10 ))
	echo "load: plateau $n: sipp $RATE calls/s up to $n, each held ${hold_s} s"
	sipp -sf bench/sipp/load.xml -s "$NUMBER" -i 127.0.0.1 -p "$SIPP_PORT" -mp "$SIPP_MEDIA" \
		-r "$RATE" -l "$n" -m "$n" -d "$((hold_s * 1000))" \
		-trace_stat -stf "$RUN/sipp-$n.csv" -fd 1 \
		-timeout "$(( hold_s + 2 * ramp + 60 ))" -timeout_error -nostdin \
		"$SIP_ADDR" >"$RUN/sipp-$n.out" 2>&1 &
	SIPP_PID=$!
	"$RUN/loadprobe" measure -pid "$IVRD_PID" -sipp-pid "$SIPP_PID" -health "$HEALTH" \
		-sip "$SIP_ADDR" -number "$NUMBER" -want "$n" -wait "$(( ramp + 30 ))s" -settle "${SETTLE}s" \
		-calls "$PROBES" -window "${WINDOW}s" -out "$RUN/plateau-$n.json" ||
		echo "load: plateau $n: probe failed" >&2
	wait "$SIPP_PID" || echo "load: plateau $n: sipp exited with $? (see $RUN/sipp-$n.out)" >&2
	SIPP_PID=
	for _ in $(seq 60); do
		[ "$(active_calls)" = 0 ] && break
		sleep 0.5
	done
done

"$RUN/loadprobe" report -dir "$RUN" | tee "$RUN/summary.txt"
cp "$RUN/summary.txt" data/bench/latest.txt
echo "load: summary in data/bench/latest.txt, run files in $RUN"
