// Package store keeps the mappings between originals and pseudonyms in an
// encrypted bbolt file, and finds the key that protects it.
//
// Start with [Open], which returns a [Store] that serves [mask.Mappings],
// and [ResolveKey], which finds the key (CLAUDE_SECURE_KEY, the OS keyring,
// or a key file). The on-disk format is described in docs/store.md.
//
// Every value is sealed with AES-256-GCM under a key derived from the store
// key, and every lookup key is an HMAC, so no original and no pseudonym is
// readable in the file. The database is opened for one transaction at a
// time and closed again, so several processes share it and none holds the
// file lock for longer than one short transaction.
package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	bolt "go.etcd.io/bbolt"
)

// FormatVersion is the store format this package writes.
const FormatVersion = 3

// FileName is the store's file name inside the state directory.
const FileName = "store.db"

var (
	// ErrDamaged means a record failed authentication or the file is not a
	// store: it was changed or truncated. Errors that wrap it are
	// *DamagedError, which names the file.
	ErrDamaged = errors.New("store is damaged")
	// ErrWrongKey means the store was sealed under a different key.
	ErrWrongKey = errors.New("store key does not open this store")
	// ErrNewerFormat means a newer claude-secure wrote the store.
	ErrNewerFormat = errors.New("store was written by a newer claude-secure")
)

var (
	bucketMeta = []byte("meta")
	bucketFwd  = []byte("fwd")
	bucketRev  = []byte("rev")

	metaFormat = []byte("format")
	metaCheck  = []byte("check")
	metaSeed   = []byte("seed")
)

// DamagedError reports a damaged store file without quoting its content.
type DamagedError struct {
	Path   string
	Reason string
}

func (e *DamagedError) Error() string {
	msg := "store " + e.Path + " is damaged"
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

func (s *Store) damaged(err error) error {
	var de *DamagedError
	if err == nil || !errors.Is(err, ErrDamaged) || errors.As(err, &de) {
		return err
	}
	reason := "a record failed authentication"
	if err != ErrDamaged {
		reason = strings.TrimPrefix(err.Error(), ErrDamaged.Error()+": ")
	}
	return &DamagedError{Path: s.path, Reason: reason}
}

const checkPlaintext = "claude-secure store key check v1"

var (
	errEmpty    = errors.New("the store file holds no store yet")
	errNotEmpty = errors.New("not empty")
)

// lockTimeout bounds how long a process waits for the store while others
// use it: long enough for a queue of busy writers ahead of it. (A variable
// for the tests.)
var lockTimeout = 2 * time.Minute

// lockPoll is how often a wait for a lock that may be given up tries the
// lock again.
const lockPoll = 10 * time.Millisecond

// Store is an open mapping store. It is safe for concurrent use.
type Store struct {
	path string
	keys
	seed []byte

	// writes waiting for the write transaction; see Issue
	mu      sync.Mutex
	queue   []*issueCall
	writing bool
	commits int // write transactions committed by write (tests)
	// the log cursor and file state of the last Since
	sinceCursor uint64
	sinceState  fileState

	// where each mapping lies in the log (see directory), used inside
	// transactions while dirMu is held
	dirMu sync.Mutex
	dir   directory
}

// keys are what a store key derives: the AEAD that seals every value and
// the HMAC key of every lookup key. The file store and the Redis store
// seal alike.
type keys struct {
	aead cipher.AEAD
	idx  []byte
}

func deriveKeys(key []byte) (keys, error) {
	if len(key) != 32 {
		return keys{}, fmt.Errorf("store key must be 32 bytes, got %d", len(key))
	}
	enc, err := hkdf.Key(sha256.New, key, nil, "claude-secure store encryption v1", 32)
	if err != nil {
		return keys{}, err
	}
	idx, err := hkdf.Key(sha256.New, key, nil, "claude-secure store index v1", 32)
	if err != nil {
		return keys{}, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return keys{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keys{}, err
	}
	return keys{aead: aead, idx: idx}, nil
}

// Path returns the store file path inside dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// Open opens the store in dir, creating the directory (0700) and the store
// (0600) if needed.
func Open(dir string, key []byte) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create state directory: %w", err)
	}
	return openFile(Path(dir), key, true)
}

func openFile(path string, key []byte, create bool) (*Store, error) {
	k, err := deriveKeys(key)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, keys: k}
	// a file of no bytes is what a creator that stopped at once leaves
	if fi, err := os.Stat(path); (errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0) && create {
		if err := s.init(); err != nil {
			return nil, err
		}
	}
	format := uint32(0)
	read := func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil && tx.ForEach(func([]byte, *bolt.Bucket) error { return errNotEmpty }) == nil {
			return errEmpty
		}
		if meta == nil {
			return ErrDamaged
		}
		v := meta.Get(metaFormat)
		if len(v) != 4 {
			return ErrDamaged
		}
		if format = binary.BigEndian.Uint32(v); format > FormatVersion {
			return ErrNewerFormat
		}
		switch {
		case format < 2 && (tx.Bucket(bucketFwd) == nil || tx.Bucket(bucketRev) == nil),
			format >= 2 && (tx.Bucket(bucketLog) == nil || tx.Bucket(bucketBatch) == nil):
			return ErrDamaged
		}
		check, err := s.open(meta.Get(metaCheck), metaCheck)
		if err != nil || string(check) != checkPlaintext {
			return ErrWrongKey
		}
		seed, err := s.open(meta.Get(metaSeed), metaSeed)
		if err != nil || len(seed) != 32 {
			return ErrDamaged
		}
		s.seed = seed
		return nil
	}
	err = s.view(read)
	if errors.Is(err, errEmpty) && create {
		// a database with nothing in it: its creator stopped after the
		// file was made and before the store was written in it
		if err = s.init(); err == nil {
			err = s.view(read)
		}
	}
	if errors.Is(err, errEmpty) {
		err = ErrDamaged
	}
	if err != nil {
		return nil, s.damaged(err)
	}
	if format < FormatVersion {
		if err := s.update(s.migrate); err != nil {
			return nil, fmt.Errorf("failed to bring the store to format %d: %w", FormatVersion, s.damaged(err))
		}
	}
	return s, nil
}

// init writes a new, empty store with a fresh pseudonym seed.
func (s *Store) init() error {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	return s.initWith(seed)
}

func (s *Store) initWith(seed []byte) error {
	db, err := s.db(context.Background(), false)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error { return s.initTx(tx, seed) })
}

// initTx writes the buckets and the sealed check and seed of a new store,
// unless another process did it first.
func (s *Store) initTx(tx *bolt.Tx, seed []byte) error {
	if tx.Bucket(bucketMeta) != nil {
		return nil // another process created it first
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketLog); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketBatch); err != nil {
		return err
	}
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], FormatVersion)
	if err := meta.Put(metaFormat, v[:]); err != nil {
		return err
	}
	if err := meta.Put(metaCheck, s.seal([]byte(checkPlaintext), metaCheck)); err != nil {
		return err
	}
	return meta.Put(metaSeed, s.seal(seed, metaSeed))
}

// Seed returns the secret that keys the pseudonym permutations. It lives in
// the store, not in the key, so rotating the key keeps every pseudonym.
func (s *Store) Seed() []byte { return s.seed }

// FilePath returns the path of the store file.
func (s *Store) FilePath() string { return s.path }

// db opens the database once it holds the file lock, waiting (first at
// the turnstile, then at the lock) until ctx is done or lockTimeout has
// passed, for both waits together.
func (s *Store) db(ctx context.Context, readOnly bool) (*bolt.DB, error) {
	deadline := time.Now().Add(lockTimeout)
	release, err := s.turnstile(ctx, deadline)
	if err != nil {
		return nil, err
	}
	db, err := s.openLocked(ctx, readOnly, deadline)
	release()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("gave up waiting for the store: %w", err)
		}
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store is busy: %w", err)
		}
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("failed to open store: %w", err)
		}
		// bbolt refuses files that are not a valid database: truncated,
		// overwritten, or not a store at all
		return nil, &DamagedError{Path: s.path, Reason: err.Error()}
	}
	return db, nil
}

// openLocked opens the database, waiting for its file lock. bbolt's own
// wait cannot be given up, so bbolt is asked to try the lock once (a
// timeout shorter than its poll interval), and asked again every lockPoll.
func (s *Store) openLocked(ctx context.Context, readOnly bool, until time.Time) (*bolt.DB, error) {
	deadline := time.NewTimer(time.Until(until))
	defer deadline.Stop()
	var poll *time.Ticker
	for {
		db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: time.Nanosecond, ReadOnly: readOnly})
		if !errors.Is(err, bolt.ErrTimeout) {
			return db, err
		}
		if poll == nil {
			poll = time.NewTicker(lockPoll)
			defer poll.Stop()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, err
		case <-poll.C:
		}
	}
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	return s.viewContext(context.Background(), fn)
}

// viewContext is view that stops waiting for the store when ctx is done.
func (s *Store) viewContext(ctx context.Context, fn func(*bolt.Tx) error) error {
	db, err := s.db(ctx, true)
	if err != nil {
		return err
	}
	defer db.Close()
	return s.damaged(s.guard(func() error { return db.View(s.checked(fn)) }))
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	return s.updateContext(context.Background(), fn)
}

// updateContext is update that stops waiting for the store when ctx is
// done.
func (s *Store) updateContext(ctx context.Context, fn func(*bolt.Tx) error) error {
	db, err := s.db(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	return s.damaged(s.guard(func() error { return db.Update(s.checked(fn)) }))
}

// checked verifies, inside the transaction, that the file is still sealed
// under this process's key: after another process rotates the key, a
// long-running session must stop rather than mix records of two keys.
func (s *Store) checked(fn func(*bolt.Tx) error) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		// a file cut short still opens (its first pages are whole), but
		// reading a page past its end would crash the process
		if fi, err := os.Stat(s.path); err != nil || fi.Size() < tx.Size() {
			return &DamagedError{Path: s.path, Reason: "the file is shorter than the database it holds (truncated?)"}
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return ErrDamaged
		}
		if v := meta.Get(metaCheck); v != nil {
			if c, err := s.open(v, metaCheck); err != nil || string(c) != checkPlaintext {
				return ErrWrongKey
			}
		}
		return fn(tx)
	}
}

// guard turns a panic inside bbolt (which it raises on some corrupt pages)
// into ErrDamaged, and so a fault reading the mapped file, which would
// otherwise end the process.
func (s *Store) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Path: s.path, Reason: "corrupt page"}
		}
	}()
	return fn()
}

// seal encrypts v with a random nonce, bound to its lookup key.
func (s keys) seal(v, key []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(v)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return s.aead.Seal(nonce, nonce, v, key)
}

func (s keys) open(sealed, key []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, ErrDamaged
	}
	v, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], key)
	if err != nil {
		return nil, ErrDamaged
	}
	return v, nil
}

func (s keys) fwdKey(family, original string) []byte {
	m := hmac.New(sha256.New, s.idx)
	m.Write([]byte("fwd\x00"))
	m.Write([]byte(family))
	m.Write([]byte{0})
	m.Write([]byte(original))
	return m.Sum(nil)
}

func (s keys) revKey(pseudonym string) []byte {
	m := hmac.New(sha256.New, s.idx)
	m.Write([]byte("rev\x00"))
	m.Write([]byte(pseudonym))
	return m.Sum(nil)
}

// A record is the sealed value of both index entries: the kind, family,
// original and pseudonym, each as a uvarint length and the bytes.
func encodeRecord(m mask.Mapping) []byte {
	b := make([]byte, 0, len(m.Kind)+len(m.Family)+len(m.Original)+len(m.Pseudonym)+8)
	for _, f := range []string{m.Kind, m.Family, m.Original, m.Pseudonym} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeRecord(b []byte) (mask.Mapping, error) {
	var f [8]uint32
	if _, err := recordFields(b, 0, f[:0]); err != nil {
		return mask.Mapping{}, err
	}
	return mask.Mapping{Kind: string(b[f[0] : f[0]+f[1]]), Family: string(b[f[2] : f[2]+f[3]]),
		Original: string(b[f[4] : f[4]+f[5]]), Pseudonym: string(b[f[6] : f[6]+f[7]])}, nil
}

// recordFields appends where the four fields of the record b lie: for
// each, its offset (plus base) and length.
func recordFields(b []byte, base int, dst []uint32) ([]uint32, error) {
	at := base
	for range 4 {
		var n uint64
		var k int
		if len(b) > 0 && b[0] < 0x80 {
			n, k = uint64(b[0]), 1 // most fields are shorter than 128 bytes
		} else {
			n, k = binary.Uvarint(b)
		}
		if k <= 0 || uint64(len(b)-k) < n {
			return dst, ErrDamaged
		}
		dst = append(dst, uint32(at+k), uint32(n))
		b = b[k+int(n):]
		at += k + int(n)
	}
	if len(b) != 0 {
		return dst, ErrDamaged
	}
	return dst, nil
}

// get reads and opens the record under k in bucket b, if there is one.
func (s *Store) get(b *bolt.Bucket, k []byte) (mask.Mapping, bool, error) {
	v := b.Get(k)
	if v == nil {
		return mask.Mapping{}, false, nil
	}
	r, err := s.record(v, k)
	return r, err == nil, err
}

// record decrypts and decodes the value stored under key k.
func (s *Store) record(v, k []byte) (mask.Mapping, error) {
	plain, err := s.open(v, k)
	if err != nil {
		return mask.Mapping{}, err
	}
	return decodeRecord(plain)
}

// Issue implements mask.Mappings. Mappings already recorded are read in a
// read-only transaction; the new ones are written in one read-write
// transaction, committed and fsynced before Issue returns.
func (s *Store) Issue(batch []mask.Mapping, retry func(mask.Mapping) (string, error)) ([]string, error) {
	return s.IssueContext(context.Background(), batch, retry)
}

var _ mask.ContextMappings = (*Store)(nil)

// IssueContext implements mask.ContextMappings: Issue that stops waiting
// for the store when ctx is done, and then returns ctx's error. The
// mappings may still be recorded (by a write shared with other calls),
// but none is returned.
func (s *Store) IssueContext(ctx context.Context, batch []mask.Mapping, retry func(mask.Mapping) (string, error)) ([]string, error) {
	out := make([]string, len(batch))
	missing := 0
	err := s.viewContext(ctx, s.withDir(func(d *dirTx) error {
		for i, m := range batch {
			r, ok, err := d.byOriginal(m.Family, m.Original)
			if err != nil {
				return err
			}
			if !ok {
				missing++
				continue
			}
			out[i] = r.Pseudonym
		}
		return nil
	}))
	if err != nil || missing == 0 {
		return out, err
	}
	return s.write(ctx, batch, out, retry)
}

// issueCall is one Issue waiting for the write transaction.
type issueCall struct {
	ctx   context.Context // nil: waits as long as it takes
	batch []mask.Mapping
	out   []string // pseudonyms already found; filled in by the write
	retry func(mask.Mapping) (string, error)
	err   error
	done  chan struct{}
}

// write records the mappings of batch that out lacks. Concurrent calls
// share one write transaction (one file lock, one fsync): a writer
// goroutine writes for every call queued by then, while the callers wait
// for it. If that transaction fails, each call is retried in its own, so
// one call's failure is not another's. A caller stops waiting when its ctx
// is done; the writer stops waiting for the store's lock when no caller
// of the transaction waits for it any more.
func (s *Store) write(ctx context.Context, batch []mask.Mapping, out []string, retry func(mask.Mapping) (string, error)) ([]string, error) {
	c := &issueCall{ctx: ctx, batch: batch, out: out, retry: retry, done: make(chan struct{})}
	s.mu.Lock()
	s.queue = append(s.queue, c)
	if !s.writing {
		s.writing = true
		go s.writeQueued()
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		return nil, fmt.Errorf("gave up waiting for the store: %w", ctx.Err())
	}
}

// writeQueued writes for the queued calls until there are none.
func (s *Store) writeQueued() {
	s.mu.Lock()
	for len(s.queue) > 0 {
		calls := s.queue
		s.queue = nil
		s.mu.Unlock()
		s.writeCalls(calls)
		s.mu.Lock()
	}
	s.writing = false
	s.mu.Unlock()
}

// waitContext is done when every call's context is: a write waits for the
// store's lock as long as one of its callers waits for the write. When a
// caller waits as long as it takes, so does the write (in the kernel, at
// the turnstile).
func waitContext(calls []*issueCall) (context.Context, context.CancelFunc) {
	for _, c := range calls {
		if c.ctx == nil || c.ctx.Done() == nil {
			return context.Background(), func() {}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(calls)))
	stops := make([]func() bool, 0, len(calls))
	for _, c := range calls {
		stops = append(stops, context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

func (s *Store) writeCalls(calls []*issueCall) {
	attempt := func(group []*issueCall) error {
		ctx, cancel := waitContext(group)
		defer cancel()
		outs := make([][]string, len(group))
		err := s.updateContext(ctx, s.withDir(func(d *dirTx) error {
			p := &pending{fwd: map[string]string{}, rev: map[string]string{}, orig: map[string]bool{}}
			for i, c := range group {
				// work on copies: a rolled-back attempt leaves nothing behind
				outs[i] = slices.Clone(c.out)
				if err := s.issueIn(d, p, slices.Clone(c.batch), outs[i], c.retry); err != nil {
					return err
				}
			}
			return s.appendLog(d.tx, p.recorded)
		}))
		if err == nil {
			for i, c := range group {
				c.out = outs[i]
			}
			s.mu.Lock()
			s.commits++
			s.mu.Unlock()
		}
		return err
	}
	if err := attempt(calls); err != nil {
		if len(calls) == 1 {
			calls[0].err, calls[0].out = err, nil
		} else {
			for _, c := range calls {
				if c.ctx != nil && c.ctx.Err() != nil {
					c.err, c.out = c.ctx.Err(), nil // gone: nothing to retry for
					continue
				}
				if err := attempt([]*issueCall{c}); err != nil {
					c.err, c.out = err, nil
				}
			}
		}
	}
	for _, c := range calls {
		close(c.done)
	}
}

// pending is what one write transaction has recorded so far, which the
// directory does not hold yet.
type pending struct {
	fwd      map[string]string // family and original → pseudonym
	rev      map[string]string // pseudonym → original
	orig     map[string]bool   // originals, any family
	recorded []mask.Mapping
}

// issueIn records the mappings of batch that the store does not hold yet
// (out[i] == ""), checking them against the store and what this
// transaction recorded before: an original the store holds gets its
// pseudonym, one that is itself an issued pseudonym gets "" (it is never
// masked again), and a proposed pseudonym that is another original's, or
// an original itself, is proposed again through retry.
func (s *Store) issueIn(d *dirTx, p *pending, batch []mask.Mapping, out []string, retry func(mask.Mapping) (string, error)) error {
	originals := map[string]bool{}
	for _, m := range batch {
		originals[m.Original] = true
	}
	for i, m := range batch {
		if out[i] != "" {
			continue
		}
		key := m.Family + "\x00" + m.Original
		if ps, ok := p.fwd[key]; ok {
			out[i] = ps
			continue
		}
		if r, ok, err := d.byOriginal(m.Family, m.Original); err != nil {
			return err
		} else if ok {
			out[i] = r.Pseudonym
			continue
		}
		if o, ok := p.rev[m.Original]; ok && o != m.Original {
			continue // an issued pseudonym is never masked again
		}
		if r, ok, err := d.byPseudonym(m.Original); err != nil {
			return err
		} else if ok && r.Original != m.Original {
			continue
		}
		for {
			taken, err := s.pseudonymTaken(d, p, m, originals)
			if err != nil {
				return err
			}
			if !taken {
				break
			}
			if m.Pseudonym, err = retry(m); err != nil {
				return err
			}
		}
		p.fwd[key] = m.Pseudonym
		if _, ok := p.rev[m.Pseudonym]; !ok {
			p.rev[m.Pseudonym] = m.Original
		}
		p.orig[m.Original] = true
		out[i] = m.Pseudonym
		p.recorded = append(p.recorded, m)
	}
	return nil
}

// pseudonymTaken reports whether m's proposed pseudonym may not be issued:
// another original holds it, or it is itself an original (in the store,
// in any family, or in the batch being issued).
func (s *Store) pseudonymTaken(d *dirTx, p *pending, m mask.Mapping, originals map[string]bool) (bool, error) {
	if (originals[m.Pseudonym] || p.orig[m.Pseudonym]) && m.Pseudonym != m.Original {
		return true, nil
	}
	if o, ok := p.rev[m.Pseudonym]; ok && o != m.Original {
		return true, nil
	}
	r, ok, err := d.byPseudonym(m.Pseudonym)
	if err != nil {
		return false, err
	}
	if ok && r.Original != m.Original {
		return true, nil
	}
	if m.Pseudonym == m.Original {
		return false, nil
	}
	return d.isOriginal(m.Pseudonym)
}

// Lookup implements mask.Mappings.
func (s *Store) Lookup(pseudonyms []string) ([]string, error) {
	out := make([]string, len(pseudonyms))
	err := s.view(s.withDir(func(d *dirTx) error {
		for i, p := range pseudonyms {
			r, ok, err := d.byPseudonym(p)
			if err != nil {
				return err
			}
			if ok {
				out[i] = r.Original
			}
		}
		return nil
	}))
	return out, err
}

// Check opens the store and verifies, in one read transaction, that it is
// sealed under this process's key.
func (s *Store) Check() error {
	return s.view(func(*bolt.Tx) error { return nil })
}

// LookupOne returns the original and kind behind one pseudonym.
func (s *Store) LookupOne(pseudonym string) (original, kind string, ok bool, err error) {
	err = s.view(s.withDir(func(d *dirTx) error {
		r, found, err := d.byPseudonym(pseudonym)
		original, kind, ok = r.Original, r.Kind, found
		return err
	}))
	return original, kind, ok, err
}

// Info describes a store.
type Info struct {
	Path     string
	Format   int
	Size     int64
	Mappings int
	PerKind  map[string]int
}

// Info reads the store's statistics; it decrypts every record, so it also
// verifies the whole store.
func (s *Store) Info() (Info, error) {
	info := Info{Path: s.path, Format: FormatVersion, PerKind: map[string]int{}}
	if st, err := os.Stat(s.path); err == nil {
		info.Size = st.Size()
	}
	err := s.view(func(tx *bolt.Tx) error {
		if err := s.eachChunk(tx, 0, func(_ uint64, c chunk) error {
			for i := range c.len() {
				info.PerKind[string(c.field(i, 0))]++
			}
			info.Mappings += c.len()
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketBatch).ForEach(func(k, v []byte) error {
			_, err := s.open(v, k)
			return err
		})
	})
	return info, err
}

// KindsSorted returns the kind names of info in a stable order.
func (i Info) KindsSorted() []string {
	ks := make([]string, 0, len(i.PerKind))
	for k := range i.PerKind {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
