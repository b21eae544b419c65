package activities

import (
	"context"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// RegisterModel creates the model version for the logged model, exactly once
// per workflow: the version carries the workflow ID as a tag and is searched
// for before it is created, and again after an ambiguous create failure.
// MLflow has no idempotency key on model-versions/create, so this is the
// only thing standing between a retry and a duplicate version.
func (a *Activities) RegisterModel(ctx context.Context, in RegisterInput) (RegisterOutput, error) {
	return run(ctx, a, "registering", a.registerModel, in)
}

func (a *Activities) registerModel(ctx context.Context, in RegisterInput) (RegisterOutput, error) {
	if err := vocab.ValidateModelName(in.ModelName); err != nil {
		return RegisterOutput{}, err
	}
	wfID, _ := workflowKey(ctx)
	// The tag records that this workflow created the model, so that its
	// compensation deletes it only then (and only while it has no versions).
	_, err := a.Store.CreateRegisteredModel(ctx, in.ModelName, store.Tags{vocab.TagCreatedBy: wfID})
	// Created just now, cleanly: the model had no versions, so there is no
	// earlier attempt's version to find (one request less per new model).
	fresh := err == nil
	if err != nil && !failure.Has(err, failure.AlreadyExists) {
		// An ambiguous failure may have created it; the version create below
		// fails with NotFound if it did not, and the retry comes back here.
		if !failure.Has(err, failure.ServerUnavailable) {
			return RegisterOutput{}, err
		}
		if _, gerr := a.Store.GetRegisteredModel(ctx, in.ModelName); gerr != nil {
			return RegisterOutput{}, err
		}
	}
	find := func() (*store.ModelVersion, error) { return a.findVersion(ctx, in.ModelName, wfID) }
	create := func() (*store.ModelVersion, error) {
		mv, err := a.Store.CreateModelVersion(ctx, store.CreateModelVersionRequest{
			Name:    in.ModelName,
			Source:  modeluri.LoggedModel(in.ModelID),
			RunID:   in.RunID,
			ModelID: in.ModelID,
			Tags: store.Tags{
				vocab.TagWorkflowID:     wfID,
				vocab.TagManifestSHA256: in.ManifestSHA256,
			},
		})
		if failure.Has(err, failure.NotFound) {
			// The registered model went away after it was found or created
			// above: another pipeline created it, failed before registering
			// a version and its compensation deleted it while empty. A retry
			// creates it again.
			if _, gerr := a.Store.GetRegisteredModel(ctx, in.ModelName); failure.Has(gerr, failure.NotFound) {
				return nil, failure.Wrap(failure.Internal, err, "registered model %s was deleted meanwhile; retrying", in.ModelName)
			}
		}
		return mv, err
	}
	ensure := store.FindOrCreate[store.ModelVersion]
	if fresh {
		ensure = store.CreateOrFind[store.ModelVersion]
	}
	mv, created, err := ensure(find, create)
	if err != nil {
		return RegisterOutput{}, err
	}
	if !created {
		if st := mv.Tags[vocab.TagPipelineStatus]; st == vocab.PipelineFailed || st == vocab.PipelineCancelled {
			// A re-run of a compensated pipeline takes its version up again.
			if err := a.Store.SetModelVersionTag(ctx, in.ModelName, mv.Version, vocab.TagPipelineStatus, vocab.PipelineRetried); err != nil {
				return RegisterOutput{}, err
			}
		}
		return a.registered(in, mv, false), nil
	}
	a.logger(ctx).Info("registered", "model", in.ModelName, "version", mv.Version)
	return a.registered(in, mv, true), nil
}

// findVersion returns the workflow's version, or nil. Should a race ever have
// produced two, it returns the lowest and the fault suite counts it.
func (a *Activities) findVersion(ctx context.Context, name, wfID string) (*store.ModelVersion, error) {
	versions, err := a.Store.SearchModelVersions(ctx, name, vocab.TagWorkflowID, wfID)
	if err != nil {
		if failure.Has(err, failure.NotFound) {
			return nil, nil
		}
		return nil, err
	}
	if len(versions) == 0 {
		return nil, nil
	}
	mv := versions[0]
	switch mv.Status {
	case store.VersionFailed:
		return nil, failure.New(failure.RegistrationFailed, "version %d of %s failed registration: %s", mv.Version, name, mv.StatusMessage)
	case store.VersionPending:
		return nil, failure.New(failure.VersionNotReady, "version %d of %s is still PENDING_REGISTRATION", mv.Version, name)
	}
	return &mv, nil
}

func (a *Activities) registered(in RegisterInput, mv *store.ModelVersion, created bool) RegisterOutput {
	if mv == nil {
		return RegisterOutput{}
	}
	out := RegisterOutput{
		Version:  mv.Version,
		ModelURI: modeluri.Version(in.ModelName, mv.Version),
		Created:  created,
		UIURL:    a.Store.UIURL(in.ModelName, mv.Version),
	}
	if _, ok := a.Store.(store.LocationHinter); ok && mv.StorageLocation != "" {
		out.Location = &VersionLocation{Source: mv.Source, CreatedMs: mv.CreatedMs, StorageLocation: mv.StorageLocation}
	}
	return out
}

// hintLocation tells the store where version's files are, from loc (the
// register step's answer, nil when there is none), when the store keeps
// such answers: a worker that did not register the version then reads it
// without asking for its location again.
func (a *Activities) hintLocation(name string, version int, loc *VersionLocation) {
	h, ok := a.Store.(store.LocationHinter)
	if !ok || loc == nil {
		return
	}
	h.HintStorageLocation(store.ModelVersion{
		Name: name, Version: version, Source: loc.Source, CreatedMs: loc.CreatedMs,
		StorageLocation: loc.StorageLocation, Status: store.VersionReady,
	})
}
