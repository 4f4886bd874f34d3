# bench-lib.sh — what the load runs of `make bench` (load.sh, purge-load.sh,
# bridge-load.sh) share: addresses, checks, the run folder, ivrd's
# configuration, starting and stopping ivrd. Sourced, not run; the caller
# sets NAME (for messages), BASE_PORT and RTP_PORTS, and may set LOG_LEVEL
# (default warn), HTTP_USERS (entries of http.users), PPROF (true serves
# /debug/pprof/), EXTRA_CONFIG (more top-level sections of ivrd.yaml) and
# EXTRA_PIDS (more processes to stop on exit).

SIP_ADDR=127.0.0.1:$((BASE_PORT + 60))
HTTP_ADDR=127.0.0.1:$((BASE_PORT + 80))
SIPP_PORT=$((BASE_PORT + 62))
SIPP_MEDIA=$((BASE_PORT + 64))
HEALTH=http://$HTTP_ADDR/healthz
NUMBER=4000

for tool in sipp espeak-ng curl go; do
	command -v "$tool" >/dev/null || { echo "$NAME: $tool not found (make test-deps)" >&2; exit 1; }
done
IVRD_BIN=${IVRD_BIN:-bin/ivrd}
[ -x "$IVRD_BIN" ] || { echo "$NAME: $IVRD_BIN missing (make build)" >&2; exit 1; }

# new_run makes the run folder data/bench/<prefix><date> (RUN), builds the
# probe into it and writes ivrd's configuration for the bench flow.
new_run() {
	RUN=data/bench/$1$(date +%Y%m%d-%H%M%S)
	mkdir -p "$RUN"
	RUN=$(cd "$RUN" && pwd)
	go build -o "$RUN/loadprobe" ./bench/cmd/loadprobe
	# Each call holds one RTP socket in ivrd.
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	cat >"$RUN/ivrd.yaml" <<YAML
data_dir: $RUN/data
log: {level: ${LOG_LEVEL:-warn}, format: text}
flows: {dir: $PWD/bench/flows, watch: false}
tts: {cache_dir: $PWD/data/bench/tts}
sip:
  udp: $SIP_ADDR
  tcp: ""
  rtp_ports: $RTP_PORTS
  # The load runs' sipp sends no RTP besides the key press; in the bridged
  # run a stalled stream shows in its figures rather than as a hung-up call.
  media_timeout: 0
  # The runs measure how many calls ivrd holds: no limit of its own.
  max_calls: 0
http: {addr: $HTTP_ADDR, pprof: ${PPROF:-false}, users: [${HTTP_USERS:-}]}
shutdown: {drain: 2s}
${EXTRA_CONFIG:-}
YAML
}

IVRD_PID=
SIPP_PID=
EXTRA_PIDS=
cleanup() {
	for pid in $SIPP_PID $EXTRA_PIDS; do
		kill "$pid" 2>/dev/null || true
	done
	if [ -n "$IVRD_PID" ] && kill -0 "$IVRD_PID" 2>/dev/null; then
		kill -TERM "$IVRD_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$IVRD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$IVRD_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT INT TERM

health() { curl -fsS --max-time 2 "$HEALTH" 2>/dev/null || true; }
active_calls() { health | sed -n 's/.*"active_calls":\([0-9]*\).*/\1/p'; }

# start_ivrd starts ivrd on the run's configuration (IVRD_PID) and waits
# until it answers /healthz.
start_ivrd() {
	# Another ivrd (a run still going) would answer the health checks.
	[ -z "$(health)" ] || { echo "$NAME: something already answers on $HTTP_ADDR" >&2; exit 1; }
	"$IVRD_BIN" serve --config "$RUN/ivrd.yaml" >"$RUN/ivrd.log" 2>&1 &
	IVRD_PID=$!
	for i in $(seq 120); do
		[ -n "$(health)" ] && return 0
		kill -0 "$IVRD_PID" 2>/dev/null || { echo "$NAME: ivrd exited:" >&2; cat "$RUN/ivrd.log" >&2; exit 1; }
		[ "$i" -eq 120 ] && { echo "$NAME: ivrd not healthy after 60 s" >&2; exit 1; }
		sleep 0.5
	done
}
