package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// registry makes n versions of "m", verified when verified[i] is true.
func registry(t *testing.T, verified ...bool) (*Activities, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	_, err = st.CreateRegisteredModel(ctx, "m", nil)
	require.NoError(t, err)
	for i, ok := range verified {
		storedVersion(t, st, "m") // real bytes: promotion checks them
		if ok {
			require.NoError(t, st.SetModelVersionTag(ctx, "m", i+1, TagVerified, "true"))
		}
	}
	return &Activities{Store: st}, st
}

func aliasOf(t *testing.T, st store.Store) int {
	mv, err := st.GetModelVersionByAlias(context.Background(), "m", "prod")
	if failure.Has(err, failure.NotFound) {
		return 0
	}
	require.NoError(t, err)
	return mv.Version
}

func TestPromoteForwardOnly(t *testing.T) {
	a, st := registry(t, true, true)
	ctx := context.Background()
	out, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.NoError(t, err)
	require.True(t, out.Changed)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.Equal(t, failure.AliasConflict, failure.CodeOf(err))
	require.Equal(t, 2, aliasOf(t, st))
	// An operator's rollback may move it back.
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1, Rollback: true})
	require.NoError(t, err)
	require.Equal(t, 1, aliasOf(t, st))
	// Promoting what is already there is a no-op (a retry after a lost answer).
	out, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1, Rollback: true})
	require.NoError(t, err)
	require.False(t, out.Changed)
}

func TestPromoteRefusesUnverified(t *testing.T) {
	a, st := registry(t, false)
	_, err := a.promoteAlias(context.Background(), PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.Equal(t, failure.VerificationFailed, failure.CodeOf(err))
	require.Equal(t, 0, aliasOf(t, st))
}

// The interleaving a plain read-check-set loses: the newer pipeline (v2)
// promotes and finishes; the older one (v1) read the alias before that and
// now sets it. The intent tags let v1 see v2 and restore it.
func TestPromoteStaleOlderPromoterDoesNotOverwrite(t *testing.T) {
	a, st := registry(t, true, true)
	ctx := context.Background()
	stale := &staleAlias{Store: st}
	older := &Activities{Store: stale}
	// v1's promoter reads "unset" (stale), so it passes the forward-only check.
	stale.hideAlias = true
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.NoError(t, err)
	require.Equal(t, 2, aliasOf(t, st))
	_, err = older.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.Equal(t, failure.AliasConflict, failure.CodeOf(err), "%v", err)
	require.Equal(t, 2, aliasOf(t, st), "the older version silently overwrote the newer one")
}

// staleAlias answers the first alias read with "not set", as a read that
// happened before a concurrent promotion would.
type staleAlias struct {
	store.Store
	hideAlias bool
}

func (s *staleAlias) GetModelVersionByAlias(ctx context.Context, name, alias string) (*store.ModelVersion, error) {
	if s.hideAlias {
		s.hideAlias = false
		return nil, failure.New(failure.NotFound, "alias %s not set", alias)
	}
	return s.Store.GetModelVersionByAlias(ctx, name, alias)
}

// Re-running a finished pipeline whose version was promoted and then
// superseded succeeds without moving the alias back.
func TestPromoteRerunOfSupersededVersionIsANoOp(t *testing.T) {
	a, st := registry(t, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.NoError(t, err)
	out, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	require.False(t, out.Changed)
	require.Equal(t, 2, aliasOf(t, st))
}

// After a rollback, promoting the rolled-back-to version again (or a later
// one) is not undone by the withdrawn promotion of the newer version.
func TestRollbackWithdrawsNewerIntents(t *testing.T) {
	a, st := registry(t, true, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.NoError(t, err)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1, Rollback: true})
	require.NoError(t, err)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err, "the withdrawn intent of version 2 moved the alias back")
	require.Equal(t, 1, aliasOf(t, st))
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 3})
	require.NoError(t, err)
	require.Equal(t, 3, aliasOf(t, st))
}
