package asterisk_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

type ariBridge struct {
	ID       string   `json:"id"`
	Type     string   `json:"bridge_type"`
	Name     string   `json:"name"`
	Channels []string `json:"channels"`
}

// A caller waiting in ivrd's queue sits in a holding bridge of its own with
// music on hold and the flow's hold prompt as announcement; keys pressed
// there reach the engine; the bridge is gone once the caller hangs up.
func TestHoldInBridge(t *testing.T) {
	e := start(t, nil, false, func(c *asterisk.Config) { c.AnnounceEvery = 500 * time.Millisecond })
	type seen struct {
		bridge ariBridge
		show   string // CLI bridge show
		err    error
	}
	got := make(chan seen, 1)
	go func() {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			recs, _ := e.calls.ListCalls(context.Background(), store.CallFilter{})
			if len(recs) == 1 && recs[0].Outcome == ivr.OutcomeQueued {
				var bridges []ariBridge
				if err := ariGet(e.ast, "/bridges", &bridges); err != nil {
					got <- seen{err: err}
					return
				}
				for _, b := range bridges {
					if !slices.Contains(b.Channels, recs[0].ID) {
						continue
					}
					// The music comes from an Announcer channel that ARI
					// puts in the bridge just after the caller; ARI lists
					// only the caller, the CLI shows both.
					out, err := e.ast.CLI("bridge show " + b.ID)
					if err != nil || strings.Contains(out, "Announcer/ARI_MOH-") {
						got <- seen{bridge: b, show: out, err: err}
						return
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		got <- seen{err: errors.New("the queued call was never seen in a bridge with music on hold")}
	}()
	runSipp(t, e.ast, "uac_key1_hold_key2_bye.xml", "3900")
	s := <-got
	if s.err != nil {
		t.Fatal(s.err)
	}
	if s.bridge.Type != "holding" || s.bridge.Name != "ivrd-hold:"+e.ast.App || len(s.bridge.Channels) != 1 {
		t.Errorf("bridge %+v, want a holding bridge named ivrd-hold:%s with the caller alone", s.bridge, e.ast.App)
	}
	if !strings.Contains(s.show, "Channel: PJSIP/callers-") {
		t.Errorf("bridge show %s:\n%s\nwant the caller's channel", s.bridge.ID, s.show)
	}
	// The flow's hold prompt (beep, 1 s of silence) is announced, then the
	// music plays for AnnounceEvery, then the prompt again.
	if err := inOrder(e.ast.Log(),
		"Channel PJSIP/callers-00000000 joined 'holding_bridge'",
		"<Announcer/ARI-00000000;1> Playing 'beep.slin'",
		"Started music on hold, class 'default'",
		"Playing 'beep.slin'",
	); err != nil {
		t.Errorf("hold in Asterisk's log: %v\n%s", err, e.ast.Log())
	}

	rec := e.lastCall(t, ivr.OutcomeAbandoned)
	if rec.Queue != "sales" || rec.QueueWait <= 0 {
		t.Errorf("record queue %q wait %v, want sales and a wait", rec.Queue, rec.QueueWait)
	}
	// The 2 came while the caller was in the bridge.
	if rec.Digits != "12" {
		t.Errorf("record digits %q, want 12: a key pressed on hold must reach the engine", rec.Digits)
	}
	var bridges []ariBridge
	if err := ariGet(e.ast, "/bridges", &bridges); err != nil {
		t.Fatal(err)
	}
	if len(bridges) != 0 {
		t.Errorf("bridges after the caller hung up: %+v, want none", bridges)
	}
}

// ariGet decodes the answer of GET path on the test Asterisk's ARI.
func ariGet(ast *asterisktest.Asterisk, path string, out any) error {
	req, err := http.NewRequest(http.MethodGet, ast.ARIURL+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(ast.User, ast.Password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return errors.New("GET " + path + ": " + res.Status + ": " + string(b))
	}
	return json.Unmarshal(b, out)
}

// Holding bridges an ivrd left behind (it stopped before destroying them)
// are destroyed when the driver connects; other bridges are not touched.
func TestStaleHoldingBridgesDestroyed(t *testing.T) {
	ast := asterisktest.Start(t, asterisktest.Options{})
	for id, name := range map[string]string{"stale": "ivrd-hold:" + ast.App, "other": "conference"} {
		if err := ariPost(ast, "/bridges/"+id+"?type=holding&name="+url.QueryEscape(name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	drv, err := asterisk.New(asterisk.Config{
		URL: ast.ARIURL, WSURL: ast.WSURL, User: ast.User, Password: ast.Password, App: ast.App,
		Handler: func(context.Context, ivr.Call) {},
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = drv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitApp(t, ast)

	deadline := time.Now().Add(5 * time.Second)
	var ids []string
	for time.Now().Before(deadline) {
		var bridges []ariBridge
		if err := ariGet(ast, "/bridges", &bridges); err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, b := range bridges {
			ids = append(ids, b.ID)
		}
		if slices.Equal(ids, []string{"other"}) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("bridges %q after the driver connected, want only %q", ids, "other")
}

func ariPost(ast *asterisktest.Asterisk, path string) error {
	req, err := http.NewRequest(http.MethodPost, ast.ARIURL+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(ast.User, ast.Password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(res.Body)
		return errors.New("POST " + path + ": " + res.Status + ": " + string(b))
	}
	return nil
}

// inOrder checks that log holds the lines in this order.
func inOrder(log string, lines ...string) error {
	for _, l := range lines {
		i := strings.Index(log, l)
		if i < 0 {
			return errors.New("no " + strconv.Quote(l) + " after the lines before it")
		}
		log = log[i+len(l):]
	}
	return nil
}
