package tests

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/internal/testenv"
	"github.com/flavorflow/flavorflow/workflows"
)

// artifactsDir is where UI tests leave screenshots and DOM dumps
// (gitignored).
const artifactsDir = "artifacts"

// browser drives headless Chromium from the command line: one fresh profile
// per page load, a virtual time budget long enough for the single-page
// apps to fetch and render their data.
type browser struct {
	bin string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	return &browser{bin: testenv.Binary(t, "FLAVORFLOW_CHROMIUM", "chromium")}
}

func (b *browser) run(t *testing.T, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		"--virtual-time-budget=15000"}, extra...)
	cmd := exec.CommandContext(ctx, b.bin, args...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium %v\n%s", extra, stderr.String())
	return out
}

// dom is the page's DOM after scripts ran, saved as an artifact.
func (b *browser) dom(t *testing.T, url, name string) string {
	t.Helper()
	out := b.run(t, "--dump-dom", url)
	saveArtifact(t, name+".html", out)
	return string(out)
}

// screenshot saves a PNG of the page as an artifact and returns its path.
func (b *browser) screenshot(t *testing.T, url, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(artifactsDir, name+".png"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	_ = os.Remove(path)
	b.run(t, "--screenshot="+path, "--window-size=1400,1000", url)
	st, err := os.Stat(path)
	require.NoError(t, err, "no screenshot of %s", url)
	require.Greater(t, st.Size(), int64(10_000), "screenshot of %s is suspiciously small", url)
	return path
}

func saveArtifact(t *testing.T, name string, b []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(artifactsDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(artifactsDir, name), b, 0o644))
}

// limitedBuffer keeps the last 16 KiB written (chromium is chatty).
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 16<<10 {
		l.b = l.b[len(l.b)-16<<10:]
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// Both UIs in a real browser after a pipeline on a real MLflow server: the
// Temporal UI shows the workflow's search attributes and memo, the MLflow UI
// the registered model, its version, the alias and the linked run.
func TestUIsInBrowser(t *testing.T) {
	b := newBrowser(t)
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{UI: true})
	ml := testenv.StartMLflow(t, testenv.MLflowOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tel, err := telemetry.Setup(ctx, "flavorflow-test", telemetry.Options{Getenv: noEnv})
	require.NoError(t, err)
	st, err := app.OpenStore(ctx, ml.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	p := newTracedPipeline(t, tp, tel, "ui", &activities.Activities{
		Store: st, Experiment: experiment, WorkDir: filepath.Join(t.TempDir(), "work"), UploadParallelism: 2,
	})
	const model = "ui-fakemodel"
	_, run, res := p.run(ctx, t, "ui-pipeline", model)
	require.Equal(t, 1, res.Version)

	// Temporal UI: search attributes and memo of the finished pipeline.
	wf := tp.UIURL + "/namespaces/default/workflows/" + url.PathEscape(run.GetID()) + "/" + url.PathEscape(run.GetRunID())
	sa := pageText(b.dom(t, wf+"/search-attributes", "temporal-search-attributes"))
	requireText(t, sa, `"ModelName" : "`+model+`"`, `"ModelVersion" : 1`, `"Stage" : "`+workflows.StagePromoted+`"`)
	memo := pageText(b.dom(t, wf+"/memo", "temporal-memo"))
	requireText(t, memo, `"`+workflows.MemoModelURI+`" : "models:/`+model+`/1"`, res.UIURL)
	history := pageText(b.dom(t, wf+"/history", "temporal-history"))
	requireText(t, history, "Completed", "ModelLifecycle", "PromoteAlias", run.GetRunID())

	// MLflow UI: the registered model with its aliased version, and the
	// version page linking the run that logged it.
	mp := b.dom(t, ml.URL+"/#/models/"+model, "mlflow-model")
	requireText(t, pageText(mp), "Registered Models "+model, "Version 1", "@ champion", "flavorflow.workflow_id : "+run.GetID())
	vp := b.dom(t, ml.URL+"/#/models/"+model+"/versions/1", "mlflow-version")
	requireText(t, pageText(vp), model+" Version 1", "Aliases : @ champion", "Source Run : "+model+"-"+run.GetID(), "flavorflow.verified true")
	require.Contains(t, vp, `/runs/`+res.RunID+`"`, "the version page links the run")

	b.screenshot(t, wf+"/history", "temporal-workflow")
	b.screenshot(t, ml.URL+"/#/models/"+model+"/versions/1", "mlflow-model-version")
}

var (
	invisible = regexp.MustCompile(`(?s)<(script|style|select|svg)\b.*?</(script|style|select|svg)>`)
	tag       = regexp.MustCompile(`<[^>]*>`)
	space     = regexp.MustCompile(`[\s\p{Zs}]+`) // the UIs use no-break spaces
)

// pageText is the visible text of a DOM dump with whitespace collapsed.
func pageText(dom string) string {
	s := invisible.ReplaceAllString(dom, " ")
	s = html.UnescapeString(tag.ReplaceAllString(s, " "))
	return space.ReplaceAllString(s, " ")
}

func requireText(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			i := len(text) - 3000
			t.Fatalf("page does not show %q; its text ends with:\n%s", w, text[max(i, 0):])
		}
	}
}
