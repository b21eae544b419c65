package app

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/config"
)

// The worker's flags come from the settings table and override the file
// and the environment; those not given keep their lower layer.
func TestWorkerFlags(t *testing.T) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f config.Flags
	f.AddToGo(fs, WorkerFlags...)
	if err := fs.Parse([]string{"-max-concurrent-activities", "32", "-eager-activities=false", "--multipart-part-size", "67108864", "-http-pool-size", "8"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FLAVORFLOW_UPLOAD_PARALLELISM": "6", "FLAVORFLOW_MAX_CONCURRENT_ACTIVITIES": "2"}
	cfg, err := config.LoadWith(config.Options{Path: "-", Getenv: func(k string) string { return env[k] }, Flags: f.Values()})
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Worker
	if w.MaxConcurrentActivities != 32 || w.EagerActivities || w.MultipartPartSize != 64<<20 || w.HTTPPoolSize != 8 || w.UploadParallelism != 6 ||
		w.MaxConcurrentWorkflowTasks != config.Defaults().Worker.MaxConcurrentWorkflowTasks {
		t.Fatalf("flags applied wrong: %+v", w)
	}
	if opts := WorkerOptions(w); !opts.DisableEagerActivities || opts.MaxConcurrentActivityExecutionSize != 32 {
		t.Fatalf("worker options: %+v", opts)
	}
	if err := fs.Parse([]string{"-multipart-part-size", "1024"}); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadWith(config.Options{Path: "-", Flags: f.Values()}); err == nil {
		t.Fatal("a 1 KiB part size was accepted")
	}
	if err := fs.Parse([]string{"-upload-parallelism", "many"}); err == nil {
		t.Fatal("a flag value that is not a number was accepted")
	}
	// The help lists every flag (the flag package asks a zero Value for its
	// default, which must not panic).
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if strings.Contains(help.String(), "panic") || !strings.Contains(help.String(), "FLAVORFLOW_MAX_CONCURRENT_ACTIVITIES") {
		t.Errorf("worker -h:\n%s", help.String())
	}
}
