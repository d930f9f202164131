package d2c

import (
	"context"
)

// Read returns up to max messages matching f, oldest first (max <= 0 means
// DefaultMaxCount), and the sequence number to ask for next time: after the
// last message returned when there may be more, else after the newest
// message the log holds (so a filtered reader does not rescan what did not
// match), and never less than f.FromSequence. Messages older than MaxAge are
// not returned even if the sweeper has not deleted them yet.
func (l *Log) Read(f Filter, max int) (msgs []Message, next int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readLocked(f, max)
}

func (l *Log) readLocked(f Filter, limit int) ([]Message, int64) {
	if limit <= 0 {
		limit = DefaultMaxCount
	}
	r := l.msgs
	start := r.search(func(m *Message) bool { return m.SequenceNumber >= f.FromSequence })
	// Messages older than MaxAge may still wait for the sweeper; hide them.
	from := l.now().Add(-l.maxAge)
	if f.FromTime.After(from) {
		from = f.FromTime
	}
	start = max(start, r.search(func(m *Message) bool { return !m.EnqueuedTime.Before(from) }))
	out := []Message{}
	for i := start; i < r.len(); i++ {
		m := r.at(i)
		if !f.Matches(*m) {
			continue
		}
		out = append(out, m.clone())
		if len(out) == limit {
			return out, m.SequenceNumber + 1
		}
	}
	return out, max(l.lastSeq+1, f.FromSequence)
}

// NextSequenceNumber is the sequence number the next message will have, as
// far as readers are concerned: one past the newest committed message.
func (l *Log) NextSequenceNumber() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq + 1
}

// Wait is Read as a long poll: it returns as soon as at least one message
// matches, or when ctx ends (then an empty slice, no error). Once the log is
// closed it returns ErrClosed instead of waiting.
func (l *Log) Wait(ctx context.Context, f Filter, max int) ([]Message, int64, error) {
	for {
		l.mu.Lock()
		msgs, next := l.readLocked(f, max)
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		if len(msgs) > 0 {
			return msgs, next, nil
		}
		if closed {
			return msgs, next, ErrClosed
		}
		// Everything before next has been looked at; only newer messages can match.
		f.FromSequence = next
		if l.parked != nil {
			l.parked()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return msgs, next, nil
		}
	}
}

// Subscribe returns a live feed of the messages appended from now on that
// match f, in sequence order. A subscriber that falls more than a few
// hundred messages behind is dropped: its channel is closed, and Append
// never waits for it. cancel ends the subscription and closes the channel;
// calling it more than once is harmless. Close ends every subscription.
func (l *Log) Subscribe(f Filter) (msgs <-chan Message, cancel func()) {
	s := &subscriber{f: f, ch: make(chan Message, subscriberBuffer)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	l.subs[s] = struct{}{}
	return s.ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.dropLocked(s)
	}
}

func (l *Log) dropLocked(s *subscriber) {
	if _, ok := l.subs[s]; ok {
		delete(l.subs, s)
		close(s.ch)
	}
}
