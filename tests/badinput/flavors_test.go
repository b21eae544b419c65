package badinput

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/linearmodel"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// Bad input to the other flavors' pipelines: the linear Go trainer and the
// Python sklearn-linear trainer read rows of named columns (a CSV with a
// header, or JSON records), so their refusals differ from fakemodel's x,y
// pairs. The starter refuses what it can check before a pipeline starts
// (the rows' shape, for every trainer); the worker refuses the rest (the
// target column, the fit, unknown names) in the first step, creating
// nothing. Python-side rows are in pyworker/tests/test_pyworker.py.

// linearFlavors is the registry worker/main.go builds.
func linearFlavors(t *testing.T) *flavor.Registry {
	reg := flavor.Builtin()
	require.NoError(t, reg.AddFlavor(linearmodel.Flavor{}))
	require.NoError(t, reg.AddTrainer(linearmodel.Trainer("y")))
	return reg
}

// trainerData writes content to name and runs `starter run --trainer`.
func trainerData(trainer, name, content string) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		p := filepath.Join(h.dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return cli("run", "--model", "m", "--trainer", trainer, "--data", p)(t, h)
	}
}

// wfTrainer runs the workflow on a worker with the linear flavor, training
// trainer (and flavor, if set) on content written to name.
func wfTrainer(trainer, fl, name, content string) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		h.flavors = linearFlavors(t)
		p := filepath.Join(h.dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return runWorkflow(t, h, "wf-"+t.Name(), workflows.LifecycleRequest{
			ModelName: "m", Alias: "champion", Data: vocab.TrainingData{Path: p}, Trainer: trainer, Flavor: fl,
		})
	}
}

const goodRows = "a,b,y\n0,1,1\n1,0,3\n2,2,5.5\n3,1,6\n"

func flavorRows() []row {
	var out []row
	// The rows' shape, refused by the starter for a Go and a Python trainer
	// alike (both read the file with the worker's rules).
	for _, tr := range []string{"linear", "sklearn-linear"} {
		out = append(out,
			row{"cli/" + tr + " CSV without header", failure.InvalidTrainingData, "needs a header line", trainerData(tr, "rows.csv", "1,2,3\n4,5,6\n"), nil},
			row{"cli/" + tr + " empty file", failure.InvalidTrainingData, "empty", trainerData(tr, "rows.csv", ""), nil},
			row{"cli/" + tr + " header only", failure.InvalidTrainingData, "a header and no rows", trainerData(tr, "rows.csv", "a,y\n"), nil},
			row{"cli/" + tr + " non-numeric cell", failure.InvalidTrainingData, `column "a": "x" is not a number`, trainerData(tr, "rows.csv", "a,y\n1,2\nx,3\n"), nil},
			row{"cli/" + tr + " empty column name", failure.InvalidTrainingData, "column 2 has no name", trainerData(tr, "rows.csv", "a,,y\n1,2,3\n"), nil},
			row{"cli/" + tr + " duplicate column name", failure.InvalidTrainingData, `column "a" appears twice`, trainerData(tr, "rows.csv", "a,a,y\n1,2,3\n"), nil},
			row{"cli/" + tr + " JSON records of mixed keys", failure.InvalidTrainingData, "record 2 has keys [b y], the first record [a y]",
				trainerData(tr, "rows.json", `[{"a":1,"y":2},{"b":1,"y":2}]`), nil},
			row{"cli/" + tr + " JSON not records", failure.InvalidTrainingData, "not an object", trainerData(tr, "rows.json", `[1, 2]`), nil},
		)
	}
	return append(out,
		// The worker: a pipeline of the linear trainer on the local store.
		row{"wf/linear CSV without header", failure.InvalidTrainingData, "needs a header line", wfTrainer("linear", "", "rows.csv", "1,2,3\n4,5,6\n"), nothingCreated("m")},
		row{"wf/linear without the y column", failure.InvalidTrainingData, `no column "y"`, wfTrainer("linear", "", "rows.csv", "a,b\n1,2\n2,3\n3,5\n"), nothingCreated("m")},
		row{"wf/linear non-numeric cell", failure.InvalidTrainingData, `"x" is not a number`, wfTrainer("linear", "", "rows.csv", "a,y\n1,2\nx,3\n"), nothingCreated("m")},
		row{"wf/linear empty file", failure.InvalidTrainingData, "empty", wfTrainer("linear", "", "rows.csv", "\n"), nothingCreated("m")},
		row{"wf/linear empty column name", failure.InvalidTrainingData, "column 2 has no name", wfTrainer("linear", "", "rows.csv", "a,,y\n1,2,3\n2,3,4\n3,5,6\n"), nothingCreated("m")},
		row{"wf/linear duplicate column name", failure.InvalidTrainingData, `column "a" appears twice`, wfTrainer("linear", "", "rows.csv", "a,a,y\n1,2,3\n2,3,4\n3,5,6\n"), nothingCreated("m")},
		row{"wf/linear JSON records of mixed keys", failure.InvalidTrainingData, "has keys",
			wfTrainer("linear", "", "rows.json", `[{"a":1,"y":2},{"a":2,"y":3},{"b":1,"y":2}]`), nothingCreated("m")},
		row{"wf/linear singular design", failure.InvalidTrainingData, "singular design: column b",
			wfTrainer("linear", "", "rows.csv", "a,b,y\n1,2,3\n2,4,5\n3,6,8\n"), nothingCreated("m")},
		row{"wf/linear fewer rows than weights", failure.InvalidTrainingData, "2 rows cannot determine 2 weights",
			wfTrainer("linear", "", "rows.csv", "a,b,y\n1,2,3\n2,5,5\n"), nothingCreated("m")},
		row{"wf/unknown trainer linear-nope", failure.UnknownTrainer, `unknown trainer "linear-nope" (this worker has [fakemodel linear])`,
			wfTrainer("linear-nope", "", "rows.csv", goodRows), nothingCreated("m")},
		row{"wf/unknown flavor", failure.FlavorNotFound, `unknown flavor "nosuch" (this worker has [fakemodel my_flavor flavorflow_linear])`,
			wfTrainer("linear", "nosuch", "rows.csv", goodRows), nothingCreated("m")},
		row{"wf/trainer of another flavor", failure.InvalidArgument, `trainer "linear" fits flavor "flavorflow_linear", not "fakemodel"`,
			wfTrainer("linear", flavor.FlavorName, "rows.csv", goodRows), nothingCreated("m")},
		row{"wf/load-only flavor", failure.InvalidArgument, `trainer "fakemodel" fits flavor "fakemodel", not "my_flavor"`,
			wfTrainer("", flavor.TutorialFlavor, "rows.csv", goodRows), nothingCreated("m")},
	)
}
