package d2c

// ring holds the log's messages in sequence order, oldest first, and never
// more than limit of them. It grows on demand so a quiet hub with a large
// limit does not reserve the whole buffer up front.
type ring struct {
	buf   []Message
	head  int // index of the oldest message in buf
	n     int
	limit int
}

func newRing(limit int) *ring { return &ring{limit: limit} }

func (r *ring) len() int { return r.n }

func (r *ring) full() bool { return r.n == r.limit }

// at returns the i-th oldest message; 0 <= i < len().
func (r *ring) at(i int) *Message { return &r.buf[(r.head+i)%len(r.buf)] }

// push appends m; the caller makes room first (full() is false).
func (r *ring) push(m Message) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = m
	r.n++
}

func (r *ring) grow() {
	size := max(2*len(r.buf), 16)
	size = min(size, r.limit)
	buf := make([]Message, size)
	for i := range r.n {
		buf[i] = *r.at(i)
	}
	r.buf, r.head = buf, 0
}

// popFront drops the oldest message and returns it.
func (r *ring) popFront() Message {
	m := r.buf[r.head]
	r.buf[r.head] = Message{} // let the body be collected
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return m
}

// search returns the smallest i in [0, len()) for which pred(at(i)) holds,
// or len(); pred must be false then true along the ring.
func (r *ring) search(pred func(*Message) bool) int {
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if pred(r.at(mid)) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
