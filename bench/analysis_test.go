package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/config"
)

// fixedReport is a report with every scenario's rows, built by the same
// functions a run uses from fixed measurements.
func fixedReport() *report {
	r := &report{tuning: config.Defaults().Worker, quiet: true}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	r.add(withTransferCPU(uploadRow(1<<30, 3, ms(2581), ms(2377), ms(2553)), ms(2581), ms(2553), transferCPU{server: 2.1, client: 1.3}, transferCPU{server: 2.0, client: 0.4}))
	r.add(withTransferCPU(downloadRow(1<<30, 3, 7, ms(3702), ms(3461), ms(2903)), ms(3702), ms(2903), transferCPU{server: 2.4, client: 1.9}, transferCPU{server: 2.3, client: 0.6}))
	r.add(rssRow([]rssPoint{{size: 64 << 20, idle: 35 << 20, above: 1 << 20, took: ms(1031)}, {size: 1 << 30, idle: 37 << 20, above: 3 << 19, took: ms(10190)}}))
	r.add(latencyRow(4, []time.Duration{ms(401), ms(404), ms(409), ms(452)}, []time.Duration{ms(391), ms(396), ms(398), ms(404)}))
	tx := &requestCount{n: 2, byPath: map[string]int{"POST mlflow/runs/create": 2, "PUT mlflow-artifacts/artifacts/…": 14}}
	r.add(logRegisterRow(10, ms(202), ms(269), tx))
	r.add(concurrentRow(200, 1, "embedded store",
		concurrentResult{wall: ms(18830), cpu: map[string]float64{"worker": 8.31, "temporal dev server": 25.2},
			syscalls: map[string]int{"fsync": 9000, "openat": 99000}, sample: 2,
			hist:   histCount{workflows: 2, events: 110, wfTasks: 14, activities: 12, local: 4, upserts: 18, memos: 2, spent: map[string]time.Duration{"LogModel": ms(900)}},
			keeper: histCount{workflows: 2, events: 20, wfTasks: 2, local: 2, upserts: 2, updates: 2}},
		concurrentResult{wall: ms(9290), cpu: map[string]float64{"floor worker": 2.6, "temporal dev server": 13.04},
			hist: histCount{workflows: 2, events: 94, wfTasks: 16, activities: 14, spent: map[string]time.Duration{"BenchNoop": ms(200)}}}))
	ours := anchorSide{wall: ms(61000), requests: &requestCount{n: 200, byPath: map[string]int{"POST mlflow/registered-models/alias": 200, "GET mlflow/registered-models/get": 200,
		"PUT mlflow-artifacts/artifacts/…": 1800, "GET mlflow-artifacts/presigned/…": 3600, "GET mlflow-artifacts/artifacts": 800, "GET mlflow/registered-models/alias": 800}}, serverCPU: 81.3, clientCPU: 30.2}
	py := anchorSide{wall: ms(97000), requests: &requestCount{n: 200, byPath: map[string]int{"POST mlflow/runs/create": 200, "GET mlflow/model-versions/get": 611}}, serverCPU: 90.7, clientCPU: 612.9}
	rows, figs := anchorRows(200, 3, 57, ours, py)
	for k, v := range figs {
		r.fig("P7", k, v)
	}
	for _, x := range rows {
		r.add(x)
	}
	goBenchFigures(r, "BenchmarkWeightsReader-2   \t      85\t   3566986 ns/op\t4703.47 MB/s\t     132 B/op\t       1 allocs/op\n"+
		"BenchmarkSaveHash-2 \t 27\t 12606165 ns/op\t1330.87 MB/s\n"+
		"BenchmarkVerifyDir-2 \t 31\t 11800095 ns/op\t1421.79 MB/s\n"+
		"BenchmarkUploadHash-2 \t 36\t 9987208 ns/op\t1679.87 MB/s\n")
	return r
}

// number is a figure in prose: a digit that does not continue a word (P1,
// sha256 and S3 are names, not figures).
var number = regexp.MustCompile(`(^|[^\p{L}\p{N}_])[0-9][0-9.,]*`)

// Placeholders' output is marked by the test's render.
const markOpen, markClose = "\x01", "\x02"

var marked = regexp.MustCompile("\x01[^\x01\x02]*\x02")

// foreignFigures returns the numbers in rendered outside the marked output
// of placeholders.
func foreignFigures(rendered string) []string {
	rest := marked.ReplaceAllString(rendered, "{fig}")
	var out []string
	for _, line := range strings.Split(rest, "\n") {
		for _, m := range number.FindAllString(line, -1) {
			out = append(out, strings.TrimSpace(m)+" in: "+strings.TrimSpace(line))
		}
	}
	return out
}

func renderFixed(t *testing.T, text string, mark func(string) string) string {
	t.Helper()
	out, missing, err := renderAnalysis(text, fixedReport(), mark)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if len(missing) > 0 {
		t.Errorf("the template names figures the rows do not record: %v", missing)
	}
	return out
}

// TestAnalysisFiguresFromRun: every number in the rendered analysis comes
// from the run's rows (a placeholder), none from the prose.
func TestAnalysisFiguresFromRun(t *testing.T) {
	path := "analysis.md"
	if p := os.Getenv("BENCH_ANALYSIS"); p != "" { // to check another text
		path = p
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if foreign := foreignFigures(renderFixed(t, string(text), func(s string) string { return markOpen + s + markClose })); len(foreign) > 0 {
		t.Errorf("%d figure(s) in the analysis come from no placeholder:\n%s", len(foreign), strings.Join(foreign, "\n"))
	}
	// Each scenario's paragraph quotes its figures and its verdict.
	out := renderFixed(t, string(text), nil)
	for _, want := range []string{"0.92× curl", "**MISS** (target ≥ 0.9× curl, ≥ 2× Python)", "MET (target p50 ≤ 1.3× floor)",
		"0.49× the floor", "55 events, 7 workflow tasks", "fsync 45", "`POST mlflow/registered-models/alias` ×1: the promotion itself", "4703.47 MB/s", "upload parallelism 4"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered analysis lacks %q", want)
		}
	}
}

// TestAnalysisLeavesOutScenariosNotRun: a run of P6 alone renders no
// paragraph about the others, and no n/a.
func TestAnalysisLeavesOutScenariosNotRun(t *testing.T) {
	text, err := os.ReadFile("analysis.md")
	if err != nil {
		t.Fatal(err)
	}
	full := fixedReport()
	r := &report{tuning: full.tuning, quiet: true}
	for _, x := range full.rows {
		if x.ID == "P6" {
			r.add(x)
		}
	}
	out, missing, err := renderAnalysis(string(text), r, nil)
	if err != nil || len(missing) > 0 {
		t.Fatalf("render: %v, missing %v", err, missing)
	}
	for _, absent := range []string{"**P1", "**P4", "**P5", "Scale out against Python", "n/a"} {
		if strings.Contains(out, absent) {
			t.Errorf("P6-only analysis contains %q", absent)
		}
	}
	if !strings.Contains(out, "**P6 throughput**") {
		t.Errorf("P6-only analysis lacks the P6 paragraph:\n%s", out)
	}
}

// guaranteeRequests counts, per pipeline, the requests that buy a
// guarantee: half the downloads (the promotion's check), the listings, the
// look-ups, the tags, the alias reads beyond one, the manifest's two.
func TestGuaranteeRequests(t *testing.T) {
	c := &requestCount{n: 2, byPath: map[string]int{
		"PUT mlflow-artifacts/artifacts/…": 18, "GET mlflow-artifacts/presigned/…": 36, "GET mlflow-artifacts/artifacts": 8,
		"GET mlflow/registered-models/alias": 8, "POST mlflow/runs/search": 2, "POST mlflow/logged-models/search": 4,
		"POST mlflow/model-versions/set-tag": 4, "POST mlflow/runs/create": 2,
	}}
	// 9 (check's downloads) + 4 listings + 3 alias reads + 1 + 2 look-ups + 2 tags + 2 manifest
	if got := guaranteeRequests(c); got != 23 {
		t.Fatalf("guaranteeRequests = %v, want 23", got)
	}
	if got := guaranteeRequests(&requestCount{}); got != 0 {
		t.Fatalf("no pipelines: %v, want 0", got)
	}
}
