package mlflow

import (
	"container/list"
	"sync"
	"time"

	"github.com/flavorflow/flavorflow/store"
)

// Round trips the client saves by remembering answers that cannot have
// changed, each cache per Client (no globals) and bounded:
//
//   - a version's storage location (get-download-uri, one GET after every
//     answer that carries a version, since 3.17.2's version JSON omits it).
//     MLflow fixes it when the version is created (from its source) and
//     never changes it, but a version number can name another version
//     later: delete the registered model, create it again, and version 1 is
//     back with another source and location. So the key is the version as
//     the answer in hand describes it: name, number, source and creation
//     time. A recreated version has another creation time (and as a rule
//     another source) and misses.
//   - an experiment's ID by name (get-by-name: the save step and the log
//     step each look it up). An experiment keeps its ID, but its name can
//     come to name another one (renamed, or deleted for good and created
//     again; the SQL store may even give a freed ID to the next experiment
//     created), so an entry lives experimentTTL, and a create that the server
//     refuses with RESOURCE_DOES_NOT_EXIST for a cached ID drops the entry
//     and fails retryably: the retry looks the name up again.
const (
	locationCacheSize   = 4096
	experimentCacheSize = 64
	experimentTTL       = time.Minute
)

// lru is a bounded map that forgets the least recently used entry first.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *lruEntry, most recently used at the front
	items map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element)}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry[K, V]).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry[K, V]).key)
	}
}

// removeIf drops every entry drop accepts and reports whether there was one.
func (c *lru[K, V]) removeIf(drop func(K, V) bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	removed := false
	for e := c.order.Front(); e != nil; {
		next := e.Next()
		if en := e.Value.(*lruEntry[K, V]); drop(en.key, en.val) {
			c.order.Remove(e)
			delete(c.items, en.key)
			removed = true
		}
		e = next
	}
	return removed
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// locationKey is a version as an answer describes it (see above).
type locationKey struct {
	name      string
	version   int
	source    string
	createdMs int64
}

// cachedExperiment is a get-by-name answer and when it came.
type cachedExperiment struct {
	exp store.Experiment
	at  time.Time
}
