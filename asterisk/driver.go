package asterisk

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"golang.org/x/net/websocket"

	"github.com/ivrd/ivrd/ivr"
)

// stableConnection is how long a websocket must have stayed up for the
// next reconnection to start again from Backoff.Min.
const stableConnection = 30 * time.Second

// Driver is a Stasis application serving calls from Asterisk.
type Driver struct {
	cfg  Config
	rest *rest
	log  *slog.Logger

	draining atomic.Bool
	handlers sync.WaitGroup

	mu     sync.Mutex
	calls  map[string]*call     // by channel id
	legs   map[string]*leg      // recordings in progress, by name
	agents map[string]*agentLeg // agents' phones rung, by channel id
	// dialouts are the customers called back (Originate), by channel id,
	// from the request until Originate returns; once answered, each is
	// also in calls.
	dialouts map[string]*dialout
	// externals are the ExternalMedia channels of the calls bridged to
	// media ports, by channel id; each signal fires when its channel
	// entered the application.
	externals map[string]*signal
	changed   chan struct{} // closed and replaced when a call ends
	// lingering holds the calls continued in the dialplan whose agent
	// conversation is being recorded, by channel id, until they are gone.
	lingering map[string]*call
	stopping  bool // stop began: no call lingers any more
	// quit fires when stop begins: customers' phones still ringing are
	// cancelled.
	quit *signal
}

// New returns a driver for cfg; it connects when Run is called.
func New(cfg Config) (*Driver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Driver{
		cfg:    cfg,
		rest:   &rest{base: cfg.URL, user: cfg.User, password: cfg.Password, hc: cfg.HTTPClient, timeout: cfg.RequestTimeout},
		log:    cfg.Logger.With("driver", "ari", "app", cfg.App),
		calls:  map[string]*call{},
		legs:   map[string]*leg{},
		agents: map[string]*agentLeg{},

		dialouts:  map[string]*dialout{},
		quit:      newSignal(),
		externals: map[string]*signal{},
		changed:   make(chan struct{}),

		lingering: map[string]*call{},
	}, nil
}

// Run connects to ARI and serves calls until ctx is done. A dropped or
// refused connection is retried with exponential backoff; Run returns only
// when ctx is done, after cancelling the calls still up with
// ivr.ErrShutdown and waiting for their handlers.
func (d *Driver) Run(ctx context.Context) error {
	defer d.stop()
	delay := d.cfg.Backoff.Min
	for {
		started := time.Now()
		err := d.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > stableConnection {
			delay = d.cfg.Backoff.Min
		}
		d.explain(ctx, err, delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, d.cfg.Backoff.Max)
	}
}

// explain logs why the connection failed, asking ARI over REST when the
// websocket alone cannot tell (a refused upgrade carries no reason).
func (d *Driver) explain(ctx context.Context, err error, retry time.Duration) {
	perr := d.rest.ping(ctx)
	switch {
	case errors.Is(perr, ErrUnauthorized):
		d.log.Error("ARI refused the credentials: check ari.user and ari.password against Asterisk's ari.conf",
			"url", d.cfg.URL, "user", d.cfg.User, "retry_in", retry)
	case errors.Is(err, ErrAppNotRegistered):
		d.log.Error("ARI application not registered after connecting; check ari.app and the dialplan's Stasis() application",
			"retry_in", retry)
	case perr != nil:
		d.log.Warn("ARI unreachable; reconnecting", "url", d.cfg.URL, "err", perr, "retry_in", retry)
	default:
		d.log.Warn("ARI events connection lost; reconnecting", "ws_url", d.cfg.WSURL, "err", err, "retry_in", retry)
	}
}

// connect opens the events websocket, checks the application, ends calls
// whose channels vanished while disconnected, and dispatches events until
// the connection drops or ctx is done.
func (d *Driver) connect(ctx context.Context) error {
	wsCfg, err := websocket.NewConfig(d.cfg.WSURL+"?"+url.Values{"app": {d.cfg.App}}.Encode(), "http://localhost/")
	if err != nil {
		return fmt.Errorf("connect ari events: %w", err)
	}
	wsCfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(d.cfg.User+":"+d.cfg.Password)))
	dctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	ws, err := wsCfg.DialContext(dctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect ari events %s: %w", d.cfg.WSURL, err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		ws.Close()
	}()

	ok, err := d.rest.appRegistered(ctx, d.cfg.App)
	if err != nil {
		return fmt.Errorf("check ari application: %w", err)
	}
	if !ok {
		return fmt.Errorf("check ari application %q: %w", d.cfg.App, ErrAppNotRegistered)
	}
	d.log.Info("ARI connected; route calls with Stasis("+d.cfg.App+",${EXTEN})", "url", d.cfg.URL)
	d.reconcile(ctx)
	d.reconcileAgents(ctx)
	d.reconcileDialouts(ctx)
	d.sweepBridges(ctx)
	d.sweepRecordings(ctx)
	d.sweepAgents(ctx)

	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			return fmt.Errorf("read ari events: %w", err)
		}
		ev, err := ari.DecodeEvent(msg)
		if err != nil {
			// Event types newer than the ari package know are of no use here.
			d.log.Debug("skip ari event", "err", err)
			continue
		}
		d.dispatch(ev)
	}
}

// reconcile ends the calls whose channel is gone and finishes playbacks
// that ended while no events could arrive.
func (d *Driver) reconcile(ctx context.Context) {
	d.mu.Lock()
	calls := make([]*call, 0, len(d.calls))
	for _, c := range d.calls {
		calls = append(calls, c)
	}
	lingering := make([]*call, 0, len(d.lingering))
	for _, c := range d.lingering {
		lingering = append(lingering, c)
	}
	d.mu.Unlock()
	for _, c := range lingering {
		if ok, err := d.rest.channelExists(ctx, c.id); err == nil && !ok {
			c.log.Info("channel continued in the dialplan vanished while ARI was disconnected")
			c.gone.fire()
		}
	}
	for _, c := range calls {
		ok, err := d.rest.channelExists(ctx, c.id)
		switch {
		case err != nil:
			c.log.Warn("check channel after reconnection", "err", err)
		case !ok:
			c.log.Info("channel vanished while ARI was disconnected")
			c.end(ivr.ErrCallerHangup)
			c.gone.fire()
		default:
			c.reconcilePlaybacks(ctx)
		}
	}
}

// dispatch routes one event to its call.
func (d *Driver) dispatch(ev ari.Event) {
	switch e := ev.(type) {
	case *ari.StasisStart:
		switch {
		case isSnoop(e):
			d.snoopEntered(e)
		case isAgent(e):
			d.agentEntered(e)
		case d.isCallback(e):
			d.callbackEntered(e)
		case d.isExternal(e):
			d.externalEntered(e)
		default:
			d.start(e)
		}
	case *ari.RecordingStarted, *ari.RecordingFinished, *ari.RecordingFailed:
		d.recordingEvent(ev)
	case *ari.StasisEnd:
		d.end(e.Channel.ID, ivr.ErrCallerHangup)
		d.snoopEnded(e.Channel.ID)
		d.agentEvent(e)
	case *ari.ChannelHangupRequest:
		d.end(e.Channel.ID, ivr.ErrCallerHangup)
		d.gone(e.Channel.ID)
		d.agentEvent(e)
		d.dialoutEvent(e)
	case *ari.ChannelDestroyed:
		d.end(e.Channel.ID, ivr.ErrCallerHangup)
		d.gone(e.Channel.ID)
		d.snoopEnded(e.Channel.ID)
		d.agentEvent(e)
		d.dialoutEvent(e)
	case *ari.ChannelDtmfReceived:
		if c := d.call(e.Channel.ID); c != nil {
			c.deliver(e.Digit, time.Now())
		}
	case *ari.PlaybackFinished:
		if c := d.playbackCall(e.Playback.TargetURI); c != nil {
			c.finishPlayback(e.Playback.ID)
		}
	case *ari.ApplicationReplaced:
		d.log.Error("another ARI client registered the same application name; this ivrd gets no more calls", "app", d.cfg.App)
	}
}

func (d *Driver) call(id string) *call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[id]
}

// playbackCall returns the call a playback target belongs to: its channel,
// or the holding bridge it waits in.
func (d *Driver) playbackCall(target string) *call {
	if id, ok := strings.CutPrefix(target, "channel:"); ok {
		return d.call(id)
	}
	id, ok := strings.CutPrefix(target, "bridge:")
	if !ok {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.calls {
		if c.holding(id) {
			return c
		}
	}
	return nil
}

func (d *Driver) end(id string, cause error) {
	if c := d.call(id); c != nil {
		c.end(cause)
	}
}

// gone notes that a call's channel is over, whether the call runs in the
// application or was continued in the dialplan.
func (d *Driver) gone(id string) {
	d.mu.Lock()
	c := d.calls[id]
	if c == nil {
		c = d.lingering[id]
	}
	d.mu.Unlock()
	if c != nil {
		c.gone.fire()
	}
}

// start creates the call of a channel entering the application and runs
// the handler in its own goroutine.
func (d *Driver) start(e *ari.StasisStart) {
	ch := e.Channel
	log := d.log.With("call_id", ch.ID)
	if d.draining.Load() {
		log.Info("draining: refusing call")
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), d.cfg.RequestTimeout)
			defer cancel()
			if err := d.rest.hangup(ctx, ch.ID, "congestion"); err != nil {
				log.Warn("refuse call", "err", err)
			}
		}()
		return
	}
	c := newCall(d, e, log)
	d.mu.Lock()
	if _, dup := d.calls[ch.ID]; dup {
		d.mu.Unlock()
		return
	}
	d.calls[ch.ID] = c
	d.mu.Unlock()
	log.Info("call", "from", c.caller, "to", c.dialled, "channel", ch.Name)
	d.handlers.Add(1)
	go d.serve(c)
}

// serve runs the handler of an inbound call.
func (d *Driver) serve(c *call) {
	defer d.handlers.Done()
	_ = d.runCall(c, func() { d.cfg.Handler(c.ctx, c) })
}

// runCall runs handler (if not nil) under recover, then hangs up unless
// the call left for the dialplan, and releases what the handler left: its
// hold, its recordings, its agents' phones. Inbound calls and customers
// called back end the same way. It returns an error when handler
// panicked.
func (d *Driver) runCall(c *call, handler func()) (err error) {
	defer d.remove(c)
	defer c.end(ErrHungUp)
	defer c.unhold()     // a handler that did not stop its hold
	defer d.release(c)   // recordings the handler left running
	defer c.hangupLegs() // agents' phones the handler left up
	if handler != nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					c.log.Error("panic in call handler", "panic", r, "stack", string(debug.Stack()))
					err = fmt.Errorf("call handler panicked: %v", r)
				}
			}()
			handler()
		}()
	}
	if err := c.Hangup(context.Background(), "normal"); err != nil {
		c.log.Info("hang up", "err", err)
	}
	return err
}

// release deals with the recordings the handler left running when it
// returned. Those of a call continued in the dialplan record the agent
// conversation there: they go on until the call is gone, and are stopped
// then (if the engine has not). Any other is stopped now, so that nothing
// of the call stays in Asterisk's spool.
func (d *Driver) release(c *call) {
	c.mu.Lock()
	linger := c.transferred && len(c.recorders) > 0
	c.mu.Unlock()
	d.mu.Lock()
	if linger && !d.stopping && !c.gone.done() {
		d.lingering[c.id] = c
		d.handlers.Add(1)
		d.mu.Unlock()
		c.log.Info("call continued in the dialplan; recording until it hangs up")
		go func() {
			defer d.handlers.Done()
			<-c.gone.c
			d.mu.Lock()
			delete(d.lingering, c.id)
			d.mu.Unlock()
			c.stopRecorders(false)
		}()
		return
	}
	d.mu.Unlock()
	c.gone.fire() // the driver no longer follows the call
	c.stopRecorders(true)
}

func (d *Driver) remove(c *call) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.calls[c.id] == c {
		delete(d.calls, c.id)
		close(d.changed)
		d.changed = make(chan struct{})
	}
	c.log.Info("call ended", "cause", context.Cause(c.ctx))
}

// stop cancels the calls still up and the customers' phones still ringing,
// ends the recordings of the calls continued in the dialplan, and waits
// for their handlers and recordings; then it hangs up the agents' phones
// rung for no call (Driver.Dial) that are still up, so that no phone is
// left ringing by an ivrd that stopped.
func (d *Driver) stop() {
	d.draining.Store(true)
	d.mu.Lock()
	d.stopping = true
	for _, c := range d.calls {
		c.end(ivr.ErrShutdown)
	}
	for _, c := range d.lingering {
		c.gone.fire()
	}
	d.mu.Unlock()
	d.quit.fire()
	d.handlers.Wait()
	d.dropOwnLegs()
}

// Drain makes the driver refuse new calls (hung up with cause congestion)
// while the calls in progress go on.
func (d *Driver) Drain() { d.draining.Store(true) }

// ActiveCalls returns the number of calls being served.
func (d *Driver) ActiveCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// Wait blocks until no call is in progress or ctx is done.
func (d *Driver) Wait(ctx context.Context) error {
	for {
		d.mu.Lock()
		n, changed := len(d.calls), d.changed
		d.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d ari calls: %w", n, context.Cause(ctx))
		case <-changed:
		}
	}
}
