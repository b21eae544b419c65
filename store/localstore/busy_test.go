package localstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// A writer that holds the lock past the busy timeout turns into StoreBusy,
// which activities retry, not Internal.
func TestLockedDatabaseIsStoreBusy(t *testing.T) {
	defer localstore.SetBusyTimeout(200 * time.Millisecond)()
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()

	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "flavorflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.CreateExperiment(ctx, "blocked", nil)
	if !failure.Has(err, failure.StoreBusy) {
		t.Errorf("write while another process holds the lock: %v, want StoreBusy", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the busy timeout", waited)
	}
	// Reads are not blocked by a writer in WAL mode.
	if _, err := s.GetExperimentByName(ctx, "Default"); err != nil {
		t.Errorf("read while locked: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateExperiment(ctx, "blocked", nil); err != nil {
		t.Errorf("write after the lock is released: %v", err)
	}
}
