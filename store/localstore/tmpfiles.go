package localstore

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Temp files and their clean-up.
//
// PutArtifact streams into "<dir>/.tmp-<random>" and renames it over the
// target. A writer killed before the rename (SIGKILL, OOM, power loss) leaves
// that file behind, nearly as large as the artifact, and nothing ever looked
// at it again. Two places now remove such leftovers: PutArtifact sweeps the
// directory it writes into, and FinalizeLoggedModel sweeps the logged model's
// whole artifact tree (after a finalize no further upload belongs to it).
//
// Several worker processes share one store directory, and a zombie attempt
// (one Temporal has already replaced, e.g. after a heartbeat timeout) may
// still be writing into the same model directory when another attempt
// finalizes it. Deleting a live writer's temp file would make its rename fail
// with NotFound, which is not retryable, so that attempt would mark the model
// LOGGED_MODEL_UPLOAD_FAILED, possibly over the READY the winner just set.
// An age threshold cannot tell a slow writer from a dead one either.
//
// So a writer holds an exclusive flock(2) on its temp file from creation
// until after the rename, and a sweeper removes a temp file only while holding
// that lock itself, taken without waiting. The kernel drops a flock when the
// last descriptor of the open file goes away, which includes the death of
// the process by any signal; a lock that can be taken therefore means the
// writer is gone. flock locks belong to the open file description, not to the
// process, so a sweeper in the writer's own process is excluded as well
// (fcntl locks would not be). The store directory is necessarily local to
// one host, because SQLite's WAL mode needs shared memory between the
// processes using it, so flock is reliable here.
//
// One window remains: between the writer's O_EXCL create and its flock a
// sweeper can take the lock and delete the file. The writer detects that
// after locking (its descriptor no longer is the file at that name) and starts
// over with a new name; see createTemp.

// createTemp creates and locks a new temp file in dir (slash path below r).
// The caller keeps the file open, hence locked, until the temp file has been
// renamed away or removed.
func createTemp(r *os.Root, dir string) (*os.File, string, error) {
	for attempt := 0; ; attempt++ {
		tmp := path.Join(dir, tmpPrefix+newHex())
		f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, "", err
		}
		if !canLock {
			return f, tmp, nil
		}
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			r.Remove(tmp)
			return nil, "", err
		}
		if locked && isFileAt(r, f, tmp) {
			return f, tmp, nil
		}
		// A sweeper got the lock first and has removed (or is removing) the
		// file: it saw an unlocked temp file, exactly what a dead writer
		// leaves. Try again under a fresh name; the sweeper cannot keep
		// winning this race, but bound it anyway.
		f.Close()
		if attempt >= 10 {
			return nil, "", errors.New("temp file removed by a concurrent sweep 10 times in a row")
		}
	}
}

// isFileAt reports whether the open file f is still the file named p below r.
func isFileAt(r *os.Root, f *os.File, p string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := r.Lstat(p)
	return err == nil && os.SameFile(a, b)
}

// sweepDir removes the temp files of dead writers directly in dir (below r).
// Best effort: a failure to clean up must not fail the write or finalize
// that triggered it, and the next sweep of the directory tries again.
func sweepDir(r *os.Root, dir string) {
	d, err := r.Open(dir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if strings.HasPrefix(n, tmpPrefix) {
			removeIfDead(r, path.Join(dir, n))
		}
	}
}

// sweepTree is sweepDir for dir and every directory below it. Symlinked
// directories are not followed (fs.WalkDir does not, and os.Root would
// refuse an escape anyway).
func (s *Store) sweepTree(dir string) {
	_ = fs.WalkDir(s.root.FS(), dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if e != nil && e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !e.IsDir() && strings.HasPrefix(e.Name(), tmpPrefix) {
			removeIfDead(s.root, p)
		}
		return nil
	})
}

// removeIfDead removes the temp file p (below r) if no writer holds its
// lock. The lock is held across the removal, so the writer's
// create-then-lock check in createTemp sees either a locked file it may not
// touch or a name that is already gone.
func removeIfDead(r *os.Root, p string) {
	if !canLock {
		return // no way to tell a dead writer from a live one
	}
	f, err := r.OpenFile(p, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return // gone (renamed into place or swept), or not a plain file
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return
	}
	if locked, err := tryLock(f); err != nil || !locked {
		return // a live writer: leave it alone
	}
	// Only remove the file we locked, not one that replaced the name since.
	if isFileAt(r, f, p) {
		r.Remove(p)
	}
}
