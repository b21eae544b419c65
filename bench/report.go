package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flavorflow/flavorflow/config"
)

// row is one comparison: ours against a baseline, with the target.
type row struct {
	ID, What    string
	Ours        string // formatted figure
	Baselines   string // formatted figures, side by side
	Ratio       string // e.g. "1.02× curl, 3.1× Python"
	Target      string
	Met         bool
	Notes       string
	Unavailable bool
	// Figs are the row's figures by name, formatted, for the analysis
	// template (bench/analysis.md): its prose quotes only these.
	Figs map[string]string
}

type report struct {
	rows    []row
	started time.Time
	command string
	extra   []string // free text sections
	// figs holds every row's Figs by ID, and figures measured outside the
	// table (the GO micro-benchmarks).
	figs map[string]map[string]string
	// tuning is the worker configuration the run used (temporal-dev.yml).
	tuning config.Worker
	// load is the machine's state when the run began.
	load loadSample
	// quiet: add prints nothing (tests).
	quiet bool
	// ownPIDs are servers started for the run outside this process tree
	// (bench-scale's PostgreSQL and SeaweedFS): their CPU is the benchmark's.
	ownPIDs []int
}

// fig records a figure of the run under id and key for the analysis.
func (r *report) fig(id, key, val string) {
	if r.figs == nil {
		r.figs = map[string]map[string]string{}
	}
	if r.figs[id] == nil {
		r.figs[id] = map[string]string{}
	}
	r.figs[id][key] = val
}

func (r *report) add(x row) {
	r.rows = append(r.rows, x)
	for k, v := range x.Figs {
		r.fig(x.ID, k, v)
	}
	if r.quiet {
		return
	}
	mark := "MET"
	if !x.Met {
		mark = "MISS"
	}
	fmt.Printf("%-3s %-44s ours %-18s | %-44s | %-30s | target %-18s %s\n", x.ID, x.What, x.Ours, x.Baselines, x.Ratio, x.Target, mark)
	if x.Notes != "" {
		fmt.Printf("    %s\n", x.Notes)
	}
}

func (r *report) fail(id, what string, err error) {
	r.rows = append(r.rows, row{ID: id, What: what, Notes: "failed: " + err.Error(), Unavailable: true})
	fmt.Printf("%-3s %-44s FAILED: %v\n", id, what, err)
}

// markdown writes the results; sub makes every heading one level deeper
// (a section appended to an existing file).
func (r *report) markdown(w io.Writer, title string, sub bool) {
	h := "#"
	if sub {
		h = "##"
	}
	fmt.Fprintf(w, "%s %s\n\n", h, title)
	fmt.Fprintf(w, "Produced by `%s` on %s (took %s). Every comparison below ran side by side in this one run, on the same servers and the same files.\n\n",
		r.command, r.started.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.started).Round(time.Second))
	fmt.Fprintf(w, "%s# Machine\n\n%s%s\n", h, machine(), r.loadReport())
	fmt.Fprintf(w, "%s# Results\n\n", h)
	fmt.Fprintf(w, "| # | comparison | flavorflow | baselines | ratio | target | met |\n|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		met := "MET"
		switch {
		case x.Unavailable:
			met = "n/a"
		case !x.Met:
			met = "**MISS** (target " + x.Target + ")"
		}
		ours := x.Ours
		if x.Unavailable {
			ours = x.Notes
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", x.ID, x.What, ours, x.Baselines, x.Ratio, x.Target, met)
	}
	fmt.Fprintln(w)
	notes := false
	for _, x := range r.rows {
		if x.Notes != "" && !x.Unavailable {
			if !notes {
				fmt.Fprintf(w, "%s## Notes from this run\n\n", h)
				notes = true
			}
			fmt.Fprintf(w, "- **%s**: %s\n", x.ID, x.Notes)
		}
	}
	if notes {
		fmt.Fprintln(w)
	}
	for _, e := range r.extra {
		fmt.Fprintln(w, e)
	}
}

// machine describes the host: nproc, memory, CPU, load, versions.
func machine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "- nproc: %d (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	mem := procField("/proc/meminfo", "MemTotal")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(mem, " kB"), 10, 64); err == nil {
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	fmt.Fprintf(&b, "- memory: %s\n", mem)
	fmt.Fprintf(&b, "- CPU: %s\n", procField("/proc/cpuinfo", "model name"))
	fmt.Fprintf(&b, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, v := range []struct{ name, cmd string }{
		{"kernel", "uname -r"},
		{"mlflow", ".venv/bin/python -c 'import mlflow; print(mlflow.__version__)'"},
		{"python", ".venv/bin/python --version"},
		{"temporal CLI", ".venv/bin/temporal --version"},
		{"curl", "curl --version | head -1"},
	} {
		out, err := exec.Command("bash", "-c", v.cmd).Output()
		s := strings.TrimSpace(string(out))
		if err != nil || s == "" {
			s = "unavailable"
		}
		fmt.Fprintf(&b, "- %s: %s\n", v.name, s)
	}
	return b.String()
}

func procField(file, key string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// median and percentile of durations (sorted copy).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }

// mbps formats a throughput in MiB/s.
func mbps(size int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MiB/s", float64(size)/(1<<20)/d.Seconds())
}

func secs(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
