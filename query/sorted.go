package query

import "sort"

// chunkSize bounds the memmove on insert; 256 keeps inserts cheap while
// scans stay cache-friendly.
const chunkSize = 256

type item[V any] struct {
	key string
	v   V
}

// sortedList is an ordered map from string keys to values, stored as a list
// of sorted chunks: inserts and deletes cost O(chunkSize + chunks), seeks
// O(log n), and a scan walks contiguous memory.
type sortedList[V any] struct {
	chunks [][]item[V]
	n      int
}

func (s *sortedList[V]) len() int { return s.n }

// chunkFor returns the index of the first chunk whose last key is >= key,
// or len(chunks) when key is beyond every chunk.
func (s *sortedList[V]) chunkFor(key string) int {
	return sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return c[len(c)-1].key >= key
	})
}

func searchChunk[V any](c []item[V], key string) int {
	return sort.Search(len(c), func(i int) bool { return c[i].key >= key })
}

// beyondLast reports whether key sorts after every key of the list, as
// each key does when keys come in order (a start, an import): one
// comparison instead of a search.
func (s *sortedList[V]) beyondLast(key string) bool {
	if len(s.chunks) == 0 {
		return true
	}
	last := s.chunks[len(s.chunks)-1]
	return key > last[len(last)-1].key
}

// get returns the value stored under key.
func (s *sortedList[V]) get(key string) (V, bool) {
	if s.beyondLast(key) {
		var zero V
		return zero, false
	}
	ci := s.chunkFor(key)
	if ci < len(s.chunks) {
		c := s.chunks[ci]
		if i := searchChunk(c, key); i < len(c) && c[i].key == key {
			return c[i].v, true
		}
	}
	var zero V
	return zero, false
}

// set stores v under key, replacing any previous value.
func (s *sortedList[V]) set(key string, v V) {
	if len(s.chunks) == 0 {
		// One item, growing as items come: most lists of a tag index
		// stay short (a value only a few twins hold, a serial number only
		// one), and a chunk of room from the start cost 8 KiB a list.
		s.chunks = [][]item[V]{{{key: key, v: v}}}
		s.n = 1
		return
	}
	if s.beyondLast(key) {
		// Append to the last chunk, or start a new one: keys set in order
		// then fill every chunk instead of splitting each in half. A new
		// chunk after a full one has room for a whole chunk from the
		// start, as the list is long already.
		ci := len(s.chunks) - 1
		if len(s.chunks[ci]) == chunkSize {
			c := make([]item[V], 1, chunkSize)
			c[0] = item[V]{key: key, v: v}
			s.chunks = append(s.chunks, c)
		} else {
			s.chunks[ci] = append(s.chunks[ci], item[V]{key: key, v: v})
		}
		s.n++
		return
	}
	ci := s.chunkFor(key)
	c := s.chunks[ci]
	i := searchChunk(c, key)
	if i < len(c) && c[i].key == key {
		c[i].v = v
		return
	}
	s.n++
	if len(c) < chunkSize {
		c = append(c, item[V]{})
		copy(c[i+1:], c[i:])
		c[i] = item[V]{key: key, v: v}
		s.chunks[ci] = c
		return
	}
	// Split the full chunk in two halves, then insert into the right one.
	half := len(c) / 2
	left := make([]item[V], half, chunkSize)
	copy(left, c[:half])
	right := make([]item[V], len(c)-half, chunkSize)
	copy(right, c[half:])
	if i <= half {
		left = append(left, item[V]{})
		copy(left[i+1:], left[i:])
		left[i] = item[V]{key: key, v: v}
	} else {
		i -= half
		right = append(right, item[V]{})
		copy(right[i+1:], right[i:])
		right[i] = item[V]{key: key, v: v}
	}
	s.chunks = append(s.chunks, nil)
	copy(s.chunks[ci+2:], s.chunks[ci+1:])
	s.chunks[ci] = left
	s.chunks[ci+1] = right
}

// remove deletes key and reports whether it was present.
func (s *sortedList[V]) remove(key string) bool {
	ci := s.chunkFor(key)
	if ci == len(s.chunks) {
		return false
	}
	c := s.chunks[ci]
	i := searchChunk(c, key)
	if i >= len(c) || c[i].key != key {
		return false
	}
	s.n--
	copy(c[i:], c[i+1:])
	c[len(c)-1] = item[V]{} // drop the reference for the collector
	c = c[:len(c)-1]
	if len(c) == 0 {
		copy(s.chunks[ci:], s.chunks[ci+1:])
		s.chunks[len(s.chunks)-1] = nil
		s.chunks = s.chunks[:len(s.chunks)-1]
		return true
	}
	s.chunks[ci] = c
	return true
}

// cursor is a position in the list: chunk ci, item ei.
type cursor struct{ ci, ei int }

// after returns the position of the first key strictly greater than key,
// or of the first key when from is false.
func (s *sortedList[V]) after(key string, from bool) cursor {
	if !from {
		return cursor{}
	}
	ci := s.chunkFor(key)
	if ci == len(s.chunks) {
		return cursor{ci: ci}
	}
	c := s.chunks[ci]
	i := searchChunk(c, key)
	if i < len(c) && c[i].key == key {
		i++
	}
	if i == len(c) {
		return cursor{ci: ci + 1}
	}
	return cursor{ci: ci, ei: i}
}
