// Package faultstore wraps a real store.Store and makes chosen calls fail
// the way networks and servers do: after the call reached the store and
// committed, the answer is "lost" and the caller gets ServerUnavailable.
// That is the case that turns naive retries into duplicate runs and model
// versions, so the exactly-once tests inject it into every writing call.
package faultstore

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// Store is a store.Store with injected faults.
type Store struct {
	store.Store
	mu     sync.Mutex
	faults map[string]int // method -> number of calls still to fail
	calls  map[string]int
	hooks  map[string]func()
	fired  map[string]int
	early  map[string]int          // method -> calls to fail before they reach the store
	codes  map[string]failure.Code // method -> the code early failures have (default ServerUnavailable)
	short  map[string]int          // artifact path suffix -> reads still to cut short
	seq    int                     // varies where a read is cut, so no two cuts agree
}

// ShortRead makes the next n OpenArtifact calls of a path ending in suffix
// return a body cut short, cleanly (no error): bytes lost on the way that
// only a checksum can notice. Successive cuts end at different lengths.
func (s *Store) ShortRead(suffix string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.short == nil {
		s.short = map[string]int{}
	}
	s.short[suffix] += n
}

// shortened returns how many bytes to cut from a read of rel (0: none).
func (s *Store) shortened(rel string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for suffix, n := range s.short {
		if n > 0 && strings.HasSuffix(rel, suffix) {
			s.short[suffix]--
			s.seq++
			return s.seq
		}
	}
	return 0
}

// New wraps st.
func New(st store.Store) *Store {
	return &Store{Store: st, faults: map[string]int{}, calls: map[string]int{}}
}

// FailAfterCommit makes the next n calls of method (e.g. "CreateModelVersion")
// run against the real store and then return ServerUnavailable.
func (s *Store) FailAfterCommit(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] += n
}

// FailBeforeCommit makes the next n calls of method fail with
// ServerUnavailable without reaching the real store (a 5xx before commit).
func (s *Store) FailBeforeCommit(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.early == nil {
		s.early = map[string]int{}
	}
	s.early[method] += n
}

// FailWith makes the next n calls of method fail with code without
// reaching the real store: a store that keeps answering with something no
// retry fixes (a malformed reply is BadResponse). n may be large, for a
// fault that lasts until Clear.
func (s *Store) FailWith(method string, n int, code failure.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes == nil {
		s.codes = map[string]failure.Code{}
	}
	if s.early == nil {
		s.early = map[string]int{}
	}
	s.early[method] += n
	s.codes[method] = code
}

// Clear removes every fault still pending (the store has recovered).
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.early, s.codes = map[string]int{}, map[string]int{}, nil
}

// Calls returns how many times method was called.
func (s *Store) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Injected returns how many faults were injected into method.
func (s *Store) Injected(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired[method]
}

// after records a call and returns the injected error, if any, once the real
// call has run.
func (s *Store) after(method string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	if err == nil && s.faults[method] > 0 {
		s.faults[method]--
		if s.fired == nil {
			s.fired = map[string]int{}
		}
		s.fired[method]++
		return failure.New(failure.ServerUnavailable, "injected fault: %s committed but the answer was lost", method)
	}
	return err
}

func (s *Store) CreateExperiment(ctx context.Context, name string, tags store.Tags) (string, error) {
	if err := s.before("CreateExperiment"); err != nil {
		return "", err
	}
	id, err := s.Store.CreateExperiment(ctx, name, tags)
	return id, s.after("CreateExperiment", err)
}

func (s *Store) CreateRun(ctx context.Context, req store.CreateRunRequest) (*store.Run, error) {
	if err := s.before("CreateRun"); err != nil {
		return nil, err
	}
	r, err := s.Store.CreateRun(ctx, req)
	return r, s.after("CreateRun", err)
}

func (s *Store) LogBatch(ctx context.Context, runID string, b store.Batch) error {
	if err := s.before("LogBatch"); err != nil {
		return err
	}
	return s.after("LogBatch", s.Store.LogBatch(ctx, runID, b))
}

func (s *Store) CreateLoggedModel(ctx context.Context, req store.CreateLoggedModelRequest) (*store.LoggedModel, error) {
	if err := s.before("CreateLoggedModel"); err != nil {
		return nil, err
	}
	m, err := s.Store.CreateLoggedModel(ctx, req)
	return m, s.after("CreateLoggedModel", err)
}

func (s *Store) FinalizeLoggedModel(ctx context.Context, id string, st store.LoggedModelStatus) (*store.LoggedModel, error) {
	if err := s.before("FinalizeLoggedModel"); err != nil {
		return nil, err
	}
	m, err := s.Store.FinalizeLoggedModel(ctx, id, st)
	return m, s.after("FinalizeLoggedModel", err)
}

func (s *Store) PutArtifact(ctx context.Context, root, rel string, src store.Source) error {
	if err := s.before("PutArtifact"); err != nil {
		return err
	}
	return s.after("PutArtifact", s.Store.PutArtifact(ctx, root, rel, src))
}

func (s *Store) OpenArtifact(ctx context.Context, root, rel string) (io.ReadCloser, error) {
	if err := s.before("OpenArtifact"); err != nil {
		return nil, err
	}
	rc, err := s.Store.OpenArtifact(ctx, root, rel)
	if ierr := s.after("OpenArtifact", err); ierr != nil && err == nil {
		rc.Close()
		return nil, ierr
	}
	if err == nil {
		if cut := s.shortened(rel); cut > 0 {
			// Buffered: fault tests cut model files of a few MiB at most.
			data, rerr := io.ReadAll(rc)
			rc.Close()
			if rerr != nil {
				return nil, rerr
			}
			return io.NopCloser(bytes.NewReader(data[:max(len(data)-cut, 0)])), nil
		}
	}
	return rc, err
}

func (s *Store) CreateRegisteredModel(ctx context.Context, name string, tags store.Tags) (*store.RegisteredModel, error) {
	if err := s.before("CreateRegisteredModel"); err != nil {
		return nil, err
	}
	m, err := s.Store.CreateRegisteredModel(ctx, name, tags)
	return m, s.after("CreateRegisteredModel", err)
}

func (s *Store) CreateModelVersion(ctx context.Context, req store.CreateModelVersionRequest) (*store.ModelVersion, error) {
	if err := s.before("CreateModelVersion"); err != nil {
		return nil, err
	}
	mv, err := s.Store.CreateModelVersion(ctx, req)
	return mv, s.after("CreateModelVersion", err)
}

func (s *Store) SetModelVersionTag(ctx context.Context, name string, version int, key, value string) error {
	if err := s.before("SetModelVersionTag"); err != nil {
		return err
	}
	return s.after("SetModelVersionTag", s.Store.SetModelVersionTag(ctx, name, version, key, value))
}

func (s *Store) SetAlias(ctx context.Context, name, alias string, version int) error {
	if err := s.before("SetAlias"); err != nil {
		return err
	}
	return s.after("SetAlias", s.Store.SetAlias(ctx, name, alias, version))
}

func (s *Store) UpdateRun(ctx context.Context, runID string, status store.RunStatus, endMs int64) error {
	if err := s.before("UpdateRun"); err != nil {
		return err
	}
	return s.after("UpdateRun", s.Store.UpdateRun(ctx, runID, status, endMs))
}

// OnCall runs fn before each call of method reaches the real store (to
// corrupt data between two steps, or to kill a process at a chosen point).
func (s *Store) OnCall(method string, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooks == nil {
		s.hooks = map[string]func(){}
	}
	s.hooks[method] = fn
}

func (s *Store) before(method string) error {
	s.mu.Lock()
	fn := s.hooks[method]
	fail := s.early[method] > 0
	code, ok := s.codes[method]
	if !ok {
		code = failure.ServerUnavailable
	}
	if fail {
		s.early[method]--
		s.calls[method]++
		if s.fired == nil {
			s.fired = map[string]int{}
		}
		s.fired[method]++
	}
	s.mu.Unlock()
	if fail {
		return failure.New(code, "injected fault: %s failed before it reached the store", method)
	}
	if fn != nil {
		fn()
	}
	return nil
}
