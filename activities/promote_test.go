package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
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
			require.NoError(t, st.SetModelVersionTag(ctx, "m", i+1, vocab.TagVerified, "true"))
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

// A writer outside Temporal (the MLflow UI) moves the alias between our set
// and our read-back: the change is AliasConflict, never reported as done.
func TestPromoteOutsideWriterIsAliasConflict(t *testing.T) {
	a, st := registry(t, true, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	outside := &Activities{Store: &outsideWriter{Store: st, version: 3}}
	out, err := outside.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.Equal(t, failure.AliasConflict, failure.CodeOf(err), "%v", err)
	require.Equal(t, 3, out.Current)
	require.Equal(t, 3, aliasOf(t, st))
}

// outsideWriter sets the alias to version right after every SetAlias, as
// someone in the MLflow UI could.
type outsideWriter struct {
	store.Store
	version int
}

func (s *outsideWriter) SetAlias(ctx context.Context, name, alias string, version int) error {
	if err := s.Store.SetAlias(ctx, name, alias, version); err != nil {
		return err
	}
	return s.Store.SetAlias(ctx, name, alias, s.version)
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

// After a rollback, promoting the rolled-back-to version again is a no-op
// and a later version moves it forward again.
func TestRollbackThenPromote(t *testing.T) {
	a, st := registry(t, true, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.NoError(t, err)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1, Rollback: true})
	require.NoError(t, err)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	require.Equal(t, 1, aliasOf(t, st))
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 3})
	require.NoError(t, err)
	require.Equal(t, 3, aliasOf(t, st))
}

// decided is a beats-champion decision taken against champion.
func decided(champion int) *Decided {
	return &Decided{Evidence: &policy.Evidence{Challenger: 0, Champion: champion}, Reason: "better", RequireChampion: true}
}

// A conditional (evidence-based) promotion is applied only if the alias is
// still on the champion it was decided against; otherwise nothing moves and
// the answer says Stale, so the pipeline evaluates again.
func TestConditionalPromotionOnlyOverTheChampionItBeat(t *testing.T) {
	a, st := registry(t, true, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.NoError(t, err)

	// Decided against v1, but v2 took the alias meanwhile.
	out, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 3, Decided: decided(1)})
	require.NoError(t, err)
	require.True(t, out.Stale)
	require.False(t, out.Changed)
	require.Equal(t, 2, out.Current)
	require.Equal(t, 2, aliasOf(t, st))

	// Decided against the current champion: applied.
	out, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 3, Decided: decided(2)})
	require.NoError(t, err)
	require.True(t, out.Changed)
	require.Equal(t, 3, aliasOf(t, st))
}

// An older version that beat the current champion on evidence takes the
// alias: "forward only" stands in for evidence that plain promotions lack.
func TestConditionalPromotionMayMoveBackwards(t *testing.T) {
	a, st := registry(t, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2})
	require.NoError(t, err)
	out, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1, Decided: decided(2)})
	require.NoError(t, err)
	require.True(t, out.Changed)
	require.Equal(t, 1, aliasOf(t, st))
}

// A writer outside Temporal overwrites a conditional change right after it
// was set: as for any change, AliasConflict, never reported as done.
func TestConditionalPromotionOutsideWriterIsAliasConflict(t *testing.T) {
	a, st := registry(t, true, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	outside := &Activities{Store: &outsideWriter{Store: st, version: 3}}
	out, err := outside.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2, Decided: decided(1)})
	require.Equal(t, failure.AliasConflict, failure.CodeOf(err), "%v", err)
	require.Equal(t, 3, out.Current)
}
