package security

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
)

func secret(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// proc is a worker or starter process of this test with its output.
type proc struct {
	cmd *exec.Cmd
	out bytes.Buffer // stdout and stderr
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	p := &proc{cmd: exec.Command(filepath.Join(bins, name), args...)}
	p.cmd.Dir = testenv.RepoRoot()
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	require.NoError(t, p.cmd.Start())
	return p
}

// stop ends a worker with SIGTERM (its normal shutdown) and waits.
func (p *proc) stop() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
	}
}

func withEnv(base []string, kv ...string) []string {
	return append(append([]string(nil), base...), kv...)
}

// decodedHistory is the workflow's full history as protojson, followed by
// every base64 string in it decoded (payload data is base64 in JSON).
func decodedHistory(t *testing.T, tp *testenv.Temporal, workflowID string) string {
	iter := tp.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var sb strings.Builder
	events := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		b, err := protojson.Marshal(ev)
		require.NoError(t, err)
		sb.Write(b)
		sb.WriteByte('\n')
		var v any
		require.NoError(t, json.Unmarshal(b, &v))
		walkStrings(v, func(s string) {
			if d, err := base64.StdEncoding.DecodeString(s); err == nil && len(d) > 0 {
				sb.Write(d)
				sb.WriteByte('\n')
			}
		})
		events++
	}
	require.Greater(t, events, 3)
	return sb.String()
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

type runOut struct {
	WorkflowID string `json:"workflow_id"`
	Status     string `json:"status"`
	Error      *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// A pipeline on an MLflow server with basic auth, with an MLflow token and a
// Temporal API key in the environment too, through the real worker and
// starter binaries; then one whose worker has the wrong password. No secret
// appears in the full workflow histories, the worker's and starter's output
// (logs and stdout-exported spans) or the error messages; the wrong
// password is a non-retryable Unauthorized that names the server.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	password, wrong, token, apiKey := secret("pw-"), secret("wrongpw-"), secret("tok-"), secret("tak-")
	secrets := map[string]string{"MLflow password": password, "wrong password": wrong, "MLflow token": token, "Temporal API key": apiKey}
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{BasicAuth: true, AdminPassword: password})
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	t.Logf("servers up after %s", time.Since(t0))

	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"TEMPORAL_ADDRESS=" + tp.HostPort, "TEMPORAL_NAMESPACE=default",
		// The dev server ignores API keys; without TLS=false envconfig
		// would turn TLS on because a key is set.
		"TEMPORAL_API_KEY=" + apiKey, "TEMPORAL_TLS=false",
		"MLFLOW_TRACKING_URI=" + srv.URL, "MLFLOW_TRACKING_USERNAME=" + srv.AdminUser, "MLFLOW_TRACKING_TOKEN=" + token,
		"FLAVORFLOW_EXPERIMENT=security", "FLAVORFLOW_OTEL_STDOUT=1", "FLAVORFLOW_HEALTH_ADDR=",
	}
	var procs []*proc
	t.Cleanup(func() {
		for _, p := range procs {
			p.stop()
		}
	})
	pipeline := func(queue, pw, model string) (runOut, *proc, int) {
		env := withEnv(base, "FLAVORFLOW_TASK_QUEUE="+queue, "MLFLOW_TRACKING_PASSWORD="+pw, "FLAVORFLOW_WORK_DIR="+t.TempDir())
		w := start(t, env, "worker", "--log-level", "debug")
		procs = append(procs, w)
		s := start(t, env, "starter", "run", "--model", model, "--pairs", "1,4;2,5", "--alias", "champion",
			"--output", "json", "--timeout", "90s", "--log-level", "debug")
		procs = append(procs, s)
		err := s.cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		var out runOut
		i := strings.Index(s.out.String(), "{\n")
		require.GreaterOrEqual(t, i, 0, "no JSON result in starter output:\n%s\nworker:\n%s", s.out.String(), w.out.String())
		require.NoError(t, json.NewDecoder(strings.NewReader(s.out.String()[i:])).Decode(&out), s.out.String())
		return out, s, code
	}

	good, goodStarter, code := pipeline("sec-good", password, "sec-model")
	require.Equal(t, 0, code, goodStarter.out.String())
	require.Equal(t, "Completed", good.Status)

	t.Logf("good pipeline done after %s", time.Since(t0))
	bad, badStarter, code := pipeline("sec-bad", wrong, "sec-model-bad")
	require.Equal(t, 1, code, badStarter.out.String())
	require.NotNil(t, bad.Error)
	require.Equal(t, string(failure.Unauthorized), bad.Error.Type, bad.Error.Message)
	require.Contains(t, bad.Error.Message, strings.TrimPrefix(srv.URL, "http://"), "the error should name the server")

	// Direct use of the REST client with wrong credentials.
	c, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL, Username: srv.AdminUser, Password: wrong, MaxRetries: -1})
	require.NoError(t, err)
	_, directErr := c.GetRegisteredModel(context.Background(), "sec-model")
	require.Equal(t, failure.Unauthorized, failure.CodeOf(directErr), "%v", directErr)
	require.False(t, failure.Retryable(failure.CodeOf(directErr)))
	require.Contains(t, directErr.Error(), strings.TrimPrefix(srv.URL, "http://"))

	t.Logf("bad pipeline done after %s", time.Since(t0))
	for _, p := range procs {
		p.stop()
	}
	t.Logf("processes stopped after %s", time.Since(t0))
	texts := map[string]string{
		"good history":   decodedHistory(t, tp, good.WorkflowID),
		"bad history":    decodedHistory(t, tp, bad.WorkflowID),
		"good starter":   goodStarter.out.String(),
		"bad starter":    badStarter.out.String(),
		"good worker":    procs[0].out.String(),
		"bad worker":     procs[2].out.String(),
		"error messages": bad.Error.Message + "\n" + directErr.Error(),
	}
	// The checks can fail: what is searched holds what flowed through.
	require.Contains(t, texts["good history"], "sec-model", "payloads were not decoded")
	require.Contains(t, texts["good worker"], "worker started")
	require.Contains(t, texts["bad history"], string(failure.Unauthorized))
	// FLAVORFLOW_OTEL_STDOUT=1: recorded spans and their attributes are in
	// the worker's output, so the check below covers them.
	require.Contains(t, texts["good worker"], `"SpanContext"`, "no spans were exported")
	require.Contains(t, texts["good worker"], `"Attributes"`)
	for where, text := range texts {
		for what, s := range secrets {
			require.NotContains(t, text, s, "%s leaked into the %s", what, where)
		}
	}
}
