package failure

//go:generate go run ./gendoc -o ../ERRORS.md

// Code is a stable error type string.
type Code string

// The codes. Add new ones at the end of their group and to the table below.
const (
	// Input: the caller sent something that can never succeed.
	InvalidModelName    Code = "InvalidModelName"
	InvalidAlias        Code = "InvalidAlias"
	InvalidTrainingData Code = "InvalidTrainingData"
	InvalidModel        Code = "InvalidModel"
	InvalidURI          Code = "InvalidURI"
	InvalidPath         Code = "InvalidPath"
	InvalidArgument     Code = "InvalidArgument"
	InvalidMLmodel      Code = "InvalidMLmodel"
	InvalidManifest     Code = "InvalidManifest"
	FlavorNotFound      Code = "FlavorNotFound"
	InvalidConfig       Code = "InvalidConfig"
	UnknownTrainer      Code = "UnknownTrainer"

	// State: the stores disagree with what the pipeline expects.
	NotFound           Code = "NotFound"
	AlreadyExists      Code = "AlreadyExists"
	ChecksumMismatch   Code = "ChecksumMismatch"
	VerificationFailed Code = "VerificationFailed"
	AliasConflict      Code = "AliasConflict"
	RegistrationFailed Code = "RegistrationFailed"
	TargetNotEmpty     Code = "TargetNotEmpty"
	WriteConflict      Code = "WriteConflict"
	// NotAwaitingApproval: an approve or reject reached a pipeline that is
	// not waiting for one (not yet, already decided, or timed out).
	NotAwaitingApproval Code = "NotAwaitingApproval"

	// Server and access.
	Unauthorized      Code = "Unauthorized"
	PermissionDenied  Code = "PermissionDenied"
	BadResponse       Code = "BadResponse"
	NotImplemented    Code = "NotImplemented"
	ServerUnavailable Code = "ServerUnavailable"
	VersionNotReady   Code = "VersionNotReady"
	StoreBusy         Code = "StoreBusy"

	// Everything else.
	Canceled Code = "Canceled"
	Internal Code = "Internal"
)

// Info documents one code.
type Info struct {
	Code      Code
	Retryable bool
	Meaning   string
}

// Table lists every code in documentation order. It is the single source for
// NonRetryable, Retryable and ERRORS.md.
var Table = []Info{
	{InvalidModelName, false, "Registered model name is empty, has leading or trailing whitespace or invisible characters, is longer than 256 bytes, contains `/`, `:`, `%`, `@` (a `models:/` URI would read it as an alias) or a control character, or is not a clean path segment (MLflow's rules)."},
	{InvalidAlias, false, "Alias is empty, longer than 255, not `[A-Za-z0-9_-]`, or reserved (`latest`, `v<digits>`)."},
	{InvalidTrainingData, false, "Training data is empty, not numbers, NaN/Inf, has mismatched pairs, is over the limits (1,000,000 samples, 64 MiB), or its fit overflows float64; or a held-out split (fraction, window, evaluation set) leaves the training or held-out rows empty, or the training data changed between training and evaluation. The starter refuses it before a pipeline starts (exit 2)."},
	{InvalidModel, false, "A model value is unusable: NaN/Inf offset, negative weights size, corrupt model.json."},
	{InvalidURI, false, "A `models:/`, `runs:/`, `mlflow-artifacts:/` or other URI does not follow the grammar, or names an unknown scheme."},
	{InvalidPath, false, "A path is absolute, contains `..`, a backslash, a NUL, or would escape the store root; or a model directory holds a symlink."},
	{InvalidArgument, false, "Any other argument that can never be valid (bad cron, bad flag value, unknown option)."},
	{InvalidMLmodel, false, "The MLmodel file is missing, not YAML, a YAML bomb, oversized, or has fields of the wrong type."},
	{InvalidManifest, false, "The sha256 manifest is missing from a directory that needs one, malformed, or lists unsafe paths; or a version records no manifest hash to check its bytes against (registered outside flavorflow: run `starter verify`)."},
	{FlavorNotFound, false, "The MLmodel has no configuration for the requested flavor (`Model does not have the \"X\" flavor`), or none this worker loads; or a pipeline or trainer named a flavor the worker was not built with (the message lists the ones it has)."},
	{UnknownTrainer, false, "A pipeline named a trainer this worker was not built with; the message lists the ones it has."},
	{InvalidConfig, false, "temporal-dev.yml, an env var or a flag has a value that cannot be used."},
	{NotFound, false, "The experiment, run, logged model, registered model, version, alias, schedule, workflow or artifact does not exist."},
	{AlreadyExists, false, "A create named something that exists (normally handled inside look-up-before-create)."},
	{ChecksumMismatch, false, "A file's sha256 or size differs from the manifest, the manifest hash differs from the one recorded on the version (or logged model), or a version that records one came without a manifest. For a download, only once two downloads agree on the same wrong bytes: the stored bytes are damaged."},
	{VerificationFailed, false, "The loaded model's predictions differ from the trained model's on the verification inputs; the alias is not moved."},
	{AliasConflict, false, "The alias points at a newer version than the one being promoted (aliases only move forward; use rollback), or a writer outside flavorflow moved it while it was being set."},
	{NotAwaitingApproval, false, "An approve or reject (`starter approve`/`reject`, the `approve`/`reject` updates) reached a pipeline that is not waiting for one: it has not finished evaluating, was already approved or rejected, or its wait ran out. The message says which."},
	{RegistrationFailed, false, "The registry reported FAILED_REGISTRATION for the version."},
	{TargetNotEmpty, false, "SaveModel was pointed at a directory that exists and is not empty."},
	{WriteConflict, true, "The server refused a write because a concurrent write of the same row committed first (MLflow 400 with a database unique-constraint error, e.g. two first-time alias sets at once). Retried: the retry reads the store again and decides anew."},
	{Unauthorized, false, "The server rejected the credentials (401). The message names the server, never the secret."},
	{PermissionDenied, false, "The credentials are valid but lack permission (403)."},
	{BadResponse, false, "The server answered something that is not the documented JSON (garbage, HTML, unknown shape)."},
	{NotImplemented, false, "The server does not implement the call (501), e.g. multipart upload on local artifact storage."},
	{ServerUnavailable, true, "Connection refused or reset, timeout, truncated body, 408, 429, or 5xx other than 501; or a file whose downloads keep arriving with different wrong bytes (damaged in transit, after 3 tries). Retried with backoff."},
	{VersionNotReady, true, "The model version is still PENDING_REGISTRATION after the wait; the activity retries."},
	{StoreBusy, true, "The local store's database was locked by another writer longer than the busy timeout."},
	{Canceled, false, "The pipeline or alias change was cancelled (`temporal workflow cancel`, the Temporal UI); a pipeline first compensates what it created."},
	{Internal, true, "An unexpected failure; retried in case it was transient, and reported with its cause."},
}

// Retryable reports whether a retry can help for code. Unknown codes are
// treated as retryable, like Temporal treats unknown failures.
func Retryable(c Code) bool {
	for _, info := range Table {
		if info.Code == c {
			return info.Retryable
		}
	}
	return true
}

// NonRetryable lists the codes a retry cannot fix, in table order. Activity
// retry policies use it as NonRetryableErrorTypes.
func NonRetryable() []string {
	var out []string
	for _, info := range Table {
		if !info.Retryable {
			out = append(out, string(info.Code))
		}
	}
	return out
}
