package recordings

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

// DefaultRetention is how long a recording is kept when the configuration
// does not say.
const DefaultRetention = 180 * 24 * time.Hour

// MaxRetention is the legal maximum: recordings are kept no more than 6
// months (CNIL deliberation 2014-474); the shortest 6-month span is 181
// days.
const MaxRetention = 181 * 24 * time.Hour

// KeySize is the size of the encryption key: AES-256.
const KeySize = 32

// Limits of Search, AuditLog and PurgeLog.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// QuarantineDir is the folder, under the recordings folder, where start-up
// recovery moves the files it cannot complete or attribute.
const QuarantineDir = "quarantine"

// Config configures a Service.
type Config struct {
	// Dir is the recordings folder, e.g. <data_dir>/recordings. It is
	// created (mode 0700) if missing.
	Dir string
	// Retention is how long a recording is kept after its start:
	// DefaultRetention when 0, at most MaxRetention.
	Retention time.Duration
	// Key encrypts recordings at rest (AES-256-GCM) when set: nil or
	// KeySize bytes. Recordings written with a key need it to be read.
	Key []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the service's logs; nil means slog.Default.
	Logger *slog.Logger
}

// Service keeps recording consents, recordings and their metadata, purges
// expired recordings, and keeps the access audit. It implements
// ivr.Recordings. Its methods may be called from several goroutines.
type Service struct {
	db        *store.DB
	dir       string
	retention time.Duration
	key       []byte
	now       func() time.Time
	log       *slog.Logger

	mu     sync.Mutex
	active map[string]string // recordings being written by this process: id → rel path

	// purgeMu keeps purges of this process one at a time; across
	// processes the store's write lock does.
	purgeMu    sync.Mutex
	purgeBatch int
	// purgeRate paces purges, in recordings per second (0: as fast as the
	// disk goes).
	purgeRate int
	// purgeHook, when set, runs at the steps of each purge batch, so tests
	// can interrupt a purge there; an error aborts the batch as a crash
	// would.
	purgeHook func(step purgeStep, n int) error
}

// purgeStep is a point in a purge batch where purgeHook runs.
type purgeStep int

const (
	stepBatch  purgeStep = iota // batch n (from 1) is read; nothing of it deleted
	stepFile                    // n files of the batch are deleted
	stepCommit                  // the files of batch n are deleted; the commit comes next
)

var _ ivr.Recordings = (*Service)(nil)

// defaultPurgeBatch bounds the recordings deleted per transaction, which
// holds the store's write lock while their files are removed.
const defaultPurgeBatch = 200

// defaultPurgeRate paces a purge: deleting files and rows takes CPU and
// the store's writer from the calls in progress, whose 20 ms audio and
// consent rows must not wait. A purge of 100,000 recordings at once (a
// first deployment, a shorter retention) then takes two minutes; the
// daily purge of a contact centre is a few hundred.
const defaultPurgeRate = 1000

// New returns the service keeping its rows in db and its files under
// cfg.Dir. It refuses a retention over MaxRetention (ErrRetentionTooLong).
func New(db *store.DB, cfg Config) (*Service, error) {
	if db == nil {
		return nil, fmt.Errorf("new recordings service: %w: no store", ErrInvalid)
	}
	retention := cfg.Retention
	switch {
	case retention == 0:
		retention = DefaultRetention
	case retention < 0:
		return nil, fmt.Errorf("new recordings service: %w: negative retention %v", ErrInvalid, retention)
	case retention > MaxRetention:
		return nil, fmt.Errorf("new recordings service: retention of %s: %w", days(retention), ErrRetentionTooLong)
	}
	var key []byte
	if len(cfg.Key) > 0 {
		if len(cfg.Key) != KeySize {
			return nil, fmt.Errorf("new recordings service: %w: %d", audiofile.ErrBadKey, len(cfg.Key))
		}
		key = append([]byte(nil), cfg.Key...)
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("new recordings service: %w: empty recordings folder", ErrInvalid)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("new recordings service: %w", err)
	}
	// Recordings are personal data: the folder is the service's alone.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("new recordings service: create folder: %w", err)
	}
	s := &Service{
		db:         db,
		dir:        dir,
		retention:  retention,
		key:        key,
		now:        cfg.Now,
		log:        cfg.Logger,
		active:     make(map[string]string),
		purgeBatch: defaultPurgeBatch,
		purgeRate:  defaultPurgeRate,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Dir is the absolute path of the recordings folder.
func (s *Service) Dir() string { return s.dir }

// Retention is how long recordings are kept.
func (s *Service) Retention() time.Duration { return s.retention }

// Encrypted reports whether new recordings are encrypted at rest.
func (s *Service) Encrypted() bool { return s.key != nil }

// days formats a retention for a message about the legal maximum.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return fmt.Sprintf("%.1f days (%v)", d.Hours()/24, d)
}

// abs returns the path on disk of a rel_path. rel_path comes from the
// store, where only the service writes it; it is checked anyway, so that
// no row can make the service touch a file outside its folder.
func (s *Service) abs(rel string) (string, error) {
	p := filepath.FromSlash(rel)
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("%w: recording path %q outside the recordings folder", ErrInvalid, rel)
	}
	return filepath.Join(s.dir, p), nil
}

// rel returns the rel_path of a file under the recordings folder.
func (s *Service) rel(path string) (string, error) {
	r, err := filepath.Rel(s.dir, path)
	if err != nil {
		return "", err
	}
	if !filepath.IsLocal(r) {
		return "", fmt.Errorf("%w: %s is outside the recordings folder", ErrInvalid, path)
	}
	return filepath.ToSlash(r), nil
}

// ext is the extension of a recording's final file.
func (s *Service) ext() string {
	if s.key != nil {
		return ".wav.enc"
	}
	return ".wav"
}

func (s *Service) setActive(id, rel string) {
	s.mu.Lock()
	s.active[id] = rel
	s.mu.Unlock()
}

func (s *Service) clearActive(id string) {
	s.mu.Lock()
	delete(s.active, id)
	s.mu.Unlock()
}

// activeSet returns the ids and rel paths of the recordings being written.
func (s *Service) activeSet() (ids, rels map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids = make(map[string]bool, len(s.active))
	rels = make(map[string]bool, len(s.active))
	for id, rel := range s.active {
		ids[id] = true
		rels[rel] = true
	}
	return ids, rels
}

// removeFile deletes a file; one already gone is not an error (a purge or
// an abort interrupted after the file went).
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// syncDir makes the removals and renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// newID returns a random version 4 UUID.
func newID() string { return uuid.NewString() }
