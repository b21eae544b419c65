package tests

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// artifactsDir is where UI tests leave screenshots and DOM dumps
// (gitignored).
const artifactsDir = "artifacts"

// Both UIs in a real browser after a pipeline on a real MLflow server: the
// Temporal UI shows the workflow's search attributes and memo, the MLflow UI
// the registered model, its version, the alias and the linked run.
func TestUIsInBrowser(t *testing.T) {
	t.Parallel() // own dev server; distinct model names on the shared MLflow
	b := newBrowser(t)
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{UI: true})
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
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

	wf := tp.UIURL + "/namespaces/default/workflows/" + url.PathEscape(run.GetID()) + "/" + url.PathEscape(run.GetRunID())
	version := ml.URL + "/#/models/" + model + "/versions/1"
	doms := b.load(t,
		// Temporal UI: search attributes, memo and history of the pipeline.
		page{name: "temporal-search-attributes", url: wf + "/search-attributes",
			want: []string{`"ModelName" : "` + model + `"`, `"ModelVersion" : 1`, `"Stage" : "` + workflows.StagePromoted + `"`}},
		page{name: "temporal-memo", url: wf + "/memo",
			want: []string{`"` + workflows.MemoModelURI + `" : "models:/` + model + `/1"`, res.UIURL}},
		page{name: "temporal-workflow", url: wf + "/history", screenshot: true,
			want: []string{"Completed", "ModelLifecycle", "PromoteAlias", run.GetRunID()}},
		// MLflow UI: the registered model with its aliased version, and the
		// version page linking the run that logged it.
		page{name: "mlflow-model", url: ml.URL + "/#/models/" + model,
			want: []string{"Registered Models " + model, "Version 1", "@ champion", "flavorflow.workflow_id : " + run.GetID()}},
		page{name: "mlflow-model-version", url: version, screenshot: true,
			want: []string{model + " Version 1", "Aliases : @ champion", "Source Run : " + model + "-" + run.GetID(), "flavorflow.verified true"}},
	)
	require.Contains(t, doms["mlflow-model-version"], `/runs/`+res.RunID+`"`, "the version page links the run")
	require.Equal(t, version, res.UIURL, "the MLflow link the starter prints")
}

// browser drives headless Chromium from the command line: one fresh
// profile per page load, a virtual time budget long enough for the
// single-page apps to fetch and render their data.
type browser struct {
	bin string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	return &browser{bin: testenv.Binary(t, "FLAVORFLOW_CHROMIUM", "chromium")}
}

// page is one page load; its DOM (and screenshot, when asked) are saved
// under artifactsDir as name.html (name.png). want is the text the page
// must show.
type page struct {
	name, url  string
	screenshot bool
	want       []string
}

// pageAttempts bounds the loads of a page that does not show its text yet:
// on a loaded machine an SPA may still be fetching when the virtual time
// budget runs out.
const pageAttempts = 3

// load loads the pages, two at a time, until each shows what it must, and
// returns each DOM by name.
func (b *browser) load(t *testing.T, pages ...page) map[string]string {
	t.Helper()
	require.NoError(t, os.MkdirAll(artifactsDir, 0o755))
	doms := make([]string, len(pages))
	errs := make([]error, len(pages))
	slots := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, p := range pages {
		wg.Go(func() {
			for attempt := 1; attempt <= pageAttempts; attempt++ {
				slots <- struct{}{}
				doms[i], errs[i] = b.run(p, filepath.Join(t.TempDir(), "profile"))
				<-slots
				if errs[i] == nil {
					if errs[i] = missingText(pageText(doms[i]), p.want); errs[i] == nil {
						return
					}
				}
				errs[i] = fmt.Errorf("%s (attempt %d): %w", p.name, attempt, errs[i])
			}
		})
	}
	wg.Wait()
	out := map[string]string{}
	for i, p := range pages {
		require.NoError(t, errs[i])
		out[p.name] = doms[i]
	}
	return out
}

func (b *browser) run(p page, profile string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + profile,
		"--virtual-time-budget=15000", "--dump-dom"}
	png, err := filepath.Abs(filepath.Join(artifactsDir, p.name+".png"))
	if err != nil {
		return "", err
	}
	if p.screenshot {
		_ = os.Remove(png)
		args = append(args, "--screenshot="+png, "--window-size=1400,1000")
	}
	cmd := exec.CommandContext(ctx, b.bin, append(args, p.url)...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("chromium %s: %w\n%s", p.url, err, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(artifactsDir, p.name+".html"), dom, 0o644); err != nil {
		return "", err
	}
	if p.screenshot {
		if st, err := os.Stat(png); err != nil || st.Size() < 10_000 {
			return "", fmt.Errorf("no screenshot of %s, or a blank one (%v)", p.url, err)
		}
	}
	return string(dom), nil
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

func missingText(text string, want []string) error {
	for _, w := range want {
		if !strings.Contains(text, w) {
			i := len(text) - 3000
			return fmt.Errorf("page does not show %q; its text ends with:\n%s", w, text[max(i, 0):])
		}
	}
	return nil
}

// A pipeline waiting for approval, in both UIs: the Temporal UI shows it
// with Stage awaiting-approval and, on its page, the evidence and the
// commands that decide; the MLflow UI shows the comparison on the
// challenger version.
func TestUIShowsPipelineAwaitingApproval(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{UI: true})
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := app.OpenStore(ctx, ml.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{acts: &activities.Activities{Store: st, Experiment: experiment, WorkDir: filepath.Join(t.TempDir(), "work"), UploadParallelism: 2}}
	startWorker(t, tp.Client, "ui-approval", r)
	model := fmt.Sprintf("ui-approval-%d", time.Now().UnixNano())
	start := func(id string, req workflows.LifecycleRequest) client.WorkflowRun {
		req.ModelName, req.Alias = model, "champion"
		run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "ui-approval", TypedSearchAttributes: testenv.SearchAttributes()},
			workflows.WorkflowName, req)
		require.NoError(t, err)
		return run
	}
	require.NoError(t, start(model+"-base", workflows.LifecycleRequest{Data: line(5, 10)}).Get(ctx, nil))
	gated := beats(vocab.Holdout{Fraction: 0.3, Seed: 1})
	gated.Data, gated.Policy.Approval = line(4, 20), policy.ApprovalRequired
	run := start(model+"-gated", gated)
	require.Eventually(t, func() bool {
		v, err := tp.Client.QueryWorkflow(ctx, run.GetID(), "", workflows.ProgressQuery)
		var p workflows.Progress
		return err == nil && v.Get(&p) == nil && p.AwaitingApproval
	}, 2*time.Minute, 200*time.Millisecond)

	// The workflow's own page long-polls its history while it runs, so a
	// headless dump never settles: the UI's list (what an operator filters
	// by Stage) is checked in the browser, and the "Current details" it
	// shows on the workflow's page through the metadata query it reads them
	// with.
	query := url.QueryEscape(`Stage="` + workflows.StageAwaitingApproval + `" AND ModelName="` + model + `"`)
	b.load(t,
		page{name: "temporal-awaiting-approval", url: tp.UIURL + "/namespaces/default/workflows?query=" + query, screenshot: true,
			want: []string{"Running", run.GetID(), "ModelLifecycle", "1–1 of 1"}},
		page{name: "mlflow-challenger-evaluation", url: ml.URL + "/#/models/" + model + "/versions/2", screenshot: true,
			want: []string{"flavorflow.eval.champion_version 1", "flavorflow.eval.mse"}},
	)
	v, err := tp.Client.QueryWorkflow(ctx, run.GetID(), "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var meta sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&meta))
	for _, want := range []string{"Awaiting approval", "of version 2", "beats champion v1", "starter approve " + run.GetID()} {
		require.Contains(t, meta.GetCurrentDetails(), want)
	}
	h, err := tp.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: workflows.ApproveUpdate,
		Args: []any{workflows.ApprovalRequest{By: "ui-test"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, nil))
	var res workflows.LifecycleResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, workflows.OutcomePromoted, res.Outcome)
}
