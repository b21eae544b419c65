package failure

import (
	"fmt"
	"strings"
)

// Markdown renders Table as the ERRORS.md document.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Error types\n\n")
	b.WriteString("Generated from `failure/codes.go` by `go generate ./failure`; do not edit by hand.\n\n")
	b.WriteString("Every flavorflow error carries one of these type strings. It is the Temporal\n")
	b.WriteString("`ApplicationError` type of a failed activity, the `code` in `starter --output json`,\n")
	b.WriteString("and the prefix of the message. Non-retryable types are in every activity's\n")
	b.WriteString("`RetryPolicy.NonRetryableErrorTypes`; retryable ones are retried with backoff\n")
	b.WriteString("(1 s doubling to 30 s) within each step's time budget (schedule-to-close, in\n")
	b.WriteString("`workflows/options.go`), not a count of attempts.\n\n")
	b.WriteString("| Type | Retried | Meaning |\n|---|---|---|\n")
	for _, info := range Table {
		retried := "no"
		if info.Retryable {
			retried = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", info.Code, retried, info.Meaning)
	}
	return b.String()
}
