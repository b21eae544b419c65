package localstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// busyTimeout is how long a writer waits for another writer's lock before
// the store reports failure.StoreBusy. Long enough to ride out a burst of
// version creations from several workers, short enough that a wedged process
// shows up as a retryable error rather than a hung activity.
// A variable only so tests can shorten it.
var busyTimeout = 15 * time.Second

// Store is the local store. Create it with Open; it is safe for concurrent use.
type Store struct {
	dir  string // absolute
	db   *sql.DB
	root *os.Root // <dir>/artifacts
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidConfig, err, "local store directory %q", dir)
	}
	artDir := filepath.Join(abs, "artifacts")
	if err := os.MkdirAll(artDir, 0o755); err != nil {
		return nil, failure.Wrap(failure.Internal, err, "create local store directory %s", abs)
	}
	root, err := os.OpenRoot(artDir)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "open artifact root %s", artDir)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Path: filepath.Join(abs, "flavorflow.db"), RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		root.Close()
		return nil, failure.Wrap(failure.Internal, err, "open %s", abs)
	}
	s := &Store{dir: abs, db: db, root: root}
	if err := s.migrate(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Describe implements store.Store.
func (s *Store) Describe() string { return "local store at " + s.dir }

// UIURL implements store.Store: the local store has no UI.
func (s *Store) UIURL(string, int) string { return "" }

// Close closes the database and the artifact root.
func (s *Store) Close() error {
	return errors.Join(s.db.Close(), s.root.Close())
}

// write runs fn in an immediate transaction and commits it.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return s.tx(ctx, what, false, fn)
}

// read runs fn in a deferred read-only transaction so that multi-statement
// reads see one snapshot without taking the write lock.
func (s *Store) read(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return s.tx(ctx, what, true, fn)
}

func (s *Store) tx(ctx context.Context, what string, readOnly bool, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return dbErr(err, what)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return dbErr(err, what)
	}
	return dbErr(tx.Commit(), what)
}

// dbErr gives a database error a failure code. Errors that already carry one
// (raised by the store's own checks) pass through unchanged.
func dbErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var fe *failure.Error
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return failure.Wrap(failure.Internal, err, "%s", what)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return failure.Wrap(failure.StoreBusy, err, "%s: database locked by another writer (busy timeout %s)", what, busyTimeout)
		}
	}
	return failure.Wrap(failure.Internal, err, "%s", what)
}

func nowMs() int64 { return time.Now().UnixMilli() }

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// getOne runs fn in a transaction and returns its result by pointer, the
// shape of every single-entity read.
func getOne[T any](ctx context.Context, s *Store, what string, readOnly bool, fn func(tx *sql.Tx) (T, error)) (*T, error) {
	var v T
	err := s.tx(ctx, what, readOnly, func(tx *sql.Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// queryAll scans every row of query with scan, then completes each entity
// with fill (child rows: tags, params, aliases). The cursor is closed before
// fill runs, since one connection cannot interleave the two.
func queryAll[T any](ctx context.Context, tx *sql.Tx, scan func(scanner) (T, error), fill func(context.Context, *sql.Tx, *T) error, query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	for i := range out {
		if err := fill(ctx, tx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// search runs queryAll in a read transaction.
func search[T any](ctx context.Context, s *Store, what string, scan func(scanner) (T, error), fill func(context.Context, *sql.Tx, *T) error, query string, args ...any) ([]T, error) {
	var out []T
	err := s.read(ctx, what, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, scan, fill, query, args...)
		return err
	})
	return out, err
}
