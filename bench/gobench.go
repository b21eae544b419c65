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
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			lines = append(lines, l)
			fmt.Println(l)
		}
	}
	r.extra = append(r.extra, fmt.Sprintf("## Hot loops (`go %s`)\n\n```\n%s\n```\n", strings.Join(args, " "), strings.Join(lines, "\n")))
	return nil
}
