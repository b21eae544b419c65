// Package localstore is flavorflow's embedded default store: an
// implementation of store.Store that keeps everything under one directory,
// mirroring what an MLflow 3.x server with a SQL backend and --serve-artifacts
// would record, so that switching to a real server changes nothing above the
// store contract.
//
// # Layout
//
//	<dir>/flavorflow.db      SQLite metadata (plus -wal and -shm files)
//	<dir>/artifacts/<p>      the file behind mlflow-artifacts:/<p>
//
// Artifact URIs use MLflow's layout exactly: an experiment's location is
// mlflow-artifacts:/<expID>, a run's is mlflow-artifacts:/<expID>/<runID>/artifacts
// and a logged model's is mlflow-artifacts:/<expID>/models/<modelID>/artifacts.
//
// # Concurrency
//
// Several goroutines and several worker processes may share one directory.
// SQLite runs in WAL mode so readers never block the single writer, and every
// write is an immediate transaction (BEGIN IMMEDIATE): it takes the write
// lock up front instead of upgrading a read lock later, which in WAL mode
// fails at once with SQLITE_BUSY rather than waiting. A busy_timeout of 15 s
// makes writers queue; a lock still held after that surfaces as
// failure.StoreBusy, which is retryable. Model version numbers are MAX+1
// computed and inserted inside one such transaction, so they are gap-free and
// unique across goroutines and processes.
//
// # Crash model
//
// Metadata is as durable as SQLite with synchronous=FULL: a committed
// transaction survives a crash, an uncommitted one vanishes. Artifacts are
// written to a temporary file (".tmp-*") in the target's directory, hashed
// while streaming, fsynced, renamed over the target and the directory is
// fsynced, so a reader sees either the old file or the complete new one,
// never a torn one. A crash can leave a ".tmp-*" file behind; listings skip
// such names. The writer holds a flock on its temp file until the rename, so
// a temp file whose lock can be taken belongs to a dead writer: the next put
// into the same directory and the finalize of a logged model (over its whole
// artifact tree) remove those, and never a live writer's (tmpfiles.go).
//
// All artifact file access goes through an os.Root opened on <dir>/artifacts,
// so neither ".." nor a symlink planted in the tree can reach a file outside
// it; paths are additionally checked with vocab.CleanRelPath.
package localstore
