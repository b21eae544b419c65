package tests

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/workflows"
)

// A pipeline recorded before ReadAlias and CleanUp became local activities
// (tutorial pipeline on the embedded store at aa9d413: compensate-and-clean-up
// marker, both steps as regular activities) must replay against today's
// code: the GetVersion guard keeps running pipelines on the regular ones.
func TestReplayHistoryBeforeLocalShortSteps(t *testing.T) {
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/lifecycle_history_before_local_steps.json"))
}
