package workflows

import "go.temporal.io/sdk/workflow"

// Registry is what workflows register on: a worker, a replayer or a test
// environment.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every workflow of flavorflow under its type name, so a
// worker, a test rig and a replayer always know the same set.
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(ModelLifecycle, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterWorkflowWithOptions(AliasKeeper, workflow.RegisterOptions{Name: AliasKeeperName})
	r.RegisterWorkflowWithOptions(VerifyVersion, workflow.RegisterOptions{Name: VerifyVersionName})
}
