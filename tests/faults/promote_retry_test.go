package faults

import (
	"context"
	"maps"
	"path/filepath"
	"testing"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// TestPromoteRetryAfterOverwrite replays the interleaving the concurrent
// promotion scenario found: B (version 2) set the alias and passed its
// check; A (version 1) then set the alias over it and its attempt died
// before its own check. A's retry finds the alias on its own version and
// must still run the check — move the alias back to 2 and fail
// AliasConflict — not return early and leave a lost update.
func TestPromoteRetryAfterOverwrite(t *testing.T) {
	ctx := context.Background()
	st, err := localstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	expID, err := st.CreateExperiment(ctx, "promote-retry", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: "r", StartTimeMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	const name, alias = "promote-retry", "champion"
	if _, err := st.CreateRegisteredModel(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	intent := store.Tags{activities.TagVerified: "true", activities.TagPromoteIntent + alias: "requested"}
	for i := range 2 {
		// Real stored bytes: promotion hashes them against the manifest.
		dir := filepath.Join(t.TempDir(), "model")
		if _, err := flavor.SaveModel(ctx, dir, fakemodel.New(float64(i)), flavor.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		lm, err := flavor.LogModel(ctx, st, dir, flavor.LogOptions{ExperimentID: expID, RunID: run.ID, Name: "model"})
		if err != nil {
			t.Fatal(err)
		}
		tags := store.Tags{activities.TagManifestSHA256: lm.ManifestSHA256}
		maps.Copy(tags, intent)
		if _, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: lm.ModelURI, ModelID: lm.ModelID, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetAlias(ctx, name, alias, 1); err != nil { // A's overwrite, after B's set
		t.Fatal(err)
	}
	a := &activities.Activities{Store: st}
	_, err = a.PromoteAlias(ctx, activities.PromoteInput{ModelName: name, Alias: alias, Version: 1})
	if err == nil || errorType(err) != string(failure.AliasConflict) {
		t.Errorf("A's retry: %v, want AliasConflict", err)
	}
	mv, err := st.GetModelVersionByAlias(ctx, name, alias)
	if err != nil || mv.Version != 2 {
		t.Fatalf("alias after A's retry: %v %v, want version 2 (the newest that asked for it)", mv, err)
	}
}
