package webtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// page is a page with a button, an input, and two peer connections
// talking to each other on loopback, the first sending the fake
// microphone.
const page = `<!doctype html>
<html><body>
<audio id="speaker" autoplay></audio><input id="name"><button id="go" disabled>Go</button><p id="out"></p>
<script>
document.getElementById('name').addEventListener('input', () => { document.getElementById('go').disabled = false; });
document.getElementById('go').addEventListener('click', () => {
  document.getElementById('out').textContent = 'Bonjour ' + document.getElementById('name').value;
});
window.call = async () => {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  window.pcs = {a, b};
  b.ontrack = (e) => { const au = document.getElementById('speaker'); au.srcObject = e.streams[0]; au.play(); };
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  a.addTrack(mic.getAudioTracks()[0], mic);
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  return 'started';
};
</script>
</body></html>`

func TestPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer srv.Close()
	b := Start(t)
	p := b.NewPage(t)
	p.Open(srv.URL)
	p.Type("#name", "Alice")
	p.Click("#go")
	p.WaitText("#out", "Bonjour Alice")
	if got := p.Text("#out"); got != "Bonjour Alice" {
		t.Errorf("Text = %q", got)
	}
	if got := p.Texts("input, button"); len(got) != 2 || got[1] != "Go" {
		t.Errorf("Texts = %q", got)
	}
	if !p.Visible("#go") || p.Visible("#nothing") {
		t.Error("Visible")
	}

	var started string
	p.Eval("window.call()", &started)
	if started != "started" {
		t.Fatalf("call() = %q", started)
	}
	// The fake microphone beeps: b hears packets with energy.
	st := p.WaitPeerStats("window.pcs.b", "audio received", func(s RTCStats) bool {
		return s.PacketsReceived >= 50 && s.TotalAudioEnergy > 0
	})
	if st.ConnectionState != "connected" || st.InboundCodec == "" || st.RemoteAddress == "" {
		t.Errorf("stats of the receiver: %+v", st)
	}
	if sent := p.PeerStats("window.pcs.a"); sent.PacketsSent < 50 || sent.OutboundCodec == "" {
		t.Errorf("stats of the sender: %+v", sent)
	}
	if _, err := p.peerStats("window.nothing"); err == nil || !strings.Contains(err.Error(), "no peer connection") {
		t.Errorf("stats of no connection: %v", err)
	}
	p.Screenshot(t.TempDir() + "/page.png")
}

// fatalTB records the failure that ends a helper.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// Without Chromium the test fails, and says what to install.
func TestStartWithoutChromium(t *testing.T) {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, WithPath(t.TempDir()+"/chromium"))
	}()
	<-done
	if !strings.Contains(f.msg, "install Debian's chromium package") {
		t.Errorf("failure %q", f.msg)
	}
}
