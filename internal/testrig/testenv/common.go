package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Binary finds a tool: env var first, then <repo>/.venv/bin/<name>, then PATH.
// It skips the test (or fails it under FLAVORFLOW_REQUIRE_SERVERS=1) when the
// tool is missing.
func Binary(t testing.TB, envVar, name string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	if p := filepath.Join(RepoRoot(), ".venv", "bin", name); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := name + " not found (set " + envVar + " or run `make venv`)"
	if os.Getenv("FLAVORFLOW_REQUIRE_SERVERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Exit is a started process's exit, seen by any number of waiters: Done is
// closed (never sent on) when Wait returns, and Err is Wait's result from
// then on. A channel that carries the result once hangs whichever waiter
// comes second, for example a clean-up after a readiness poll that saw the
// process die.
type Exit struct {
	Done chan struct{}
	err  error
}

// WatchExit calls cmd.Wait on its own goroutine; cmd must have started.
func WatchExit(cmd *exec.Cmd) *Exit {
	e := &Exit{Done: make(chan struct{})}
	go func() {
		e.err = cmd.Wait()
		close(e.Done)
	}()
	return e
}

// Err is Wait's result; call it after Done is closed.
func (e *Exit) Err() error { return e.err }
