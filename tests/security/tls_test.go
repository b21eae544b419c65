package security

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/workflows"
)

// tlsProxy puts a TLS reverse proxy with a certificate from a fresh private
// CA in front of target, and returns its URL and the CA's PEM file.
func tlsProxy(t *testing.T, target string) (proxyURL, caFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flavorflow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, &key.PublicKey, caKey)
	require.NoError(t, err)

	u, err := url.Parse(target)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(u))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))
	return srv.URL, caFile
}

// clientFromEnv builds the REST client the way the worker does, from
// MLFLOW_* variables, logging into log.
func clientFromEnv(t *testing.T, env map[string]string, log *bytes.Buffer) (*mlflow.Client, error) {
	loaded, err := config.LoadWith(config.Options{Path: "-", Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	cfg := app.MLflowConfig(loaded.Store.TrackingURI, loaded.MLflow, config.Worker{})
	cfg.MaxRetries = -1
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	return mlflow.New(cfg)
}

// lifecycle runs the whole pipeline on st in Temporal's test environment and
// loads the promoted model back.
func lifecycle(t *testing.T, st *mlflow.Client, model string) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetTestTimeout(90 * time.Second)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "tls-" + model})
	env.RegisterWorkflowWithOptions(workflows.ModelLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterActivity(&activities.Activities{Store: st, Experiment: "security-tls", WorkDir: t.TempDir(), UploadParallelism: 2})
	env.ExecuteWorkflow(workflows.WorkflowName, workflows.LifecycleRequest{ModelName: model, Alias: "champion",
		Data: activities.TrainingData{Pairs: []fakemodel.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}}}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	loaded, err := flavor.LoadModel(context.Background(), st, "models:/"+model+"@champion", filepath.Join(t.TempDir(), "dl"))
	require.NoError(t, err)
	require.Equal(t, 7.0, loaded.Model.Predict(4))
}

func TestTLSProxyInFrontOfMLflow(t *testing.T) {
	t.Parallel()
	srv := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	proxy, caFile := tlsProxy(t, srv.URL)

	t.Run("CA bundle: full lifecycle", func(t *testing.T) {
		var log bytes.Buffer
		c, err := clientFromEnv(t, map[string]string{"MLFLOW_TRACKING_URI": proxy, "MLFLOW_TRACKING_SERVER_CERT_PATH": caFile}, &log)
		require.NoError(t, err)
		lifecycle(t, c, "tls-ca")
		require.NotContains(t, log.String(), "INSECURE")
	})
	t.Run("no CA: clear, non-retryable TLS error", func(t *testing.T) {
		var log bytes.Buffer
		c, err := clientFromEnv(t, map[string]string{"MLFLOW_TRACKING_URI": proxy, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3"}, &log)
		require.NoError(t, err)
		start := time.Now()
		_, err = c.GetExperimentByName(context.Background(), "security-tls")
		require.Error(t, err)
		require.Equal(t, failure.InvalidConfig, failure.CodeOf(err), "%v", err)
		require.False(t, failure.Retryable(failure.CodeOf(err)))
		require.Contains(t, err.Error(), "certificate")
		require.Contains(t, err.Error(), "MLFLOW_TRACKING_SERVER_CERT_PATH")
		require.Contains(t, err.Error(), proxy[len("https://"):])
		require.Less(t, time.Since(start), 5*time.Second, "a certificate error was retried")
	})
	t.Run("insecure: works and warns", func(t *testing.T) {
		var log bytes.Buffer
		c, err := clientFromEnv(t, map[string]string{"MLFLOW_TRACKING_URI": proxy, "MLFLOW_TRACKING_INSECURE_TLS": "true"}, &log)
		require.NoError(t, err)
		require.Contains(t, log.String(), "level=WARN")
		require.Contains(t, log.String(), "MLFLOW_TRACKING_INSECURE_TLS is set: server certificates are not verified")
		lifecycle(t, c, "tls-insecure")
	})
}

// The tutorial's model.pkl is never unpickled: replaced by a pickle that
// would run a shell command (and by garbage), the model still loads from
// the MLmodel offset and nothing runs.
func TestPickleIsNeverExecuted(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	evil := "cos\nsystem\n(S'touch " + marker + "'\ntR." // protocol-0 pickle calling os.system
	for name, pkl := range map[string]string{"malicious pickle": evil, "garbage": "\x00\xffnot a pickle at all"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			mlmodel, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "tests", "testdata", "tutorial_model", "MLmodel"))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "MLmodel"), mlmodel, 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "model.pkl"), []byte(pkl), 0o644))
			loaded, err := flavor.LoadModel(context.Background(), nil, dir, "")
			require.NoError(t, err)
			require.Equal(t, flavor.TutorialFlavor, loaded.Flavor)
			require.Equal(t, 7.0, loaded.Model.Predict(4))
			_, err = os.Stat(marker)
			require.True(t, os.IsNotExist(err), "the pickle ran")
		})
	}
}
