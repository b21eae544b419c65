package app

import (
	"flag"
	"io"
	"testing"

	"github.com/flavorflow/flavorflow/config"
)

func TestTuningFlags(t *testing.T) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tf := RegisterTuningFlags(fs)
	if err := fs.Parse([]string{"-max-concurrent-activities", "32", "-eager-activities=false", "-multipart-part-size", "67108864", "-http-pool-size", "8"}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Worker.UploadParallelism = 6 // not given as a flag: kept
	if err := tf.Apply(&cfg); err != nil {
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
	if err := tf.Apply(&cfg); err == nil {
		t.Fatal("a 1 KiB part size was accepted")
	}
}
