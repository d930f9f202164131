package store

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Memory is the Store kept in maps: the same buckets, checks, errors and
// ordering as the file, and nothing on disk. A write is "durable" once it
// is in the maps, so Apply needs no group commit.
type Memory struct {
	mu      sync.RWMutex
	closed  bool
	buckets map[string]map[string][]byte
}

var _ Store = (*Memory)(nil)

// OpenMemory returns an empty in-memory store.
func OpenMemory() *Memory {
	m := &Memory{buckets: make(map[string]map[string][]byte, len(buckets))}
	for _, b := range buckets {
		m.buckets[b] = make(map[string][]byte)
	}
	return m
}

// Apply commits ops atomically: they are checked first, then written under
// one lock, so a reader sees all of them or none.
func (m *Memory) Apply(ctx context.Context, ops ...Op) error {
	if err := checkOps(ops); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, op := range ops {
		b := m.buckets[op.Bucket]
		if op.Value == nil {
			delete(b, op.Key)
		} else {
			b[op.Key] = append([]byte{}, op.Value...) // the caller may reuse its buffer
		}
	}
	return nil
}

type record struct {
	key   string
	value []byte
}

// ForEach calls fn for every record of bucket in key order. The records are
// taken under the lock and visited after it is released, so fn sees one
// snapshot and may itself write to the store.
func (m *Memory) ForEach(bucket string, fn func(key string, value []byte) error) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	b := m.buckets[bucket]
	recs := make([]record, 0, len(b))
	for k, v := range b {
		recs = append(recs, record{k, v})
	}
	m.mu.RUnlock()
	// Go compares strings bytewise, which is bbolt's key order. Stored
	// values are never changed in place (Apply replaces them), so the
	// snapshot needs no copies.
	slices.SortFunc(recs, func(a, b record) int { return strings.Compare(a.key, b.key) })
	for _, r := range recs {
		if err := fn(r.key, r.value); err != nil {
			return err
		}
	}
	return nil
}

// Get returns a copy of one record, or nil.
func (m *Memory) Get(bucket, key string) ([]byte, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	v, ok := m.buckets[bucket][key]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// Close drops every record; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.buckets = nil
	return nil
}
