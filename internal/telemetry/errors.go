package telemetry

import (
	"log/slog"
	"sync"
	"time"
)

// exportErrors is the OpenTelemetry error handler: a collector that is down
// fails every batch, so errors are logged at most once per interval with the
// count of those dropped in between, not once a second on stderr.
type exportErrors struct {
	logger   *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (h *exportErrors) Handle(err error) {
	h.mu.Lock()
	now := time.Now()
	if !h.last.IsZero() && now.Sub(h.last) < h.interval {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	n := h.suppressed
	h.last, h.suppressed = now, 0
	h.mu.Unlock()
	h.logger.Warn("telemetry export failed; data dropped", "error", err, "errors_since_last_report", n)
}
