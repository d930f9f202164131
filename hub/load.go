package hub

import (
	"errors"
	"sync/atomic"

	"github.com/iothub-emulator/iothub-emulator/internal/parallel"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// loadChunkSize is how many records a parallel load decodes at once: enough
// to keep every core busy, few enough that the copies it holds are small.
const loadChunkSize = 4096

// loadChunk is a run of records copied out of the store: keys[i]'s value
// is data[ends[i-1]:ends[i]], and out[i], errs[i] what decoding made of it.
type loadChunk[T any] struct {
	keys []string
	ends []int
	data []byte
	out  []T
	errs []error
}

func (c *loadChunk[T]) value(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.data[start:c.ends[i]:c.ends[i]]
}

func (c *loadChunk[T]) reset() {
	clear(c.out)
	clear(c.errs)
	c.keys, c.ends, c.data = c.keys[:0], c.ends[:0], c.data[:0]
}

// errLoadStopped ends the store's iteration once a later stage has failed.
var errLoadStopped = errors.New("load stopped")

// loadBucket reads every record of a bucket and hands each, decoded, to use
// in key order. Three stages overlap, each on chunks the others are done
// with: one goroutine reads the store, the chunk it read last is decoded on
// every core, and the one before that is handed to use. Records are copied
// out of the store first, since a store may reuse them once its iteration
// moves on.
func loadBucket[T any](st store.Store, bucket string, decode func(key string, value []byte) (T, error), use func(key string, v T) error) error {
	const chunks = 3
	free := make(chan *loadChunk[T], chunks)
	for range chunks {
		free <- &loadChunk[T]{out: make([]T, loadChunkSize), errs: make([]error, loadChunkSize)}
	}
	read := make(chan *loadChunk[T])
	decoded := make(chan *loadChunk[T], 1)
	done := make(chan error, 1)
	var failed atomic.Bool
	go func() { // decode
		for c := range read {
			if !failed.Load() {
				parallel.For(len(c.keys), func(i int) { c.out[i], c.errs[i] = decode(c.keys[i], c.value(i)) })
			}
			decoded <- c
		}
		close(decoded)
	}()
	go func() { // use
		var first error
		for c := range decoded {
			if first == nil {
				if first = useChunk(c, use); first != nil {
					failed.Store(true)
				}
			}
			c.reset()
			free <- c
		}
		done <- first
	}()
	cur := <-free
	readErr := st.ForEach(bucket, func(key string, value []byte) error {
		cur.keys = append(cur.keys, key)
		cur.data = append(cur.data, value...)
		cur.ends = append(cur.ends, len(cur.data))
		if len(cur.keys) < loadChunkSize {
			return nil
		}
		read <- cur
		cur = <-free
		if failed.Load() {
			return errLoadStopped
		}
		return nil
	})
	if readErr == nil && len(cur.keys) > 0 {
		read <- cur
	}
	close(read)
	if err := <-done; err != nil {
		return err
	}
	return readErr
}

// useChunk hands a decoded chunk to use in order and returns the first
// error, a decoding error included.
func useChunk[T any](c *loadChunk[T], use func(string, T) error) error {
	for i := range c.keys {
		if c.errs[i] != nil {
			return c.errs[i]
		}
		if err := use(c.keys[i], c.out[i]); err != nil {
			return err
		}
	}
	return nil
}
