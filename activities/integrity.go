package activities

import "context"

// checkStoredVersion re-hashes the stored bytes of a registered version and
// returns its manifest hash; an error means they changed since verification.
// This is a stub: replaced at merge by the integrity branch.
func (a *Activities) checkStoredVersion(ctx context.Context, name string, version int) (string, error) {
	return "", nil
}
