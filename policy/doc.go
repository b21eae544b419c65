// Package policy decides, from evidence, whether a new model version (the
// challenger) takes an alias from the version on it (the champion).
//
// It is pure and deterministic: workflow code calls Decide with scores the
// evaluation step computed, and the same inputs always give the same
// decision and reason, so a replayed workflow decides as it did.
//
// A Policy names a mode (always, beats-champion, threshold, never), the
// metric it compares on, a margin, an optional threshold, and whether an
// operator must approve before the alias moves.
package policy
