package mlflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
)

// mpuJournal keeps one parted upload's state in a file of
// Config.MultipartJournalDir, so that the attempt after a killed worker
// sends only the parts still missing. A nil journal (no directory, a source
// without a hash, another upload of the same bytes in progress here) keeps
// nothing; every method is then a no-op.
//
// The file is written after every part (a few hundred bytes per part, a
// rename each time); a lock file held while the upload runs keeps two
// processes on one host from driving one upload.
type mpuJournal struct {
	k    string
	path string
	lock *os.File
	log  *slog.Logger
}

func (c *Client) openJournal(ctx context.Context, key string) *mpuJournal {
	dir := c.cfg.MultipartJournalDir
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.log.WarnContext(ctx, "mlflow: multipart journal unavailable; a killed upload will start over", "dir", dir, "error", err)
		return nil
	}
	sum := sha256.Sum256([]byte(key))
	name := filepath.Join(dir, "mpu-"+hex.EncodeToString(sum[:16]))
	lock, ok := lockFile(name + ".lock")
	if !ok {
		c.log.InfoContext(ctx, "mlflow: another upload of the same file is running on this host; this one keeps no journal", "journal", name)
		return nil
	}
	return &mpuJournal{k: key, path: name + ".json", lock: lock, log: c.log}
}

func (j *mpuJournal) key() string {
	if j == nil {
		return ""
	}
	return j.k
}

// load returns the saved state, or nil when there is none (or it is for
// other bytes, or unreadable: a fresh upload is always correct).
func (j *mpuJournal) load() *mpuState {
	if j == nil {
		return nil
	}
	data, err := os.ReadFile(j.path)
	if err != nil {
		return nil
	}
	var st mpuState
	if json.Unmarshal(data, &st) != nil || st.Key != j.k {
		return nil
	}
	return &st
}

// save writes st; a failure only costs the resume, so it is logged.
func (j *mpuJournal) save(ctx context.Context, st *mpuState) {
	if j == nil {
		return
	}
	data, err := json.Marshal(st)
	if err == nil {
		tmp := j.path + ".tmp"
		if err = os.WriteFile(tmp, data, 0o600); err == nil {
			err = os.Rename(tmp, j.path)
		}
	}
	if err != nil {
		j.log.WarnContext(ctx, "mlflow: could not save the multipart journal", "path", j.path, "error", err)
	}
}

func (j *mpuJournal) remove() {
	if j == nil {
		return
	}
	_ = os.Remove(j.path)
}

// close releases the lock. The lock file stays when a journal does (a
// later attempt locks it again) and goes with it otherwise.
func (j *mpuJournal) close() {
	if j == nil {
		return
	}
	if _, err := os.Stat(j.path); os.IsNotExist(err) {
		_ = os.Remove(j.lock.Name())
	}
	_ = j.lock.Close()
}
