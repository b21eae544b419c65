package activities

import (
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// PromoteAlias moves an alias to a verified version without lost updates.
//
// MLflow's alias set is an unconditional upsert, so the rule is ours:
//
//  1. Only a version tagged verified by LoadAndVerify is promoted.
//  2. Aliases move forward only: if the alias already points at a higher
//     version, promotion fails with AliasConflict (Rollback overrides) —
//     unless the same workflow promoted this version before and it has
//     since been superseded (a re-run of a finished pipeline), which
//     succeeds unchanged; another workflow (an operator's promote) still
//     gets AliasConflict.
//  3. Before setting, the version is tagged with the promotion intent for the
//     alias; after setting and reading back, the promoter looks for a higher
//     version with the same intent. If one exists, a concurrent pipeline
//     promoted a newer model and this one may have overwritten it: the alias
//     is set to the highest such version and this promotion fails with
//     AliasConflict.
//
// Whatever the interleaving of two promoters, the alias ends at the highest
// verified version that asked for it; an older version never silently
// replaces a newer one.
func (a *Activities) PromoteAlias(ctx context.Context, in PromoteInput) (PromoteOutput, error) {
	stop := a.keepAlive(ctx, func() any { return "promoting" })
	out, err := a.promoteAlias(ctx, in)
	stop()
	return out, toTemporal(err)
}

func (a *Activities) promoteAlias(ctx context.Context, in PromoteInput) (PromoteOutput, error) {
	if err := store.ValidateAlias(in.Alias); err != nil {
		return PromoteOutput{}, err
	}
	mv, err := a.Store.GetModelVersion(ctx, in.ModelName, in.Version)
	if err != nil {
		return PromoteOutput{}, err
	}
	if mv.Tags[TagVerified] != "true" {
		return PromoteOutput{}, failure.New(failure.VerificationFailed, "version %d of %s has not passed verification; it is not promoted", in.Version, in.ModelName)
	}
	if _, err := a.checkStoredVersion(ctx, in.ModelName, in.Version); err != nil {
		return PromoteOutput{}, err
	}
	current, err := a.readAlias(ctx, in.ModelName, in.Alias)
	if err != nil {
		return PromoteOutput{}, err
	}
	out := PromoteOutput{Previous: current, Current: current}
	if current == in.Version && in.Rollback {
		return out, nil // a no-op rollback, or a retry after a lost answer
	}
	intent := TagPromoteIntent + in.Alias
	if current > in.Version && !in.Rollback {
		if wfID, _ := workflowKey(ctx); mv.Tags[TagPromotedBy+in.Alias] == wfID {
			// This workflow promoted this version before (a re-run of the
			// same pipeline, e.g. a repeated backfill) and a newer one has
			// taken the alias since: the promotion already happened.
			a.logger(ctx).Info("promotion superseded", "alias", in.Alias, "version", in.Version, "now", current)
			return out, nil
		}
		return out, failure.New(failure.AliasConflict, "alias %s of %s points at version %d, newer than %d; aliases move forward only (use rollback)", in.Alias, in.ModelName, current, in.Version)
	}
	if current != in.Previous {
		a.logger(ctx).Warn("alias moved during verification", "alias", in.Alias, "was", in.Previous, "now", current)
	}
	if in.Rollback {
		// Withdraw the promotion intents above the target first: they stand
		// for promotions the operator is undoing, and left in place they
		// would make every later promoter back off to them.
		if err := a.withdrawIntents(ctx, in.ModelName, intent, in.Version); err != nil {
			return out, err
		}
		if err := a.Store.SetAlias(ctx, in.ModelName, in.Alias, in.Version); err != nil {
			return out, err
		}
		return a.readBack(ctx, in, out)
	}
	if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, intent, "requested"); err != nil {
		return out, err
	}
	wfID, _ := workflowKey(ctx)
	if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, TagPromotedBy+in.Alias, wfID); err != nil {
		return out, err
	}
	// Set, look for a newer intent, read back. The alias already on this
	// version is a retry whose earlier attempt set it but may have stopped
	// before the check: the check still runs. Reading back a lower version
	// means a lower promoter overwrote ours after we set it (it will find
	// our intent and move it back); set it again, a bounded number of times.
	for try := 0; try < maxPromoteTries; try++ {
		if current != in.Version {
			if err := a.Store.SetAlias(ctx, in.ModelName, in.Alias, in.Version); err != nil {
				return out, err
			}
		}
		newest, err := a.highestIntent(ctx, in.ModelName, intent)
		if err != nil {
			return out, err
		}
		if newest > in.Version {
			if err := a.Store.SetAlias(ctx, in.ModelName, in.Alias, newest); err != nil {
				return out, err
			}
			out.Current = newest
			return out, failure.New(failure.AliasConflict, "version %d of %s was promoted to %s concurrently and is newer than %d; the alias stays on %d", newest, in.ModelName, in.Alias, in.Version, newest)
		}
		if current, err = a.readAlias(ctx, in.ModelName, in.Alias); err != nil {
			return out, err
		}
		if current >= in.Version {
			break
		}
		a.logger(ctx).Warn("alias overwritten by an older version after it was set; setting it again", "alias", in.Alias, "now", current, "version", in.Version)
	}
	return a.readBack(ctx, in, out)
}

// maxPromoteTries bounds how often PromoteAlias sets the alias again after a
// concurrent older promoter overwrote it.
const maxPromoteTries = 5

// readBack confirms the alias points where we set it.
func (a *Activities) readBack(ctx context.Context, in PromoteInput, out PromoteOutput) (PromoteOutput, error) {
	got, err := a.readAlias(ctx, in.ModelName, in.Alias)
	if err != nil {
		return out, err
	}
	out.Current = got
	if got != in.Version {
		return out, failure.New(failure.AliasConflict, "alias %s of %s reads back as version %d after setting %d", in.Alias, in.ModelName, got, in.Version)
	}
	out.Changed = out.Previous != in.Version
	a.logger(ctx).Info("promoted", "model", in.ModelName, "alias", in.Alias, "from", out.Previous, "to", in.Version)
	return out, nil
}

// withdrawIntents marks the intents of versions above target withdrawn.
func (a *Activities) withdrawIntents(ctx context.Context, name, intent string, target int) error {
	versions, err := a.Store.SearchModelVersions(ctx, name, intent, "requested")
	if err != nil {
		return err
	}
	for _, v := range versions {
		if v.Version > target {
			if err := a.Store.SetModelVersionTag(ctx, name, v.Version, intent, "withdrawn"); err != nil {
				return err
			}
		}
	}
	return nil
}

// highestIntent returns the highest verified version tagged with intent.
func (a *Activities) highestIntent(ctx context.Context, name, intent string) (int, error) {
	versions, err := a.Store.SearchModelVersions(ctx, name, intent, "requested")
	if err != nil {
		return 0, err
	}
	best := 0
	for _, v := range versions {
		if v.Tags[TagVerified] == "true" && v.Version > best {
			best = v.Version
		}
	}
	return best, nil
}

func activityInfo(ctx context.Context) (activity.Info, bool) {
	if !activity.IsActivity(ctx) {
		return activity.Info{}, false
	}
	return activity.GetInfo(ctx), true
}
