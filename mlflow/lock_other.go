//go:build !unix

package mlflow

import "os"

// Without flock two processes could drive one upload; keep no journal.
func lockFile(string) (*os.File, bool) { return nil, false }
