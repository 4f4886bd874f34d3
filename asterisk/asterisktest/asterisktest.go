package asterisktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Asterisk is one running test Asterisk.
type Asterisk struct {
	// ARIURL is the ARI base URL, e.g. http://127.0.0.1:40123/ari.
	ARIURL string
	// WSURL is the ARI events websocket, e.g. ws://127.0.0.1:40123/ari/events.
	WSURL string
	// User and Password are the ARI credentials.
	User     string
	Password string
	// App is the Stasis application every call is sent to.
	App string
	// SIPAddr is the host:port of the UDP SIP transport callers dial.
	SIPAddr string
	// Root is the host path of the chroot Asterisk runs in.
	Root string
	// Dir is the instance folder as Asterisk sees it (below /tmp); its
	// etc, log, run, spool and db subfolders hold this instance's files.
	Dir string

	httpAddr string // where ARI must listen
	conf     string // asterisk.conf, as Asterisk sees it
	cmd      *exec.Cmd
	output   *syncBuffer
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Start boots an Asterisk for t and stops it when t ends. It fails t, never
// skips it, when Asterisk cannot be prepared or started.
func Start(t testing.TB, opts Options) *Asterisk {
	t.Helper()
	a, err := start(t, opts.withDefaults())
	if err != nil {
		t.Fatalf("start asterisk: %v", err)
	}
	return a
}

func start(t testing.TB, opts Options) (*Asterisk, error) {
	repo, err := repoRoot()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(repo, ".cache", "asterisk-root")
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
		if _, err := os.Stat(filepath.Join(root, "usr/sbin/asterisk")); err != nil {
			timeout = 5 * time.Minute
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	built, err := prepare(ctx, repo)
	if err != nil {
		return nil, err
	}
	if built != "" {
		t.Logf("%s", built)
	}
	removeStale(filepath.Join(root, "tmp"))
	for attempt := 1; ; attempt++ {
		httpPort, sipPort, err := pickPorts()
		if err != nil {
			return nil, err
		}
		a, err := launch(ctx, t, repo, root, opts, httpPort, sipPort)
		if err == nil {
			return a, nil
		}
		// Another process may take a free port before Asterisk binds it.
		if !errors.Is(err, ErrPortTaken) || attempt == 3 {
			return nil, err
		}
		t.Logf("start asterisk: %v; trying other ports", err)
	}
}

// pickPorts chooses the HTTP (ARI) and SIP ports; tests replace it.
var pickPorts = freePorts

func freePorts() (httpPort, sipPort int, err error) {
	if httpPort, err = freePort("tcp"); err != nil {
		return 0, 0, err
	}
	if sipPort, err = freePort("udp"); err != nil {
		return 0, 0, err
	}
	return httpPort, sipPort, nil
}

// launch writes one instance's configuration and boots it. On error the
// instance is already stopped and removed.
func launch(ctx context.Context, t testing.TB, repo, root string, opts Options, httpPort, sipPort int) (*Asterisk, error) {
	hostDir, err := os.MkdirTemp(filepath.Join(root, "tmp"), "ivrd-test-")
	if err != nil {
		return nil, fmt.Errorf("create instance dir: %w", err)
	}
	a := &Asterisk{
		ARIURL:   fmt.Sprintf("http://127.0.0.1:%d/ari", httpPort),
		WSURL:    fmt.Sprintf("ws://127.0.0.1:%d/ari/events", httpPort),
		User:     opts.User,
		Password: opts.Password,
		App:      opts.App,
		SIPAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(sipPort)),
		Root:     root,
		Dir:      "/" + strings.TrimPrefix(hostDir, root+"/"),
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		output:   &syncBuffer{},
		exited:   make(chan struct{}),
	}
	a.conf = a.Dir + "/etc/asterisk.conf"
	cleanup := func() {
		a.Stop()
		_ = os.RemoveAll(hostDir)
	}
	err = writeConfig(filepath.Join(repo, "asterisk", "testdata", "etc"), root, hostDir, templateData{
		Dir:      a.Dir,
		App:      a.App,
		User:     a.User,
		Password: a.Password,
		HTTPPort: httpPort,
		SIPPort:  sipPort,
		Verbose:  opts.Verbose,
		Dialplan: opts.Dialplan,
		NoLoad:   noLoad,
		ModDir:   moduleDir(root),
	}, opts.Files)
	if err == nil {
		err = a.run()
	}
	if err == nil {
		err = a.waitReady(ctx)
	}
	if err != nil {
		if !errors.Is(err, ErrPortTaken) {
			t.Logf("asterisk log:\n%s", a.Log())
		}
		cleanup()
		return nil, err
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("asterisk log:\n%s", a.Log())
		}
		cleanup()
	})
	return a, nil
}

// bootScript runs in a private mount namespace (see Unshareflags below):
// /dev and /proc are mounted into the root for this process tree only.
const bootScript = `set -e
mount --rbind /dev "$1/dev"
mount -t proc proc "$1/proc"
exec chroot "$1" /usr/sbin/asterisk -f -C "$2"
`

func (a *Asterisk) run() error {
	cmd := exec.Command("/bin/sh", "-c", bootScript, "sh", a.Root, a.conf)
	cmd.Stdout = a.output
	cmd.Stderr = a.output
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A new mount namespace: Go makes its mounts private, so the
		// mounts above never reach the host and vanish with Asterisk.
		Unshareflags: syscall.CLONE_NEWNS,
		// Asterisk dies with the test binary, even on SIGKILL.
		Pdeathsig: syscall.SIGKILL,
		Setpgid:   true,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run asterisk: %w", err)
	}
	a.cmd = cmd
	go func() {
		a.waitErr = cmd.Wait()
		close(a.exited)
	}()
	return nil
}

// waitReady waits until Asterisk has loaded every module and ARI answers
// with the test credentials.
func (a *Asterisk) waitReady(ctx context.Context) error {
	booted := false
	var last error
	for {
		if !booted {
			// Blocks inside Asterisk until boot completes; fails until the
			// control socket exists.
			if _, last = a.cli(ctx, "core waitfullybooted"); last == nil {
				booted = true
				if err := a.checkBound(ctx); err != nil {
					return err
				}
			}
		}
		if booted {
			if last = a.ariInfo(ctx); last == nil {
				return nil
			}
			if errors.Is(last, ErrUnauthorized) {
				return last
			}
		}
		select {
		case <-a.exited:
			return fmt.Errorf("wait for asterisk: %w (%v)", ErrExited, a.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("wait for asterisk: %w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkBound makes sure Asterisk, fully booted, listens on its ports: a
// bind failure is only logged, and ARI requests would then reach whoever
// holds the port.
func (a *Asterisk) checkBound(ctx context.Context) error {
	out, err := a.cli(ctx, "http show status")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "Bound to "+a.httpAddr) {
		return fmt.Errorf("bind http %s: %w", a.httpAddr, ErrPortTaken)
	}
	out, err = a.cli(ctx, "pjsip show transports")
	if err != nil {
		return err
	}
	if !strings.Contains(out, a.SIPAddr) {
		return fmt.Errorf("bind sip %s: %w", a.SIPAddr, ErrPortTaken)
	}
	return nil
}

func (a *Asterisk) ariInfo(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.ARIURL+"/asterisk/info", nil)
	if err != nil {
		return fmt.Errorf("build ari request: %w", err)
	}
	req.SetBasicAuth(a.User, a.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get asterisk info: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("get asterisk info: status %s", resp.Status)
	}
	return nil
}

// CLI runs one Asterisk CLI command through the control socket and returns
// its output.
func (a *Asterisk) CLI(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.cli(ctx, cmd)
}

func (a *Asterisk) cli(ctx context.Context, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "/usr/sbin/asterisk", "-C", a.conf, "-rx", command)
	// The remote console only needs the control socket, which lives in
	// the instance folder: chroot is enough, no mounts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: a.Root}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("run cli %q: %w: %s", command, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Log returns what Asterisk printed and its log file, for failure output.
func (a *Asterisk) Log() string {
	var b strings.Builder
	if out := a.output.String(); out != "" {
		b.WriteString(out)
		b.WriteString("\n")
	}
	log, err := os.ReadFile(a.hostPath(a.Dir + "/log/messages.log"))
	if err != nil {
		fmt.Fprintf(&b, "(no log file: %v)\n", err)
	}
	b.Write(log)
	return b.String()
}

// HostPath maps a path as Asterisk sees it to the same file on the host,
// e.g. to place sound files in a folder Asterisk can play.
func (a *Asterisk) HostPath(p string) string { return a.hostPath(p) }

func (a *Asterisk) hostPath(p string) string {
	return filepath.Join(a.Root, filepath.FromSlash(p))
}

// Stop stops Asterisk: SIGTERM, then SIGKILL after 10 seconds. Cleanup
// calls it; tests call it to see how a client copes with Asterisk going
// away. It is safe to call more than once.
func (a *Asterisk) Stop() {
	if a.cmd == nil {
		return
	}
	a.stopOnce.Do(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-a.exited
		}
	})
}

// Exited is closed when the Asterisk process has exited.
func (a *Asterisk) Exited() <-chan struct{} { return a.exited }

// noLoad lists installed modules the tests never use: skipping them makes
// boot faster and the log quieter.
var noLoad = []string{
	"chan_iax2.so", "chan_unistim.so", "chan_motif.so", "chan_console.so",
	"chan_audiosocket.so", "chan_websocket.so", "res_xmpp.so",
	"cdr_adaptive_odbc.so", "cdr_odbc.so", "cdr_pgsql.so", "cdr_radius.so",
	"cdr_tds.so", "cdr_sqlite3_custom.so", "cdr_custom.so", "cdr_csv.so", "cdr_manager.so",
	"cel_odbc.so", "cel_pgsql.so", "cel_radius.so", "cel_tds.so",
	"cel_sqlite3_custom.so", "cel_custom.so", "cel_manager.so",
	"res_config_odbc.so", "res_config_pgsql.so", "res_config_ldap.so",
	"res_config_curl.so", "res_config_sqlite3.so", "res_odbc.so",
	"res_odbc_transaction.so", "func_odbc.so", "app_voicemail_odbc.so",
	"app_voicemail.so", "app_minivm.so", "res_pjsip_send_to_voicemail.so",
	"res_calendar.so", "res_calendar_caldav.so", "res_calendar_ews.so",
	"res_calendar_exchange.so", "res_calendar_icalendar.so",
	"res_snmp.so", "res_smdi.so", "res_statsd.so", "res_prometheus.so",
	"res_hep.so", "res_hep_pjsip.so", "res_hep_rtcp.so",
	"res_fax.so", "res_fax_spandsp.so", "res_pjsip_t38.so",
	"res_phoneprov.so", "res_pjsip_phoneprov_provider.so",
	"res_stir_shaken.so", "res_pjsip_stir_shaken.so",
	"res_geolocation.so", "res_pjsip_geolocation.so",
	"res_aeap.so", "res_speech_aeap.so", "res_resolver_unbound.so",
	"res_stun_monitor.so", "res_pjsip_outbound_publish.so",
	"res_pjsip_publish_asterisk.so", "res_parking.so",
	"pbx_dundi.so", "pbx_lua.so", "pbx_ael.so", "pbx_realtime.so",
	"app_festival.so", "app_jack.so", "app_mp3.so", "app_sms.so",
	"res_pjsip_exten_state.so", "res_pjsip_notify.so", "res_pjsip_config_wizard.so",
	"app_agent_pool.so", "app_confbridge.so", "app_page.so", "app_alarmreceiver.so",
	"app_amd.so", "app_followme.so", "res_adsi.so", "app_adsiprog.so",
	"app_getcpeid.so", "res_clialiases.so",
}

// templateData fills the templates in asterisk/testdata/etc.
type templateData struct {
	Dir      string
	App      string
	User     string
	Password string
	HTTPPort int
	SIPPort  int
	Verbose  int
	Dialplan string
	NoLoad   []string
	ModDir   string
}

// moduleDir finds Asterisk's modules in the root: their folder is named
// after the architecture's multiarch triplet.
func moduleDir(root string) string {
	dirs, _ := filepath.Glob(filepath.Join(root, "usr/lib/*/asterisk/modules"))
	if len(dirs) == 0 {
		return "/usr/lib/asterisk/modules"
	}
	return "/" + strings.TrimPrefix(dirs[0], root+"/")
}

func writeConfig(templates, root, hostDir string, data templateData, files map[string]string) error {
	for _, sub := range []string{"etc", "db", "log", "run", "spool", "spool/recording", "moh"} {
		if err := os.MkdirAll(filepath.Join(hostDir, sub), 0o755); err != nil {
			return fmt.Errorf("create %s dir: %w", sub, err)
		}
	}
	paths, err := filepath.Glob(filepath.Join(templates, "*.conf"))
	if err != nil || len(paths) == 0 {
		return fmt.Errorf("find config templates in %s: %w", templates, os.ErrNotExist)
	}
	for _, p := range paths {
		tpl, err := template.New(filepath.Base(p)).Option("missingkey=error").ParseFiles(p)
		if err != nil {
			return fmt.Errorf("parse config template: %w", err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, data); err != nil {
			return fmt.Errorf("render config template: %w", err)
		}
		if err := os.WriteFile(filepath.Join(hostDir, "etc", filepath.Base(p)), b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
	}
	if err := copyMOH(filepath.Join(hostDir, "moh"), root); err != nil {
		return err
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(hostDir, "etc", filepath.Base(name)), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
	}
	return nil
}

// removeStale deletes instance folders left by test binaries that were
// killed before their cleanup ran. No test lives an hour, so an older
// folder has no Asterisk behind it.
func removeStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "ivrd-test-*"))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.RemoveAll(d)
		}
	}
}

// copyMOH fills the default music-on-hold class with two prompts from
// the root's English sounds.
func copyMOH(dst, root string) error {
	for _, name := range []string{"tt-monkeys.wav", "tt-weasels.wav"} {
		src, _ := filepath.Glob(filepath.Join(root, "usr/share/asterisk/sounds/*", name))
		if len(src) == 0 {
			return fmt.Errorf("find music on hold %s: %w", name, os.ErrNotExist)
		}
		b, err := os.ReadFile(src[0])
		if err != nil {
			return fmt.Errorf("read music on hold: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return fmt.Errorf("write music on hold: %w", err)
		}
	}
	return nil
}

var (
	prepareMu   sync.Mutex
	prepareDone bool
)

// prepare builds the Asterisk root once per test binary and returns what
// the script printed: nothing when the root was cached, the build's
// timing otherwise. The script serialises builds across test binaries.
func prepare(ctx context.Context, repo string) (string, error) {
	prepareMu.Lock()
	defer prepareMu.Unlock()
	if prepareDone {
		return "", nil
	}
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "scripts", "asterisk.sh"), "prepare")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("prepare asterisk root: %w\n%s", err, out)
	}
	prepareDone = true
	return strings.TrimSpace(string(out)), nil
}

// repoRoot finds the repository from this file's location, or failing
// that (a binary built with -trimpath) from the working directory.
func repoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "scripts", "asterisk.sh")); err == nil {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", ErrNoRepo
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before Asterisk binds it; the window is short and the ports are
// random, so parallel test binaries rarely collide.
func freePort(network string) (int, error) {
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free udp port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free tcp port: %w", err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects Asterisk's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
