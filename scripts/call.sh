#!/usr/bin/env bash
# call.sh [NUMBER] — call the local ivrd with baresip. Type digits then Enter
# to send them as RFC 4733 DTMF; type q then Enter to hang up and quit.
# What ivrd plays is written to data/calls/dump-*-dec.wav.
set -euo pipefail
cd "$(dirname "$0")/.."
NUMBER="${1:-3900}"
TARGET="${IVRD_SIP:-127.0.0.1:5060}"
scripts/install-deps.sh baresip-core sox
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p data/calls
sox -q -n -r 8000 -c 1 -b 16 "$dir/silence.wav" trim 0 600
cat >"$dir/config" <<CONF
poll_method		poll
sip_listen		127.0.0.1:0
snd_path		$PWD/data/calls
audio_source		aufile,$dir/silence.wav
audio_alert		aufile,/dev/null
audio_srate		8000
audio_channels		1
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			aufile.so
module			sndfile.so
module_app		account.so
module_app		menu.so
CONF
echo "<sip:caller@127.0.0.1>;regint=0" >"$dir/accounts"
echo "calling sip:$NUMBER@$TARGET — type digits + Enter to press keys, q + Enter to hang up"
exec baresip -n 127.0.0.1 -f "$dir" -e "/dial sip:$NUMBER@$TARGET"
