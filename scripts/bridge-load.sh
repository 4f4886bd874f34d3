#!/usr/bin/env bash
# bridge-load.sh — the bridged-call run of `make bench`: ivrd holds N callers
# bridged to N agents' SIP phones and relays their RTP both ways; how evenly
# it relays (20 ms pacing of what the phones receive, beside the phones' own
# pacing and the transit through ivrd) and what a relayed packet costs.
#
# ivrd (bin/ivrd) runs the bridge flow (bench/flows/bridge.yaml: 4001 goes
# straight to a queue) with agents agent-0001..agent-N, no wrap-up, made
# available through the supervisor API, whose phones are PHONES sipp
# processes (bench/sipp/bridge-agent.xml: answer every INVITE ivrd sends,
# agent i on process (i-1) mod PHONES). PHONES more sipp processes place N
# calls in all at RATE per second (bench/sipp/bridge-caller.xml). Both
# sides send 20 ms PCMU for the whole call with sipp's rtp_stream, which
# plays the streams of 20 calls per thread from ordinary UDP sockets. (Its
# play_pcap_audio sends from a raw socket per call, and Linux hands every
# UDP datagram to the host's address to every raw UDP socket: at 500 calls
# on loopback the kernel spends the machine copying them, calls time out.)
# rtp_stream sends every stream of a process on the same 20 ms boundaries of
# the process's millisecond clock, catching up in bursts when late: the
# phones' own pacing is off by more than 2 ms at p99, and each process
# delivers its calls' packets to ivrd in one burst per 20 ms. Several
# processes a side, started a few milliseconds apart, spread those bursts
# over the 20 ms as independent phones would be; the capture below
# measures the phones' pacing apart from ivrd's. Once every agent is
# bridged and SETTLE seconds have passed, two windows of WINDOW seconds:
#
#   1. ivrd's CPU time, memory and goroutines, and the sipps' CPU, with
#      nothing else running;
#   2. the same while tcpdump captures the RTP of both sipps on loopback.
#
# ivrd's SIP is captured from before the first call, to learn which RTP
# ports make up each call. loadprobe relay then reads the captures: every
# datagram carries the kernel's timestamp of when it crossed the loopback
# interface — when the sender handed it over and, within microseconds,
# when it reached the receiver's socket — so one clock gives, for every
# stream of every call, the intervals of what ivrd relays as the phone
# receives them, the intervals of what the other phone sent (sipp's own
# pacing), and each packet's transit through ivrd. A probe placing a few
# calls of its own would see a sample of the streams, and its own sending
# would stand in for the phones'; the capture sees them all, on the
# kernel's clock. Its cost lands partly on ivrd (the capture hook runs in
# each sendto), which is why window 1 measures the CPU without it: the
# report gives ivrd's CPU per relayed packet in both.
#
# Everything runs on loopback on this machine: the sipps and tcpdump take
# CPU from ivrd.
#
# Settings (environment): PLATEAUS="500" RATE=50 WINDOW=20 SETTLE=5
# PHONES=2 (sipp processes a side) BASE_PORT=27000 (ivrd SIP BASE_PORT+60,
# HTTP +80; callers' sipp j SIP +100+10j, RTP +104+10j; agents' sipp j SIP
# +200+10j, RTP +204+10j) RTP_PORTS=10000-24998 PROFILE=0
# (1: a CPU profile of ivrd over window 1, cpu-N.pprof) KEEP_PCAP=0 (1:
# keep the RTP capture, about 7 MB a second at 500 calls). The summary goes
# to stdout and data/bench/latest-bridge.txt; the run's files stay in
# data/bench/bridge-<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PLATEAUS=${PLATEAUS:-500}
RATE=${RATE:-50}
WINDOW=${WINDOW:-20}
SETTLE=${SETTLE:-5}
BASE_PORT=${BASE_PORT:-27000}
RTP_PORTS=${RTP_PORTS:-10000-24998}
PHONES=${PHONES:-2}
PROFILE=${PROFILE:-0}
KEEP_PCAP=${KEEP_PCAP:-0}
NAME=bridge-load

# tcpdump reads the loopback interface; the test dependencies do not hold it.
scripts/install-deps.sh tcpdump
command -v sox >/dev/null || { echo "$NAME: sox not found (make test-deps)" >&2; exit 1; }
TCPDUMP=(tcpdump)
[ "$(id -u)" -eq 0 ] || TCPDUMP=(sudo -n tcpdump)

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

# An admin's token sets the agents' states and, with PROFILE=1, reads the
# CPU profile (admins only); only its hash goes in the configuration.
token_out=$("$IVRD_BIN" token bench admin)
TOKEN=$(sed -n 2p <<<"$token_out")
HTTP_USERS="{name: bench, role: admin, token_sha256: $(sed -n 's/.*token_sha256: \([0-9a-f]*\).*/\1/p' <<<"$token_out")}"
[ "$PROFILE" = 1 ] && PPROF=true

# As many agents as the largest plateau; each plateau makes the first N
# available. Offers last long enough for any ramp; no wrap-up, and a phone
# that does not answer leaves its agent available (none should).
max_n=0
for n in $PLATEAUS; do max_n=$(( n > max_n ? n : max_n )); done
# The phones' sipp processes, PHONES a side: SIP on one port, RTP on
# another (and the next but one, which sipp binds for video).
caller_sip() { echo $((BASE_PORT + 100 + 10 * $1)); }
caller_media() { echo $((BASE_PORT + 104 + 10 * $1)); }
agent_sip() { echo $((BASE_PORT + 200 + 10 * $1)); }
agent_media() { echo $((BASE_PORT + 204 + 10 * $1)); }
EXTRA_CONFIG="routing:
  offer_timeout: 60s
  wrap_up: 0s
  no_answer: available
  agents:
$(for i in $(seq "$max_n"); do
	printf '    - {name: agent-%04d, phone: "sip:agent@127.0.0.1:%d"}\n' "$i" "$(agent_sip $(( (i - 1) % PHONES )))"
done)"
new_run bridge-
(umask 077 && printf '%s\n' "$TOKEN" >"$RUN/token" && printf 'Authorization: Bearer %s\n' "$TOKEN" >"$RUN/auth-header")
API=http://$HTTP_ADDR

# The phones' audio, read by sipp's rtp_stream from its working directory
# (the run folder): raw μ-law, looped. Noise rather than a tone: no two
# packets of a stream start alike, so the analysis matches each relayed
# packet to the one it carries by its first bytes (the capture keeps 10).
sox -n -r 8000 -c 1 -t ul "$RUN/caller.ul" synth 10 whitenoise vol 0.3
sox -n -r 8000 -c 1 -t ul "$RUN/agent.ul" synth 10 whitenoise vol 0.3

echo "$NAME: ivrd on $SIP_ADDR, run folder $RUN"
start_ivrd
sleep 2
"$RUN/loadprobe" idle -pid "$IVRD_PID" -health "$HEALTH" -out "$RUN/idle.json"

# count N J: how many of N calls (or agents) fall to phone process J: agent
# i (1..N) is on process (i-1) mod PHONES.
count() { echo $(( $1 / PHONES + ($2 < $1 % PHONES ? 1 : 0) )); }

for n in $PLATEAUS; do
	ramp=$(( (n + RATE - 1) / RATE ))
	# Every call lasts through the ramp, the settling time, both windows and
	# a margin, so the plateau holds while they measure.
	hold_s=$(( ramp + SETTLE + 2 * WINDOW + 20 ))
	echo "$NAME: plateau $n: agents available, $PHONES+$PHONES sipp, $RATE calls/s up to $n, each held ${hold_s} s"
	"$RUN/loadprobe" agents -api "$API" -token-file "$RUN/token" -n "$n" -state available

	"${TCPDUMP[@]}" -i lo -n -s 0 -B 16384 -U -w "$RUN/sip-$n.pcap" "udp and port ${SIP_ADDR##*:}" \
		2>"$RUN/sip-$n.log" &
	SIP_CAP=$!
	EXTRA_PIDS="$SIP_CAP"
	agents= callers= media=
	for j in $(seq 0 $((PHONES - 1))); do
		(cd "$RUN" && exec sipp -sf "$ROOT/bench/sipp/bridge-agent.xml" -i 127.0.0.1 \
			-p "$(agent_sip "$j")" -mp "$(agent_media "$j")" -m "$(count "$n" "$j")" \
			-trace_stat -stf "sipp-agents-$n-$j.csv" -fd 1 \
			-timeout "$(( hold_s + 2 * ramp + 90 ))" -timeout_error -nostdin \
			>"sipp-agents-$n-$j.out" 2>&1) &
		agents="$agents${agents:++}$!"
		media="$media${media:+ or }port $(agent_media "$j")"
		EXTRA_PIDS="$EXTRA_PIDS $!"
		sleep 0.007 # each sipp paces its streams on a clock of its own: spread them
	done
	sleep 2 # all listening before the first call
	for j in $(seq 0 $((PHONES - 1))); do
		# RATE calls every PHONES seconds each: RATE a second in all.
		(cd "$RUN" && exec sipp -sf "$ROOT/bench/sipp/bridge-caller.xml" -s 4001 -key phone "$j" -i 127.0.0.1 \
			-p "$(caller_sip "$j")" -mp "$(caller_media "$j")" \
			-r "$RATE" -rp "$((PHONES * 1000))" -l "$(count "$n" "$j")" -m "$(count "$n" "$j")" -d "$((hold_s * 1000))" \
			-trace_stat -stf "sipp-callers-$n-$j.csv" -fd 1 \
			-timeout "$(( hold_s + 2 * ramp + 60 ))" -timeout_error -nostdin \
			"$SIP_ADDR" >"sipp-callers-$n-$j.out" 2>&1) &
		callers="$callers${callers:++}$!"
		media="$media or port $(caller_media "$j")"
		EXTRA_PIDS="$EXTRA_PIDS $!"
		sleep 0.011
	done

	"$RUN/loadprobe" bridged -api "$API" -token-file "$RUN/token" -want "$n" -wait "$(( ramp + 30 ))s" >/dev/null ||
		echo "$NAME: plateau $n: not every agent bridged" >&2
	sleep "$SETTLE"
	procs="callers=$callers,agents=$agents"

	echo "$NAME: plateau $n: window 1 (${WINDOW}s, no capture)"
	prof=
	if [ "$PROFILE" = 1 ]; then
		curl -fsS --max-time "$(( WINDOW + 10 ))" -o "$RUN/cpu-$n.pprof" \
			-H @"$RUN/auth-header" "http://$HTTP_ADDR/debug/pprof/profile?seconds=$WINDOW" &
		prof=$!
	fi
	"$RUN/loadprobe" window -pid "$IVRD_PID" -procs "$procs" -health "$HEALTH" -api "$API" \
		-token-file "$RUN/token" -window "${WINDOW}s" -label "no capture" -out "$RUN/nocap-$n.json"
	[ -z "$prof" ] || wait "$prof" || echo "$NAME: plateau $n: no CPU profile" >&2

	echo "$NAME: plateau $n: window 2 (${WINDOW}s, RTP captured)"
	# Headers and 10 bytes of payload (54 bytes of headers on loopback's
	# Ethernet framing), nanosecond timestamps, a large kernel buffer so that
	# the capture keeps up.
	"${TCPDUMP[@]}" -i lo -n -s 64 -B 131072 --time-stamp-precision=nano -w "$RUN/rtp-$n.pcap" \
		"udp and ($media)" 2>"$RUN/rtp-$n.log" &
	RTP_CAP=$!
	EXTRA_PIDS="$EXTRA_PIDS $RTP_CAP"
	sleep 2 # the capture is running before the window opens
	"$RUN/loadprobe" window -pid "$IVRD_PID" -procs "$procs,capture=$RTP_CAP" -health "$HEALTH" -api "$API" \
		-token-file "$RUN/token" -window "${WINDOW}s" -label "capture" -out "$RUN/cap-$n.json"
	sleep 1
	kill -INT "$RTP_CAP" "$SIP_CAP"
	wait "$RTP_CAP" "$SIP_CAP" || true

	for pid in ${callers//+/ } ${agents//+/ }; do
		wait "$pid" || echo "$NAME: plateau $n: a sipp exited with $? (see $RUN/sipp-*-$n-*.out)" >&2
	done
	EXTRA_PIDS=
	for _ in $(seq 60); do
		[ "$(active_calls)" = 0 ] && break
		sleep 0.5
	done
	"$RUN/loadprobe" agents -api "$API" -token-file "$RUN/token" -n "$n" -state away

	echo "$NAME: plateau $n: reading the captures"
	"$RUN/loadprobe" relay -sip "$RUN/sip-$n.pcap" -rtp "$RUN/rtp-$n.pcap" -ivrd-sip "$SIP_ADDR" \
		-window "$RUN/cap-$n.json" -out "$RUN/relay-$n.json" ||
		echo "$NAME: plateau $n: reading the captures failed" >&2
	[ "$KEEP_PCAP" = 1 ] || rm -f "$RUN/rtp-$n.pcap"
done

"$RUN/loadprobe" bridge-report -dir "$RUN" | tee "$RUN/summary.txt"
cp "$RUN/summary.txt" data/bench/latest-bridge.txt
echo "$NAME: summary in data/bench/latest-bridge.txt, run files in $RUN"
