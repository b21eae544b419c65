package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// goBenchPackages hold the `go test -bench` functions of the hot loops.
var goBenchPackages = []string{"./fakemodel", "./flavor", "./mlflow"}

// runGoBench runs the micro-benchmarks with -benchmem and adds their lines
// to the report.
func runGoBench(ctx context.Context, root string, r *report) error {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "300ms", "-count", "1"}, goBenchPackages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 2000))
	}
	lines := goBenchFigures(r, string(out))
	for _, l := range lines {
		fmt.Println(l)
	}
	r.extra = append(r.extra, fmt.Sprintf("## Hot loops (`go %s`)\n\n```\n%s\n```\n", strings.Join(args, " "), strings.Join(lines, "\n")))
	return nil
}

// goBenchFigures records each benchmark's throughput (MB/s), or else its
// time per op, as a GO figure for the analysis, and returns the result
// lines.
func goBenchFigures(r *report, out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "Benchmark") {
			continue
		}
		lines = append(lines, l)
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "-") // BenchmarkX-2: GOMAXPROCS suffix
		val := f[2] + " " + f[3]
		for i := 4; i+1 < len(f); i += 2 {
			if f[i+1] == "MB/s" {
				val = f[i] + " MB/s"
			}
		}
		r.fig("GO", name, val)
	}
	return lines
}
