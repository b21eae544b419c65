// Package export copies a registered model version from one store to
// another — typically from the embedded local store, where a model was
// trained offline, to an MLflow server — with everything MLflow users expect
// to find there: the run with its params, metrics and tags, the logged model
// linked to the run, the artifacts (hash-checked on both sides), the model
// version and its aliases.
//
// Exporting is idempotent: every object created on the destination carries
// the export key (the source version and its logged model ID) and is looked
// up before it is created, so running the same export twice, or again after
// a failure halfway, changes nothing that is already there.
package export
