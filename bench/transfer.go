package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
)

// env is what every scenario shares.
type env struct {
	root, tmp string
	py        string // venv python
	ml        *mlflowServer
	client    *mlflow.Client
	reps      int
	pl        *pipelines
	// counter counts the in-process client's requests (P5).
	counter *countingTransport
	// proxy counts every request to the MLflow server when the workers and
	// the Python processes go through it (-p6-mlflow: P6, P7).
	proxy *countingProxy
	// mlURL is where the workers reach MLflow: the proxy when there is one.
	mlURL string
	// cpuProfile: the first worker profiles its CPU during P6 into this
	// file (-cpuprofile).
	cpuProfile string
}

// runPython runs a snippet from bench/py and decodes its JSON answer.
func (e *env) runPython(ctx context.Context, script string, out any, args ...string) error {
	cmd := exec.CommandContext(ctx, e.py, append([]string{filepath.Join(e.root, "bench", "py", script)}, args...)...)
	cmd.Env = append(os.Environ(), "MLFLOW_DISABLE_TELEMETRY=true", "PYTHONWARNINGS=ignore")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", script, err, tail(stderr.String(), 2000))
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return json.Unmarshal([]byte(lines[len(lines)-1]), out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// runCmdCPU runs a command and returns its CPU-seconds.
func runCmdCPU(ctx context.Context, name string, args ...string) (float64, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	cpu := 0.0
	if cmd.ProcessState != nil {
		cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	if err != nil {
		return cpu, fmt.Errorf("%s: %w: %s", name, err, tail(stderr.String(), 1000))
	}
	return cpu, nil
}

// transferCPU is the CPU one transfer cost: the MLflow server's (all its
// processes) and the client's.
type transferCPU struct{ server, client float64 }

// serverCPU is the MLflow server's CPU-seconds so far.
func (e *env) serverCPU() float64 {
	total := 0.0
	for _, pid := range groupPIDs(e.ml.cmd.Process.Pid) {
		total += cpuSeconds(pid)
	}
	return total
}

// selfCPU is this process's CPU-seconds so far (the in-process client).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// medianCPU is the median of each part.
func medianCPU(xs []transferCPU) transferCPU {
	var s, c []time.Duration
	for _, x := range xs {
		s = append(s, time.Duration(x.server*float64(time.Second)))
		c = append(c, time.Duration(x.client*float64(time.Second)))
	}
	return transferCPU{server: median(s).Seconds(), client: median(c).Seconds()}
}

// weightsFile writes a size-byte fakemodel payload once and returns its
// path and sha256.
func (e *env) weightsFile(size int64) (string, string, error) {
	p := filepath.Join(e.tmp, fmt.Sprintf("weights-%d.bin", size))
	var entry flavor.ManifestEntry
	dir := filepath.Join(e.tmp, fmt.Sprintf("payload-%d", size))
	saved, err := flavor.SaveModel(context.Background(), dir, fakemodel.FakeModel{Offset: 3, WeightsSize: size}, flavor.SaveOptions{})
	if err != nil {
		return "", "", err
	}
	for _, f := range saved.Manifest.Files {
		if f.Path == flavor.WeightsFile {
			entry = f
		}
	}
	if err := os.Rename(filepath.Join(dir, flavor.WeightsFile), p); err != nil {
		return "", "", err
	}
	return p, entry.SHA256, os.RemoveAll(dir)
}

// benchUpload is P1: one file PUT through the artifact proxy by
// flavorflow's client, curl -T and Python's log_artifact, interleaved.
func (e *env) benchUpload(ctx context.Context, r *report, size int64) error {
	file, sum, err := e.weightsFile(size)
	if err != nil {
		return err
	}
	defer os.Remove(file)
	var ours, curl, py []time.Duration
	var oursCPU, curlCPU []transferCPU
	for i := 0; i < e.reps; i++ {
		root := fmt.Sprintf("mlflow-artifacts:/bench/p1/%d", i)
		s0, c0, t0 := e.serverCPU(), selfCPU(), time.Now()
		err := e.client.PutArtifact(ctx, root, "go/weights.bin", store.Source{Size: size, SHA256: sum,
			Open: func() (io.ReadCloser, error) { return os.Open(file) }})
		if err != nil {
			return fmt.Errorf("flavorflow upload: %w", err)
		}
		ours = append(ours, time.Since(t0))
		oursCPU = append(oursCPU, transferCPU{server: e.serverCPU() - s0, client: selfCPU() - c0})

		s0, t0 = e.serverCPU(), time.Now()
		url := fmt.Sprintf("%s/api/2.0/mlflow-artifacts/artifacts/bench/p1/%d/curl/weights.bin", e.ml.URL, i)
		cc, err := runCmdCPU(ctx, "curl", "-sS", "-f", "-H", "Expect:", "-o", "/dev/null", "-T", file, url)
		if err != nil {
			return err
		}
		curl = append(curl, time.Since(t0))
		curlCPU = append(curlCPU, transferCPU{server: e.serverCPU() - s0, client: cc})

		var out struct{ Seconds float64 }
		if err := e.runPython(ctx, "upload.py", &out, e.ml.URL, file, "bench-p1"); err != nil {
			return err
		}
		py = append(py, time.Duration(out.Seconds*float64(time.Second)))
		_ = os.RemoveAll(filepath.Join(e.ml.ArtifactsDir, "bench", "p1", fmt.Sprint(i))) // keep the disk small
	}
	r.add(withTransferCPU(uploadRow(size, e.reps, median(ours), median(curl), median(py)), median(ours), median(py), medianCPU(oursCPU), medianCPU(curlCPU)))
	return nil
}

// benchDownload is P2: a logged model of size bytes downloaded, verified and
// loaded by flavor.LoadModel, against curl GETs of the same files and
// Python's download_artifacts.
func (e *env) benchDownload(ctx context.Context, r *report, size int64) error {
	dir := filepath.Join(e.tmp, "p2-model")
	if _, err := flavor.SaveModel(ctx, dir, fakemodel.FakeModel{Offset: 3, WeightsSize: size}, flavor.SaveOptions{}); err != nil {
		return err
	}
	expID, err := e.client.CreateExperiment(ctx, fmt.Sprintf("bench-p2-%d", time.Now().UnixNano()), nil)
	if err != nil {
		return err
	}
	logged, err := flavor.LogModel(ctx, e.client, dir, flavor.LogOptions{ExperimentID: expID})
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	files, err := e.listAll(ctx, logged.ArtifactURI, "")
	if err != nil {
		return err
	}
	var ours, curl, py []time.Duration
	var oursCPU, curlCPU []transferCPU
	for i := 0; i < e.reps; i++ {
		dst := filepath.Join(e.tmp, "p2-dst")
		s0, c0, t0 := e.serverCPU(), selfCPU(), time.Now()
		if _, err := flavor.LoadModel(ctx, e.client, logged.ModelURI, dst); err != nil {
			return fmt.Errorf("flavorflow load: %w", err)
		}
		ours = append(ours, time.Since(t0))
		oursCPU = append(oursCPU, transferCPU{server: e.serverCPU() - s0, client: selfCPU() - c0})
		_ = os.RemoveAll(dst)

		args := []string{"-sS", "-f", "--create-dirs"}
		rootPath := strings.TrimPrefix(logged.ArtifactURI, "mlflow-artifacts:")
		for _, f := range files {
			args = append(args, "-o", filepath.Join(dst, f), e.ml.URL+"/api/2.0/mlflow-artifacts/artifacts"+path.Join("/", rootPath, f))
		}
		s0, t0 = e.serverCPU(), time.Now()
		cc, err := runCmdCPU(ctx, "curl", args...)
		if err != nil {
			return err
		}
		curl = append(curl, time.Since(t0))
		curlCPU = append(curlCPU, transferCPU{server: e.serverCPU() - s0, client: cc})
		_ = os.RemoveAll(dst)

		var out struct{ Seconds float64 }
		if err := e.runPython(ctx, "download.py", &out, e.ml.URL, logged.ArtifactURI, dst); err != nil {
			return err
		}
		py = append(py, time.Duration(out.Seconds*float64(time.Second)))
		_ = os.RemoveAll(dst)
	}
	r.add(withTransferCPU(downloadRow(size, e.reps, len(files), median(ours), median(curl), median(py)), median(ours), median(py), medianCPU(oursCPU), medianCPU(curlCPU)))
	return nil
}

// listAll lists every file below root/dir (bounded depth).
func (e *env) listAll(ctx context.Context, root, dir string) ([]string, error) {
	var out []string
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		if depth > 8 {
			return fmt.Errorf("%s: too deep", dir)
		}
		infos, err := e.client.ListArtifacts(ctx, root, dir)
		if err != nil {
			return err
		}
		for _, f := range infos {
			if f.IsDir {
				if err := walk(f.Path, depth+1); err != nil {
					return err
				}
				continue
			}
			out = append(out, f.Path)
		}
		return nil
	}
	return out, walk(dir, 0)
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
