package main

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
)

func get(t *testing.T, h http.Handler) (int, health) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	var out health
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("/healthz is not JSON: %v: %q", err, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, out
}

// TestHealthReportsFreeSpace: /healthz reports WORK_DIR's free space and
// says degraded (still 200: the worker runs) below the configured minimum.
func TestHealthReportsFreeSpace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "work")
	var ready atomic.Bool
	code, h := get(t, healthHandler(&ready, dir, 0))
	if code != http.StatusServiceUnavailable || h.Status != "unavailable" {
		t.Errorf("before start: %d %+v", code, h)
	}
	ready.Store(true)
	code, h = get(t, healthHandler(&ready, dir, 1))
	if code != http.StatusOK || h.Status != "ok" || h.FreeBytes == 0 || h.TotalBytes < h.FreeBytes || h.WorkDir != dir {
		t.Errorf("running: %d %+v", code, h)
	}
	code, h = get(t, healthHandler(&ready, dir, math.MaxInt64))
	if code != http.StatusOK || h.Status != "degraded" || h.MinFreeBytes != math.MaxInt64 {
		t.Errorf("below the minimum: %d %+v", code, h)
	}
}
