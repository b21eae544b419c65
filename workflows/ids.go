package workflows

import "strings"

// IDPart renders user text (a model name, an alias) as a segment of a
// workflow or schedule ID. Temporal carries IDs in gRPC headers, which take
// printable ASCII only, so a name MLflow accepts ("名前-モデル", "a b") must
// not be pasted in as it is. Letters, digits, '.', '_' and '-' stay; every
// other byte becomes "~XX" (uppercase hex). The mapping is injective ('~'
// itself is escaped), so two names never share an ID, and the common names
// ("iris", "fraud-v2") read exactly as before. The real name travels in the
// ModelName search attribute and the memo, never only in the ID.
func IDPart(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteByte(c)
		default:
			// By hand, not fmt: workflow code calls this (the keeper's ID),
			// and workflowcheck takes fmt for non-deterministic.
			const hex = "0123456789ABCDEF"
			b.WriteByte('~')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	return b.String()
}

// LifecycleID is the workflow ID of a pipeline started without --id: the
// model's ID part and a caller-chosen unique suffix.
func LifecycleID(model, suffix string) string {
	return "lifecycle-" + IDPart(model) + "-" + suffix
}

// ScheduleID is the default schedule ID for retraining a model.
func ScheduleID(model string) string { return "retrain-" + IDPart(model) }

// MemoModelName is the memo entry holding the model's real name, set when a
// pipeline or a schedule's action starts: the ID holds only its IDPart.
const MemoModelName = "model_name"
