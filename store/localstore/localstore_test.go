package localstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) store.Store {
		return open(t, t.TempDir())
	})
}

func open(t testing.TB, dir string) *localstore.Store {
	t.Helper()
	s, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var src = storetest.BytesSource

// plantEscape creates <dir>/artifacts/0/r/artifacts with a symlink dirLink to
// outside and a symlink fileLink to outside/secret, as an attacker (or a
// confused tool) with write access to the tree could.
func plantEscape(t testing.TB, dir, outside, dirLink, fileLink string) {
	t.Helper()
	secret := filepath.Join(outside, "secret")
	runDir := filepath.Join(dir, "artifacts", "0", "r", "artifacts")
	for _, err := range []error{
		os.MkdirAll(outside, 0o755),
		os.WriteFile(secret, []byte("secret"), 0o600),
		os.MkdirAll(runDir, 0o755),
		os.Symlink(outside, filepath.Join(runDir, dirLink)),
		os.Symlink(secret, filepath.Join(runDir, fileLink)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Environment of the helper process started by TestTwoProcessesVersions.
const (
	envHelperDir  = "FLAVORFLOW_LOCALSTORE_HELPER_DIR"
	envHelperName = "FLAVORFLOW_LOCALSTORE_HELPER_NAME"
	envHelperN    = "FLAVORFLOW_LOCALSTORE_HELPER_N"
	envHelperSrc  = "FLAVORFLOW_LOCALSTORE_HELPER_SOURCE"
)

// TestHelperProcess is not a test: it is the body of a second worker process,
// creating versions in a store another process writes to at the same time.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(envHelperDir)
	if dir == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv(envHelperN))
	s := open(t, dir)
	for range n {
		v, err := s.CreateModelVersion(context.Background(), store.CreateModelVersionRequest{
			Name: os.Getenv(envHelperName), Source: os.Getenv(envHelperSrc),
		})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("version %d\n", v.Version)
	}
}

func TestTwoProcessesVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	const name, perProc = "shared", 20
	if _, err := s.CreateRegisteredModel(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envHelperDir+"="+dir, envHelperName+"="+name,
			envHelperN+"="+strconv.Itoa(perProc), envHelperSrc+"=mlflow-artifacts:/0/proc"+strconv.Itoa(i))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i].String())
		}
	}
	var got []int
	for i := range outs {
		n := strings.Count(outs[i].String(), "version ")
		if n != perProc {
			t.Errorf("helper %d reported %d versions, want %d:\n%s", i, n, perProc, outs[i].String())
		}
	}
	vs, err := s.SearchModelVersions(ctx, name, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		got = append(got, v.Version)
	}
	want := make([]int, 2*perProc)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		t.Errorf("versions = %v, want 1..%d", got, 2*perProc)
	}
}

func TestLeftoverTempFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	root := "mlflow-artifacts:/0/run/artifacts"
	if err := s.PutArtifact(ctx, root, "model/MLmodel", src([]byte("v1"))); err != nil {
		t.Fatal(err)
	}
	// A crash between create and rename leaves a temp file beside the target.
	leftover := filepath.Join(dir, "artifacts", "0", "run", "artifacts", "model", ".tmp-deadbeef")
	if err := os.WriteFile(leftover, []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListArtifacts(ctx, root, "model")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Path != "model/MLmodel" {
		t.Errorf("listing = %+v, want only model/MLmodel", list)
	}
	if err := s.PutArtifact(ctx, root, "model/MLmodel", src([]byte("v2"))); err != nil {
		t.Fatal(err)
	}
	rc, err := s.OpenArtifact(ctx, root, "model/MLmodel")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "v2" {
		t.Errorf("after put over a leftover temp file, content = %q", b)
	}
	// Files the store could not tell from its own temp files are refused.
	err = s.PutArtifact(ctx, root, "model/.tmp-x", src([]byte("x")))
	if !failure.Has(err, failure.InvalidPath) {
		t.Errorf("put .tmp- name: %v, want InvalidPath", err)
	}
}

func TestFailedPutLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	root := "mlflow-artifacts:/0/r/artifacts"
	bad := src([]byte("payload"))
	bad.Size = 3
	if err := s.PutArtifact(ctx, root, "f", bad); !failure.Has(err, failure.ChecksumMismatch) {
		t.Fatalf("wrong size: %v, want ChecksumMismatch", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "artifacts", "0", "r", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("failed put left %v behind", entries)
	}
}

func TestSymlinkEscapeRefused(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	plantEscape(t, dir, outside, "evil", "evilfile")
	root := "mlflow-artifacts:/0/r/artifacts"
	for _, p := range []string{"evil/secret", "evil/new", "evilfile"} {
		if rc, err := s.OpenArtifact(ctx, root, p); !failure.Has(err, failure.InvalidPath) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("open %s through a symlink: %v, want InvalidPath", p, err)
		}
	}
	if err := s.PutArtifact(ctx, root, "evil/new", src([]byte("x"))); !failure.Has(err, failure.InvalidPath) {
		t.Errorf("put through a symlink: %v, want InvalidPath", err)
	}
	if _, err := s.ListArtifacts(ctx, root, "evil"); !failure.Has(err, failure.InvalidPath) {
		t.Errorf("list through a symlink: %v, want InvalidPath", err)
	}
	list, err := s.ListArtifacts(ctx, root, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("listing shows symlinks: %+v", list)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("outside directory changed: %v", entries)
	}
}

// ArtifactDir names the directory of a root on disk, and refuses what
// OpenArtifact refuses: a way through a symlink, a root that is a file,
// a root that is not there, a URI that is not the store's.
func TestArtifactDir(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	root := "mlflow-artifacts:/0/r/artifacts"
	if err := s.PutArtifact(ctx, root, "m/file", src([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	got, err := s.ArtifactDir(root + "/m")
	if want := filepath.Join(dir, "artifacts", "0", "r", "artifacts", "m"); err != nil || got != want {
		t.Fatalf("ArtifactDir = %q, %v; want %q", got, err, want)
	}
	plantEscape(t, dir, t.TempDir(), "evil", "evilfile")
	for _, tc := range []struct {
		root string
		code failure.Code
	}{
		{root + "/evil", failure.InvalidPath},
		{root + "/evilfile", failure.InvalidPath},
		{root + "/m/file", failure.InvalidPath},
		{root + "/absent", failure.NotFound},
		{"s3://bucket/x", failure.InvalidURI},
		{"mlflow-artifacts:/../x", failure.InvalidURI},
	} {
		if got, err := s.ArtifactDir(tc.root); !failure.Has(err, tc.code) {
			t.Errorf("ArtifactDir(%q) = %q, %v; want %s", tc.root, got, err, tc.code)
		}
	}
}

func TestInvalidRoot(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	for _, root := range []string{"s3://bucket/x", "mlflow-artifacts://host/x", "mlflow-artifacts:/../x", "/abs"} {
		if _, err := s.ListArtifacts(ctx, root, ""); !failure.Has(err, failure.InvalidURI) {
			t.Errorf("ListArtifacts(%q): %v, want InvalidURI", root, err)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	expID, err := s.CreateExperiment(ctx, "e", nil)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := s.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutArtifact(ctx, lm.ArtifactURI, "MLmodel", src([]byte("flavors: {}"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRegisteredModel(ctx, "rm", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "rm", Source: "models:/" + lm.ID, ModelID: lm.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAlias(ctx, "rm", "prod", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, dir)
	v, err := s2.GetModelVersionByAlias(ctx, "rm", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 || v.StorageLocation != lm.ArtifactURI {
		t.Errorf("after reopen: version %d at %q", v.Version, v.StorageLocation)
	}
	rc, err := s2.OpenArtifact(ctx, v.StorageLocation, "MLmodel")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "flavors: {}" {
		t.Errorf("after reopen: MLmodel = %q", b)
	}
	if e, err := s2.GetExperimentByName(ctx, "Default"); err != nil || e.ID != "0" {
		t.Errorf("Default experiment after reopen: %+v, %v", e, err)
	}
	if v2, err := s2.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "rm", Source: "models:/rm/1"}); err != nil || v2.Version != 2 || v2.StorageLocation != lm.ArtifactURI {
		t.Errorf("version from models:/rm/1 after reopen: %+v, %v", v2, err)
	}
}

func TestLocalIDsAndLayout(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	if want := "local store at " + dir; s.Describe() != want {
		t.Errorf("Describe() = %q, want %q", s.Describe(), want)
	}
	expID, err := s.CreateExperiment(ctx, "e", nil)
	if err != nil {
		t.Fatal(err)
	}
	if expID != "1" {
		t.Errorf("first experiment id = %q, want 1 (0 is Default)", expID)
	}
	r, err := s.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ID) != 32 || strings.Trim(r.ID, "0123456789abcdef") != "" {
		t.Errorf("run id %q is not uuid4().hex", r.ID)
	}
	if want := "mlflow-artifacts:/1/" + r.ID + "/artifacts"; r.ArtifactURI != want {
		t.Errorf("run artifact URI = %q, want %q", r.ArtifactURI, want)
	}
	if err := s.PutArtifact(ctx, r.ArtifactURI, "x/y", src([]byte("z"))); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "artifacts", "1", r.ID, "artifacts", "x", "y")); err != nil || string(b) != "z" {
		t.Errorf("artifact not at the MLflow layout path: %q, %v", b, err)
	}
	if s.UIURL("rm", 1) != "" {
		t.Error("UIURL should be empty")
	}
}
