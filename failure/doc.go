// Package failure defines flavorflow's stable error codes.
//
// Every error that crosses a package boundary carries a Code. The code is the
// string Temporal sees as the ApplicationError type, the string the CLI prints,
// and the string tests assert on, so it never changes once released. The table
// in codes.go is the one place that lists every code, what it means and
// whether a retry can help; ERRORS.md is generated from it (go generate) and a
// test keeps the two in step.
//
// Errors compare by code: errors.Is(err, failure.New(failure.NotFound, "")) is
// true for any NotFound error in the chain, and failure.CodeOf(err) returns the
// outermost code.
package failure
