// Package store defines the model-registry and artifact contract that
// flavorflow's activities use, in MLflow 3.x terms: experiments, runs, logged
// models, streamed artifacts, registered models, model versions, aliases and
// tags.
//
// Two implementations satisfy it and pass the same conformance suite
// (store/storetest): the embedded local store (store/localstore), the default,
// which keeps everything under one directory; and the MLflow REST client
// (package mlflow), which talks to a real `mlflow server`. Only the tracking
// URI chooses between them (store/open).
//
// # Conventions
//
//   - Errors carry failure codes: NotFound for anything missing (including an
//     alias, which MLflow reports as 400 INVALID_PARAMETER_VALUE),
//     AlreadyExists for a duplicate create, InvalidModelName/InvalidAlias/
//     InvalidPath for bad input, ServerUnavailable for transient faults.
//   - Creates are not idempotent (as in MLflow). Callers that need exactly
//     once tag what they create and look it up first (SearchRunsByTag,
//     SearchLoggedModelsByTag, SearchModelVersions).
//   - Artifact locations are URIs rooted at "mlflow-artifacts:/", as an MLflow
//     server with --serve-artifacts hands them out; paths below a root are
//     slash-separated and relative, and never contain "..".
//   - Artifacts stream: PutArtifact reopens its Source for each attempt and
//     never holds a file in memory; OpenArtifact returns a reader.
package store
