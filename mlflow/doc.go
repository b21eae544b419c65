// Package mlflow is flavorflow's own thin REST client for an MLflow 3.x
// tracking server with the artifact proxy (--serve-artifacts). *Client
// implements store.Store; it was checked against a real mlflow 3.17.2.
//
// # Endpoints
//
// All JSON calls go to <tracking or registry URI>/api/2.0/mlflow/...:
//
//	experiments/get-by-name (GET), experiments/create (POST)
//	runs/create, runs/get (GET), runs/search, runs/log-batch, runs/update, runs/outputs
//	logged-models (POST create), logged-models/{id} (GET; PATCH finalize, with
//	  model_id in the body too), logged-models/{id}/tags (PATCH), logged-models/search
//	registered-models/create, registered-models/get (GET)
//	model-versions/create, model-versions/get, model-versions/search,
//	  model-versions/get-download-uri (GETs), model-versions/set-tag
//	registered-models/alias: POST set, GET by alias, DELETE with a JSON body
//	  (the server ignores the query string of DELETE and PATCH)
//
// Artifacts go through the proxy, <tracking>/api/2.0/mlflow-artifacts/:
// PUT and GET artifacts/<path> stream the bytes, GET artifacts?path=<dir>
// lists basenames, POST mpu/{create,complete,abort}/<dir> is multipart.
// Roots may be mlflow-artifacts:/<p>, mlflow-artifacts://host:port/<p> or
// http(s)://.../api/2.0/mlflow-artifacts/artifacts/<p>; credentials are
// only sent to the tracking and registry hosts.
//
// # Retries
//
// Every request is retried on 408, 429, 5xx other than 501, connection
// errors and truncated bodies, with exponential backoff and jitter
// (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, _JITTER), at most
// MLFLOW_HTTP_REQUEST_MAX_RETRIES times, waiting at least Retry-After, and
// stopping when the context is done. The policy is two function types,
// CheckRetry and Backoff, set on the Client.
//
// Creates are different: experiments/create, runs/create, logged-models
// create, registered-models/create and model-versions/create have no
// idempotency key in MLflow, and a retried create after a lost answer makes
// a duplicate (the Python client does retry them). They are retried only
// when the connection could not be made at all; after any other failure
// the client returns ServerUnavailable and the caller looks up (by tag)
// before creating again. mpu/create is treated as a create too.
//
// Reads, log-batch (repeating it is a no-op in MLflow), runs/update,
// runs/outputs, set-tag, alias set/delete, finalize and artifact PUTs are
// idempotent and retried. Request bodies are reopened for every attempt:
// JSON from a byte slice, artifacts through store.Source.Open, so a retried
// PUT re-reads the file instead of buffering it.
//
// # Errors
//
// Every error carries a failure code; HTTP answers are wrapped *APIError
// values (Status, MLflow error_code, Message, Method, Endpoint):
//
//	401                                  Unauthorized (names the server, never the secret)
//	403                                  PermissionDenied
//	404, RESOURCE_DOES_NOT_EXIST         NotFound
//	400 RESOURCE_ALREADY_EXISTS          AlreadyExists (MLflow uses 400, not 409)
//	400 "... alias X not found."         NotFound (MLflow uses 400 INVALID_PARAMETER_VALUE)
//	other 4xx                            InvalidArgument
//	501                                  NotImplemented
//	408, 429, 5xx, transport, truncated  ServerUnavailable
//	2xx that is not the expected JSON    BadResponse (says what was expected, quotes the body)
//
// Unknown JSON fields are ignored. A version the registry reports as
// PENDING_REGISTRATION is polled until VersionWaitTimeout
// (VersionNotReady); FAILED_REGISTRATION is RegistrationFailed.
//
// # What 3.17.2 does that the protocol notes did not say
//
// Model version JSON has neither model_id nor storage_location: ModelID is
// taken from a models:/m-<id> source and StorageLocation from
// get-download-uri (one extra GET the first time the client sees a version;
// the answer is kept, see cache.go). runs/search and
// logged-models/search answer newest first; the client returns creation
// order (start time, then creation timestamp). model-versions/create checks
// the source before the registered model, so a missing model can come back
// as 400; the client then checks the model and answers NotFound.
package mlflow
