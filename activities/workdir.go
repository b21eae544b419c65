package activities

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// CleanUp removes the workflow's work directory on this worker: the saved
// model and whatever dead attempts left. The pipeline runs it last, after
// success and after failure. Another worker may hold files of the same
// workflow (a retry moved); its janitor (Sweep) removes them.
func (a *Activities) CleanUp(ctx context.Context) error {
	if a.WorkDir == "" {
		return nil
	}
	id, _ := workflowKey(ctx)
	dir := filepath.Join(a.WorkDir, sanitize(id))
	// Removing a large model on a slow disk may outlast the heartbeat timeout.
	_, err := run(ctx, a, "cleaning up", func(context.Context, string) (struct{}, error) {
		return struct{}{}, removeAll(dir)
	}, dir)
	if err == nil {
		a.logger(ctx).Info("removed the work directory", "dir", dir)
	}
	return err
}

// SweepOptions say what the janitor takes for left over.
type SweepOptions struct {
	// WorkflowTTL: a workflow directory in which nothing changed for this
	// long belongs to a pipeline that finished elsewhere or died (default
	// 24 h; longer than any step's schedule-to-close is safe).
	WorkflowTTL time.Duration
	// TempTTL: a temporary file or directory of a save (.tmp-*) or a
	// verification directory (verify-N) unchanged for this long was left by
	// a killed attempt; a live one is written continuously (default 30 min).
	TempTTL time.Duration
}

// Swept is what one sweep removed.
type Swept struct {
	WorkflowDirs int
	Temps        int
	Bytes        int64
}

// Sweep removes leftovers in dir (a WorkDir): workflow directories not
// modified for WorkflowTTL, and temporary saves, temporary files and
// verify-N directories not modified for TempTTL. Ages are of the newest
// entry inside, so a directory still written to is never taken. Errors on
// one entry do not stop the sweep; the first is returned.
func Sweep(ctx context.Context, dir string, now time.Time, opts SweepOptions) (Swept, error) {
	if opts.WorkflowTTL <= 0 {
		opts.WorkflowTTL = 24 * time.Hour
	}
	if opts.TempTTL <= 0 {
		opts.TempTTL = 30 * time.Minute
	}
	var out Swept
	var errs []error
	remove := func(p string) bool {
		size, _ := treeSize(p)
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			return false
		}
		out.Bytes += size
		return true
	}
	workflows, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, failure.Wrap(failure.Internal, err, "read %s", dir)
	}
	for _, wf := range workflows {
		if err := ctx.Err(); err != nil {
			return out, err // the worker is stopping; the next sweep goes on
		}
		p := filepath.Join(dir, wf.Name())
		if !wf.IsDir() {
			continue
		}
		if now.Sub(newest(p)) > opts.WorkflowTTL {
			if remove(p) {
				out.WorkflowDirs++
			}
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if !isTemp(e.Name()) {
				continue
			}
			q := filepath.Join(p, e.Name())
			if now.Sub(newest(q)) > opts.TempTTL && remove(q) {
				out.Temps++
			}
		}
		// Temporary files inside a saved model: a save from before saves
		// were renamed into place, killed mid-file.
		model := filepath.Join(p, "model")
		_ = filepath.WalkDir(model, func(q string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), ".tmp-") {
				return nil
			}
			if info, err := d.Info(); err == nil && now.Sub(info.ModTime()) > opts.TempTTL && remove(q) {
				out.Temps++
			}
			return nil
		})
	}
	return out, errors.Join(errs...)
}

// isTemp reports whether a workflow directory entry is scratch of one
// attempt: a save in progress or a verification download.
func isTemp(name string) bool {
	if strings.HasPrefix(name, ".tmp-") {
		return true
	}
	rest, ok := strings.CutPrefix(name, "verify-")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// newest returns the latest modification time of p and everything below it.
func newest(p string) time.Time {
	var t time.Time
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(t) {
			t = info.ModTime()
		}
		return nil
	})
	return t
}

func treeSize(p string) (int64, error) {
	var n int64
	err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// DiskSpace is the free and total space of the file system holding a path.
type DiskSpace struct {
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
}

// FreeSpace reports the space available to this process on dir's file
// system (dir is created if missing, so a fresh worker can report).
func FreeSpace(dir string) (DiskSpace, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return DiskSpace{}, failure.Wrap(failure.Internal, err, "create %s", dir)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return DiskSpace{}, failure.Wrap(failure.Internal, err, "statfs %s", dir)
	}
	return DiskSpace{FreeBytes: st.Bavail * uint64(st.Bsize), TotalBytes: st.Blocks * uint64(st.Bsize)}, nil
}

// downloadDir returns a fresh directory for this attempt's download,
// verify-<attempt> in the workflow's work directory (a name the janitor
// sweeps as scratch when a killed attempt leaves it), and release, which
// removes it and then the workflow's directory if nothing else is left in
// it: a workflow without a CleanUp step (VerifyVersion), or a verify that
// ran on another worker than the save, would leave an empty one behind.
func (a *Activities) downloadDir(ctx context.Context) (dir string, release func(), err error) {
	attempt := int32(1)
	if info, ok := activityInfo(ctx); ok {
		attempt = info.Attempt
	}
	dir = a.workDir(ctx, fmt.Sprintf("verify-%d", attempt))
	if err := removeAll(dir); err != nil {
		return "", nil, err
	}
	return dir, func() {
		_ = removeAll(dir)
		_ = os.Remove(filepath.Dir(dir)) // fails, harmlessly, while not empty
	}, nil
}
