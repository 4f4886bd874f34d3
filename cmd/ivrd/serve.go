package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/loader"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/sip"
	"github.com/ivrd/ivrd/store"
	"github.com/ivrd/ivrd/web"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	return serve(ctx, cfg, newLogger(cfg.Log, stderr))
}

// serve runs ivrd until ctx is done (SIGINT/SIGTERM), then drains calls.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	defer spareProcs(log)()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data_dir %s: %w", cfg.DataDir, err)
	}
	db, err := store.Open(ctx, cfg.Database.Path)
	if err != nil {
		return err
	}
	defer db.Close()
	calls := store.NewCallLog(db)
	queues, err := routing.New(db, routing.WithLogger(log.With("component", "routing")), routing.WithConfig(cfg.Routing))
	if err != nil {
		return fmt.Errorf("start routing: %w", err)
	}
	defer queues.Close()
	warnAgentsWithoutUser(log, cfg)

	recs, err := newRecordings(db, cfg, log)
	if err != nil {
		return err
	}
	callPurger, err := newCallPurger(db, cfg, log)
	if err != nil {
		return err
	}
	// Leftovers of a crash are completed or flagged before any new
	// recording starts, never silently kept.
	rep, err := recs.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recover recordings: %w", err)
	}
	logRecovery(log, rep)

	lib := loader.NewLibrary(flowOptions(cfg, log.With("component", "flows")))
	if err := lib.Reload(ctx); err != nil {
		// Nothing served before: refuse to start rather than answer calls
		// with no flow. The diagnostics are in the log.
		return fmt.Errorf("load flows %s: %w", cfg.Flows.Dir, err)
	}

	// Callbacks are placed by a driver built below; those due at start
	// wait for it.
	orig := newLateOriginator()
	defer orig.set(nil, "")
	engine := ivr.NewEngine(lib,
		ivr.WithQueue(queues),
		ivr.WithCallLog(calls),
		ivr.WithRecordings(recs),
		ivr.WithOriginator(orig),
		ivr.WithLogger(log),
	)
	// Pending callbacks come back with the queues: the engine places them.
	queues.HandleCallbacks(engine.ServeCallback)
	if n, err := queues.Recover(ctx); err != nil {
		return fmt.Errorf("recover queues: %w", err)
	} else if n > 0 {
		log.Warn("contacts left waiting by a previous run marked abandoned", "count", n)
	}

	// Background work stops with bg; calls get their own drain deadline.
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(bg); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}

	if cfg.Flows.Watch {
		goRun("watch flows", lib.Watch)
	}
	// Expired recordings go now, then every purge_interval.
	goRun("purge recordings", func(ctx context.Context) error {
		recs.RunPurger(ctx, cfg.Recordings.PurgeInterval)
		return nil
	})
	// Call records, contacts and callback requests past calls.retention
	// go now, then every calls.purge_interval.
	goRun("purge call records", func(ctx context.Context) error {
		callPurger.Run(ctx, cfg.Calls.PurgeInterval)
		return nil
	})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-bg.Done():
				return
			case <-hup:
				if err := lib.Reload(bg); err != nil {
					log.Error("reload flows refused; previous flows keep serving", "err", err)
				} else {
					log.Info("flows reloaded on SIGHUP")
				}
			}
		}
	}()

	// ivrd's own RTP serves SIP calls, and browser agents under Asterisk.
	var ep *media.Endpoint
	if cfg.SIP.Enabled || (cfg.ARI.Enabled && cfg.WebRTC.Enabled) {
		ep, err = media.NewEndpoint(media.EndpointConfig{
			IP:           cfg.SIP.mediaIP,
			PortMin:      cfg.SIP.rtpMin,
			PortMax:      cfg.SIP.rtpMax,
			MediaTimeout: cfg.SIP.MediaTimeout,
			Logger:       log.With("component", "media"),
		})
		if err != nil {
			return fmt.Errorf("start media: %w", err)
		}
		defer ep.Close()
	}
	var rtc *media.WebRTC
	if cfg.WebRTC.Enabled {
		rtc, err = media.NewWebRTC(media.WebRTCConfig{
			IPs:        cfg.WebRTC.ips,
			NAT1To1IPs: cfg.WebRTC.NAT1To1IPs,
			PortMin:    cfg.WebRTC.portMin,
			PortMax:    cfg.WebRTC.portMax,
			Logger:     log.With("component", "webrtc"),
		})
		if err != nil {
			return fmt.Errorf("start webrtc: %w", err)
		}
		defer rtc.Close()
	}

	var sipSrv *sip.Server
	if cfg.SIP.Enabled {
		sipSrv, err = sip.NewServer(sip.Config{
			UDPAddr:        cfg.SIP.UDP,
			TCPAddr:        cfg.SIP.TCP,
			MediaIP:        cfg.SIP.mediaIP,
			Media:          ep,
			TCPIdleTimeout: cfg.SIP.TCPIdleTimeout,
			UserAgent:      cfg.SIP.UserAgent,
			AgentAuth:      sip.Credentials{Username: cfg.SIP.AgentAuth.Username, Password: cfg.SIP.AgentAuth.Password},
			AgentTLS:       cfg.SIP.agentTLS,
			Trunk:          cfg.SIP.Trunk.trunk(),
			MaxCalls:       cfg.SIP.maxCalls(),
			Flood:          cfg.SIP.Flood.limit(),
			Logger:         log,
			Handler: func(ctx context.Context, call ivr.Call) {
				_ = engine.Serve(ctx, call, "sip")
			},
		})
		if err != nil {
			return fmt.Errorf("start sip: %w", err)
		}
		goRun("sip", sipSrv.ListenAndServe)
	}

	// The Asterisk driver runs beside the SIP one; its prompts are fetched
	// from the HTTP server below.
	var ariDrv *asterisk.Driver
	if cfg.ARI.Enabled {
		ariDrv, err = newARIDriver(cfg.ARI, ep, engine, log.With("component", "ari"))
		if err != nil {
			return fmt.Errorf("start ari: %w", err)
		}
		goRun("ari", ariDrv.Run)
	}
	switch {
	case ariDrv != nil && cfg.ARI.CallbackEndpoint != "":
		orig.set(ariDrv, "ari")
	case sipSrv != nil && sipTrunkSet(cfg):
		orig.set(sipSrv, "sip")
	default:
		orig.set(nil, "")
		if flowsUseCallbacks(lib) {
			log.Warn("flows take callback requests but no driver can place the calls: set sip.trunk.address or ari.callback_endpoint")
		}
	}

	webCfg := web.Config{
		Addr:   cfg.HTTP.Addr,
		Calls:  calls,
		Queues: queues,
		// The agent desk, the supervisors' view and /metrics.
		Agents:      queues,
		ActiveCalls: engine.Active,
		Flows:       libStatus{lib},
		// Recordings are reached by the configured users only.
		Recordings: recs,
		Users:      cfg.HTTP.users(),
		// Asterisk fetches prompts by content id (asterisk/README.md).
		Prompts: &promptIndex{flows: lib},
		Health: func() any {
			body := map[string]any{"status": "ok", "active_calls": engine.Active(), "version": version}
			runtimeHealth(body)
			if ep != nil {
				body["pacer"] = pacerHealth(ep)
			}
			return body
		},
		Pprof:  cfg.HTTP.Pprof,
		Logger: log.With("component", "http"),
	}
	if rtc != nil {
		webCfg.WebRTC = web.WebRTCFrom(rtc)
	}
	api := web.New(webCfg)
	goRun("http", api.ListenAndServe)

	select {
	case <-ctx.Done():
		log.Info("stopping: no new calls; waiting for calls in progress", "drain", cfg.Shutdown.Drain, "active", engine.Active())
	case err := <-errc:
		log.Error("stopping on error", "err", err)
		stopBG()
		wg.Wait()
		return err
	}
	drainEnd := time.Now().Add(cfg.Shutdown.Drain)
	if ariDrv != nil {
		ariDrv.Drain()
	}
	if sipSrv != nil {
		sipSrv.Drain()
		dctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Drain)
		if err := sipSrv.Wait(dctx); err != nil {
			log.Warn("drain time over; hanging up remaining calls", "active", sipSrv.ActiveCalls())
		}
		cancel()
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := sipSrv.Close(cctx); err != nil {
			log.Warn("close sip", "err", err)
		}
		cancel()
	}
	if ariDrv != nil {
		dctx, cancel := context.WithDeadline(context.Background(), drainEnd)
		if err := ariDrv.Wait(dctx); err != nil {
			log.Warn("drain time over; hanging up remaining asterisk calls", "active", ariDrv.ActiveCalls())
		}
		cancel()
	}
	// Recordings of calls handed to Asterisk's dialplan are closed when
	// those calls end; let them finish (that fetches their audio) before
	// the store closes. What is cut short is recovered at the next start.
	rctx, cancel := context.WithTimeout(context.Background(), recordingsCloseTimeout)
	if err := engine.Wait(rctx); err != nil {
		log.Warn("recordings still closing at shutdown; the next start recovers them", "err", err)
	}
	cancel()
	stopBG()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		log.Warn("components slow to stop")
	}
	log.Info("stopped")
	return nil
}

// extraProcs is how many more Ps than CPUs ivrd runs with. The store's
// fsyncs and SQLite's cgo calls hold a P while they wait; with one P per
// CPU, a pacer woken for its 20 ms tick could then wait for the scheduler
// to take a P back (make bench, scripts/purge-load.sh: pacing p99 during a
// purge 2.1 ms with GOMAXPROCS=2, 1.2 ms with 4, and no change without
// purge).
const extraProcs = 2

// spareProcs raises GOMAXPROCS by extraProcs unless the environment sets
// it, and returns the function that puts it back.
func spareProcs(log *slog.Logger) (restore func()) {
	if os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	old := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(old + extraProcs)
	log.Debug("scheduler", "gomaxprocs", old+extraProcs, "cpus", runtime.NumCPU())
	return func() { runtime.GOMAXPROCS(old) }
}

// recordingsCloseTimeout bounds the wait for recordings being closed at
// shutdown.
const recordingsCloseTimeout = 45 * time.Second

// logRecovery sums up what start-up recovery found, at Warn when a crash
// left anything: the service logs each leftover, at Warn, as it handles it.
func logRecovery(log *slog.Logger, rep recordings.RecoveryReport) {
	if len(rep.Items) == 0 {
		return
	}
	log.Warn("recordings left over by a previous run", "leftovers", len(rep.Items),
		"recovered", rep.Count(recordings.RecoveryCompleted), "damaged", rep.Count(recordings.RecoveryDamaged),
		"quarantined", rep.Count(recordings.RecoveryQuarantined), "pending", rep.Count(recordings.RecoveryPending))
}

// warnAgentsWithoutUser logs the agents that cannot sign in to the desk:
// they take calls only once a supervisor makes them available.
func warnAgentsWithoutUser(log *slog.Logger, cfg *Config) {
	users := map[string]string{}
	for _, u := range cfg.HTTP.Users {
		users[u.Name] = u.Role
	}
	for _, a := range cfg.Routing.Agents {
		switch role, ok := users[a.Name]; {
		case !ok:
			log.Warn("agent has no http user: it cannot sign in to the desk, a supervisor must set its state",
				"agent", a.Name)
		case web.Role(role) == web.RoleIntegration:
			log.Warn("agent's http user has role integration: it cannot sign in to the desk, a supervisor must set its state",
				"agent", a.Name)
		}
	}
}

// libStatus adapts the flow library to the web API.
type libStatus struct{ l *loader.Library }

func (s libStatus) Status() any { return s.l.Status() }
