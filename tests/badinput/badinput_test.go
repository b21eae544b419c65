package badinput

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/storetest"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

var (
	fakeModel3  = fakemodel.New(3)
	goodPairs   = vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}}}
	goodRequest = workflows.LifecycleRequest{ModelName: "m", Alias: "champion", Data: goodPairs}
	long257     = strings.Repeat("n", 257)
	ctx         = context.Background()
)

// billion laughs, cut to a size the parser's alias limit must stop.
const yamlBomb = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
flavors: {my_flavor: {offset: 3}}
`

func tutorialMLmodel(flavorYAML string) map[string]string {
	return map[string]string{"MLmodel": "flavors:\n" + flavorYAML + "mlflow_version: 3.17.2\n", "model.pkl": "not a pickle"}
}

func editManifestPath(path string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, flavor.ManifestFile)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out := strings.Replace(string(b), `"path": "MLmodel"`, `"path": "`+path+`"`, 1)
		require.NotEqual(t, string(b), out)
		require.NoError(t, os.WriteFile(p, []byte(out), 0o644))
	}
}

func writeFile(name, content string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}

type row struct {
	name     string
	want     failure.Code
	contains string // the message names the problem
	try      func(t *testing.T, h *harness) error
	after    func(t *testing.T, h *harness) // store checks; nil: nothingCreated for every model name used
}

func rows() []row {
	run := func(model string, extra ...string) func(*testing.T, *harness) error {
		return cli(append([]string{"run", "--model", model, "--pairs", "1,4;2,5"}, extra...)...)
	}
	predict := func(uri string) func(*testing.T, *harness) error {
		return cli("predict", "--tracking-uri", "$DIR/store", uri, "4")
	}
	rmName := func(name string) func(c *mlflow.Client) error {
		return func(c *mlflow.Client) error { _, err := c.CreateRegisteredModel(ctx, name, nil); return err }
	}
	getRM := func(c *mlflow.Client) error { _, err := c.GetRegisteredModel(ctx, "m"); return err }
	const rmPath = "/api/2.0/mlflow/registered-models/get"
	return []row{
		// CLI: starter run (model names, aliases, training data).
		{"cli/name blank", failure.InvalidModelName, "empty", run("   "), nil},
		{"cli/name 257 bytes", failure.InvalidModelName, "257 bytes", run(long257), nil},
		{"cli/name slash", failure.InvalidModelName, "a/b", run("a/b"), nil},
		{"cli/name colon", failure.InvalidModelName, "a:b", run("a:b"), nil},
		{"cli/name percent", failure.InvalidModelName, "a%b", run("a%b"), nil},
		{"cli/name control char", failure.InvalidModelName, "control character", run("a\u0007b"), nil},
		{"cli/name C1 control (NEL)", failure.InvalidModelName, "control character", run("a\u0085b"), nil},
		{"cli/name invalid UTF-8", failure.InvalidModelName, "UTF-8", run("a\xff\xfeb"), nil},
		{"cli/name dotdot", failure.InvalidModelName, "clean", run(".."), nil},
		{"cli/alias reserved latest", failure.InvalidAlias, "reserved", run("m", "--alias", "latest"), nil},
		{"cli/alias reserved v3", failure.InvalidAlias, "reserved", run("m", "--alias", "V3"), nil},
		{"cli/alias space", failure.InvalidAlias, "letters, digits", run("m", "--alias", "my alias"), nil},
		{"cli/alias 256 chars", failure.InvalidAlias, "over the limit", run("m", "--alias", strings.Repeat("a", 256)), nil},
		{"cli/pairs not numbers", failure.InvalidTrainingData, "not a number", cli("run", "--model", "m", "--pairs", "a,b"), nil},
		{"cli/pairs NaN", failure.InvalidTrainingData, "not finite", cli("run", "--model", "m", "--pairs", "NaN,1"), nil},
		{"cli/pairs Inf", failure.InvalidTrainingData, "not finite", cli("run", "--model", "m", "--pairs", "1,-Inf"), nil},
		{"cli/pairs four fields", failure.InvalidTrainingData, "1,2,3,4", cli("run", "--model", "m", "--pairs", "1,2,3,4"), nil},
		{"cli/pairs only separators", failure.InvalidTrainingData, "no training pairs", cli("run", "--model", "m", "--pairs", " ; ;"), nil},
		{"cli/data empty file", failure.InvalidTrainingData, "empty", dataFile(""), nil},
		{"cli/data not numbers", failure.InvalidTrainingData, "not a number", dataFile("x,y\n1,2\nfoo,bar\n"), nil},
		{"cli/data NaN", failure.InvalidTrainingData, "not finite", dataFile("1,2\nnan,3\n"), nil},
		{"cli/data JSON lacks y", failure.InvalidTrainingData, "lacks x or y", dataFile(`[{"x":1}]`), nil},
		{"cli/data over MaxSamples", failure.InvalidTrainingData, "more than 1000000", dataFile(strings.Repeat("1,2\n", fakemodel.MaxSamples+1)), nil},
		{"cli/data missing file", failure.InvalidTrainingData, "does not exist", cli("run", "--model", "m", "--data", "$DIR/nope.csv"), nil},
		{"cli/pairs fit overflows", failure.InvalidTrainingData, "overflows", cli("run", "--model", "m", "--pairs", "-1e308,1e308"), nil},

		// CLI: starter predict (URIs and model directories).
		{"uri/models:/", failure.InvalidURI, "names no model", predict("models:/"), nil},
		{"uri/models:/x@", failure.InvalidURI, "empty alias", predict("models:/x@"), nil},
		{"uri/models:/x", failure.InvalidURI, "logged model id", predict("models:/x"), nil},
		{"uri/runs:/ no path", failure.InvalidURI, "names no run", predict("runs:/"), nil},
		{"uri/runs:/id no path", failure.InvalidURI, "no artifact path", predict("runs:/abc"), nil},
		{"uri/runs:/id/../x", failure.InvalidURI, `".."`, predict("runs:/abc/../x"), nil},
		{"uri/s3 scheme", failure.InvalidURI, `unknown URI scheme "s3"`, predict("s3://bucket/model"), nil},
		{"uri/hdfs scheme", failure.InvalidURI, `unknown URI scheme "hdfs"`, predict("hdfs:/models/x"), nil},
		{"uri/stage", failure.InvalidURI, "alias", predict("models:/m/Production"), nil},
		{"uri/bad name in URI", failure.InvalidURI, "contains one of", predict("models:/a%b/1"), nil},
		{"dir/symlink in model dir", failure.InvalidPath, "symlink", predictDir(map[string]string{
			"MLmodel": "flavors:\n  my_flavor: {offset: 3}\n", "model.pkl": "->/etc/passwd"}), nil},
		{"dir/MLmodel is a symlink", failure.InvalidPath, "not a regular file", predictDir(map[string]string{"MLmodel": "->/etc/hostname"}), nil},
		{"dir/no MLmodel", failure.InvalidMLmodel, "no MLmodel", predictDir(map[string]string{"model.pkl": "x"}), nil},
		{"mlmodel/YAML bomb", failure.InvalidMLmodel, "YAML", predictDir(map[string]string{"MLmodel": yamlBomb}), nil},
		{"mlmodel/oversized", failure.InvalidMLmodel, "limit", predictDir(map[string]string{"MLmodel": "flavors: {my_flavor: {offset: 3}}\n#" + strings.Repeat("x", flavor.MaxMLmodelSize)}), nil},
		{"mlmodel/not YAML", failure.InvalidMLmodel, "MLmodel", predictDir(map[string]string{"MLmodel": "{{{[ not: yaml"}), nil},
		{"mlmodel/a list", failure.InvalidMLmodel, "MLmodel", predictDir(map[string]string{"MLmodel": "- x\n- y\n"}), nil},
		{"mlmodel/missing flavor", failure.FlavorNotFound, "fakemodel", predictDir(tutorialMLmodel("  python_function: {loader_module: x}\n")), nil},
		{"mlmodel/offset wrong type", failure.InvalidMLmodel, "want a number", predictDir(tutorialMLmodel("  my_flavor: {offset: abc}\n")), nil},
		{"mlmodel/flavors wrong type", failure.InvalidMLmodel, "flavors", predictDir(map[string]string{"MLmodel": "flavors: [1, 2]\n"}), nil},
		{"mlmodel/offset NaN", failure.InvalidMLmodel, "finite", predictDir(tutorialMLmodel("  my_flavor: {offset: .nan}\n")), nil},
		{"mlmodel/offset Inf", failure.InvalidMLmodel, "finite", predictDir(tutorialMLmodel("  my_flavor: {offset: -.inf}\n")), nil},
		{"model.json/offset NaN", failure.InvalidModel, "model JSON", predictDir(map[string]string{
			"MLmodel": "flavors:\n  fakemodel: {data: model.json}\n", "model.json": `{"format_version": 1, "offset": NaN}`}), nil},
		{"model.json/offset huge", failure.InvalidModel, "model", predictDir(map[string]string{
			"MLmodel": "flavors:\n  fakemodel: {data: model.json}\n", "model.json": `{"format_version": 1, "offset": 1e999}`}), nil},
		{"mlmodel/data path escapes", failure.InvalidMLmodel, "..", predictDir(map[string]string{
			"MLmodel": "flavors:\n  fakemodel: {data: ../../etc/passwd}\n"}), nil},
		{"manifest/.. path", failure.InvalidManifest, "..", predictSaved(editManifestPath("../MLmodel")), nil},
		{"manifest/absolute path", failure.InvalidManifest, "absolute", predictSaved(editManifestPath("/etc/passwd")), nil},
		{"manifest/not JSON", failure.InvalidManifest, "manifest", predictSaved(writeFile(flavor.ManifestFile, "<html>")), nil},
		{"saved/symlink added", failure.InvalidPath, "symlink", predictSaved(func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "extra")))
		}), nil},

		// Workflow with real activities on the local store.
		{"wf/name slash", failure.InvalidModelName, "a/b", wf(workflows.LifecycleRequest{ModelName: "a/b", Data: goodPairs}), nothingCreated("a/b")},
		{"wf/name 257 bytes", failure.InvalidModelName, "257", wf(workflows.LifecycleRequest{ModelName: long257, Data: goodPairs}), nothingCreated(long257)},
		// Invalid UTF-8 cannot reach the workflow: the JSON payload converter
		// turns it into U+FFFD on the client, so the CLI row above is the check.
		{"wf/name tab", failure.InvalidModelName, "control character", wf(workflows.LifecycleRequest{ModelName: "a\tb", Data: goodPairs}), nothingCreated("")},
		{"wf/alias reserved", failure.InvalidAlias, "reserved", wf(workflows.LifecycleRequest{ModelName: "m", Alias: "latest", Data: goodPairs}), nothingCreated("m")},
		{"wf/alias bad chars", failure.InvalidAlias, "letters", wf(workflows.LifecycleRequest{ModelName: "m", Alias: "a.b", Data: goodPairs}), nothingCreated("m")},
		{"wf/no data", failure.InvalidTrainingData, "no training data", wf(workflows.LifecycleRequest{ModelName: "m"}), nothingCreated("m")},
		{"wf/too many inline pairs", failure.InvalidTrainingData, "over the limit", wf(workflows.LifecycleRequest{ModelName: "m",
			Data: vocab.TrainingData{Pairs: make([]vocab.Sample, vocab.MaxInlinePairs+1)}}), nothingCreated("m")},
		{"wf/data file empty", failure.InvalidTrainingData, "empty", wfData("\n\n"), nothingCreated("m")},
		{"wf/data file not numbers", failure.InvalidTrainingData, "not a number", wfData("1,2\n3,four\n"), nothingCreated("m")},
		{"wf/data file Inf", failure.InvalidTrainingData, "not finite", wfData("1,2\n3,+Inf\n"), nothingCreated("m")},
		{"wf/data file overflows", failure.InvalidTrainingData, "overflows", wfData("-1e308,1e308\n-1e308,1e308\n"), nothingCreated("m")},
		{"wf/data file huge", failure.InvalidTrainingData, "over the limit", func(t *testing.T, h *harness) error {
			p := filepath.Join(h.dir, "huge.csv")
			f, err := os.Create(p)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(fakemodel.MaxDataBytes+1)) // sparse
			require.NoError(t, f.Close())
			return runWorkflow(t, h, "wf-"+t.Name(), workflows.LifecycleRequest{ModelName: "m", Data: vocab.TrainingData{Path: p}})
		}, nothingCreated("m")},
		{"wf/data path is a directory", failure.InvalidTrainingData, "directory", func(t *testing.T, h *harness) error {
			return runWorkflow(t, h, "wf-"+t.Name(), workflows.LifecycleRequest{ModelName: "m", Data: vocab.TrainingData{Path: h.dir}})
		}, nothingCreated("m")},
		{"wf/MLmodel replaced by a YAML bomb after registration", failure.ChecksumMismatch, "MLmodel",
			afterRegistration(writeFile("MLmodel", yamlBomb)), aliasStayed},
		{"wf/model.json NaN after registration", failure.ChecksumMismatch, "model.json",
			afterRegistration(writeFile("model.json", `{"format_version": 1, "offset": NaN}`)), aliasStayed},

		// The local store directly.
		{"local/create model empty name", failure.InvalidModelName, "empty", func(t *testing.T, h *harness) error {
			_, err := h.local().CreateRegisteredModel(ctx, "", nil)
			return err
		}, nothingCreated("")},
		{"local/create model with %", failure.InvalidModelName, "a%b", func(t *testing.T, h *harness) error {
			_, err := h.local().CreateRegisteredModel(ctx, "a%b", nil)
			return err
		}, nothingCreated("a%b")},
		{"local/alias v1", failure.InvalidAlias, "reserved", func(t *testing.T, h *harness) error {
			return h.local().SetAlias(ctx, "m", "v1", 1)
		}, nothingCreated("m")},
		{"local/put artifact ..", failure.InvalidPath, "..", func(t *testing.T, h *harness) error {
			return h.local().PutArtifact(ctx, "mlflow-artifacts:/1/x", "../../../escape", storeBytes("x"))
		}, nothingCreated("m")},
		{"local/put artifact absolute", failure.InvalidPath, "absolute", func(t *testing.T, h *harness) error {
			return h.local().PutArtifact(ctx, "mlflow-artifacts:/1/x", "/tmp/escape", storeBytes("x"))
		}, nothingCreated("m")},
		{"local/list ..", failure.InvalidPath, "..", func(t *testing.T, h *harness) error {
			_, err := h.local().ListArtifacts(ctx, "mlflow-artifacts:/1/x", "a/../..")
			return err
		}, nothingCreated("m")},
		{"local/artifact root with ..", failure.InvalidURI, "artifact root", func(t *testing.T, h *harness) error {
			_, err := h.local().OpenArtifact(ctx, "mlflow-artifacts:/../../etc", "passwd")
			return err
		}, nothingCreated("m")},

		// A crafted server that mimics MLflow.
		{"listing/.. entry", failure.InvalidPath, "..", loadFromListing(`{"files":[{"path":"../../evil","is_dir":false,"file_size":4}]}`), nil},
		{"listing/absolute entry", failure.InvalidPath, "/etc/cron.d/evil", loadFromListing(`{"files":[{"path":"/etc/cron.d/evil","is_dir":false,"file_size":4}]}`), nil},
		{"listing/backslash entry", failure.InvalidPath, `unsafe entry`, loadFromListing(`{"files":[{"path":"..\\..\\evil","is_dir":false,"file_size":4}]}`), nil},
		{"listing/HTML", failure.BadResponse, "<html>", loadFromListing(`<html><body>login</body></html>`), nil},
		{"answer/HTML on 200", failure.BadResponse, "<html>", fakeAnswer(rmPath, "<html><h1>Sign in</h1></html>", getRM), nil},
		{"answer/wrong shape", failure.BadResponse, "registered_model", fakeAnswer(rmPath, `{"registered_model": "m"}`, getRM), nil},
		{"answer/not JSON", failure.BadResponse, "expected", fakeAnswer(rmPath, `OK`, getRM), nil},
		{"answer/missing envelope", failure.BadResponse, "registered_model", fakeAnswer(rmPath, `{"models": []}`, getRM), nil},

		// The real MLflow server through the REST client.
		{"server/name slash", failure.InvalidModelName, "a/b", onServer(rmName("a/b")), serverHasNoModel("a/b")},
		{"server/name 257 bytes", failure.InvalidModelName, "257", onServer(rmName(long257)), serverHasNoModel(long257)},
		{"server/name colon", failure.InvalidModelName, "x:y", onServer(rmName("x:y")), serverHasNoModel("x:y")},
		{"server/alias reserved", failure.InvalidAlias, "reserved", onServer(func(c *mlflow.Client) error {
			return c.SetAlias(ctx, "server-alias", "latest", 1)
		}), serverHasNoModel("server-alias")},
		{"server/artifact path ..", failure.InvalidPath, "..", onServer(func(c *mlflow.Client) error {
			_, err := c.OpenArtifact(ctx, "mlflow-artifacts:/0", "../../mlflow.db")
			return err
		}), nil},
		{"server/logged model id traversal", failure.InvalidURI, "", onServer(func(c *mlflow.Client) error {
			_, err := flavor.LoadModel(ctx, c, "models:/m-x/../../etc", filepath.Join(os.TempDir(), "never-created-badinput"))
			return err
		}), nil},
	}
}

func storeBytes(s string) store.Source { return storetest.BytesSource([]byte(s)) }

// TestBadInputs: one row per bad input. Each is refused with its stable,
// non-retryable type and a message naming the problem, and leaves nothing
// behind.
func TestBadInputs(t *testing.T) {
	all := append(rows(), flavorRows()...)
	counts := map[string]int{}
	for _, r := range all {
		counts[strings.SplitN(r.name, "/", 2)[0]]++
	}
	t.Logf("%d bad-input rows: %v", len(all), counts)
	require.GreaterOrEqual(t, len(all), 40)
	seen := map[string]bool{}
	for _, r := range all {
		require.False(t, seen[r.name], "duplicate row %q", r.name)
		seen[r.name] = true
		t.Run(r.name, func(t *testing.T) {
			h := &harness{t: t, dir: t.TempDir()}
			err := r.try(t, h)
			require.Error(t, err, "bad input was accepted")
			require.Equal(t, r.want, failure.CodeOf(err), "%v", err)
			require.False(t, failure.Retryable(r.want), "%s is retryable", r.want)
			require.Contains(t, err.Error(), r.contains)
			after := r.after
			if after == nil {
				after = nothingCreated("m")
			}
			after(t, h)
		})
	}
}
