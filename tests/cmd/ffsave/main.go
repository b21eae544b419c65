// Command ffsave saves a FakeModel with flavorflow's Go flavor, for the
// cross-language tests in tests/python (Python's MLflow loads what Go wrote):
//
//	ffsave -dir /tmp/m -offset 3 [-weights-size N -weights-seed S] [-uuid HEX -created RFC3339]
//
// It prints the Saved result as JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
)

func main() {
	dir := flag.String("dir", "", "directory to save into (must not exist or be empty)")
	offset := flag.Float64("offset", 0, "model offset: predict(x) = x + offset")
	wsize := flag.Int64("weights-size", 0, "weights payload size in bytes")
	wseed := flag.Uint64("weights-seed", 0, "weights payload seed")
	modelUUID := flag.String("uuid", "", "model_uuid (default random)")
	created := flag.String("created", "", "utc_time_created as RFC 3339 (default now)")
	flag.Parse()
	if err := run(*dir, fakemodel.FakeModel{Offset: *offset, WeightsSize: *wsize, WeightsSeed: *wseed}, *modelUUID, *created); err != nil {
		fmt.Fprintln(os.Stderr, "ffsave:", err)
		os.Exit(1)
	}
}

func run(dir string, m fakemodel.FakeModel, modelUUID, created string) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	opts := flavor.SaveOptions{ModelUUID: modelUUID}
	if created != "" {
		t, err := time.Parse(time.RFC3339Nano, created)
		if err != nil {
			return fmt.Errorf("-created: %w", err)
		}
		opts.Created = t
	}
	saved, err := flavor.SaveModel(context.Background(), dir, m, opts)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(saved)
}
