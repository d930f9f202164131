package d2c

import (
	"context"
	"fmt"
	"math"
	"time"
)

// PositionKind says what an EventPosition is measured by.
type PositionKind int

const (
	// PositionLatest starts after the newest message: only messages
	// appended from now on. It is the zero kind, as it is Event Hubs'
	// default.
	PositionLatest PositionKind = iota
	// PositionEarliest starts at the oldest message the log holds.
	PositionEarliest
	// PositionOffset starts at a partition offset.
	PositionOffset
	// PositionSequenceNumber starts at a partition sequence number.
	PositionSequenceNumber
	// PositionEnqueuedTime starts at an enqueued time.
	PositionEnqueuedTime
)

// EventPosition is where a partition cursor starts, as an Event Hubs
// receiver asks for it. Inclusive matters for offsets, sequence numbers and
// times: the message at exactly that point is returned too.
type EventPosition struct {
	Kind           PositionKind
	Offset         int64
	SequenceNumber int64
	EnqueuedTime   time.Time
	Inclusive      bool
}

// Earliest is the position of the oldest message held.
func Earliest() EventPosition { return EventPosition{Kind: PositionEarliest} }

// Latest is the position after the newest message.
func Latest() EventPosition { return EventPosition{Kind: PositionLatest} }

// AtOffset is the position of the first message after (or, inclusive, at)
// offset.
func AtOffset(offset int64, inclusive bool) EventPosition {
	return EventPosition{Kind: PositionOffset, Offset: offset, Inclusive: inclusive}
}

// AtSequenceNumber is the position of the first message after (or,
// inclusive, at) partition sequence number seq.
func AtSequenceNumber(seq int64, inclusive bool) EventPosition {
	return EventPosition{Kind: PositionSequenceNumber, SequenceNumber: seq, Inclusive: inclusive}
}

// AtEnqueuedTime is the position of the first message enqueued after (or,
// inclusive, at) t.
func AtEnqueuedTime(t time.Time, inclusive bool) EventPosition {
	return EventPosition{Kind: PositionEnqueuedTime, EnqueuedTime: t.UTC(), Inclusive: inclusive}
}

// String renders the position for logs and errors.
func (p EventPosition) String() string {
	op := ">"
	if p.Inclusive {
		op = ">="
	}
	switch p.Kind {
	case PositionLatest:
		return "latest"
	case PositionEarliest:
		return "earliest"
	case PositionOffset:
		return fmt.Sprintf("offset %s %d", op, p.Offset)
	case PositionSequenceNumber:
		return fmt.Sprintf("sequence number %s %d", op, p.SequenceNumber)
	case PositionEnqueuedTime:
		return fmt.Sprintf("enqueued time %s %s", op, p.EnqueuedTime.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("position kind %d", int(p.Kind))
}

// Cursor reads one partition in order, as an Event Hubs receiver link does.
// It holds no goroutine and nothing in the log: an idle cursor costs its
// own few words, and one that is dropped needs no closing. Use a cursor
// from one goroutine at a time; any number of cursors may read the log at
// once.
type Cursor struct {
	l    *Log
	part *partition
	id   int
	// next is the partition sequence number to return next. If retention
	// has dropped it, reading goes on from the oldest message held, as
	// Event Hubs does.
	next int64
	// from, until a message has been returned, further requires messages
	// to be past an offset or a time: a position the log cannot yet
	// translate into a sequence number because the message is not there.
	from func(*Message) bool
}

// OpenCursor opens a cursor on partition p at pos.
func (l *Log) OpenCursor(p int, pos EventPosition) (*Cursor, error) {
	if p < 0 || p >= len(l.parts) {
		return nil, l.errPartition(p)
	}
	c := &Cursor{l: l, part: l.parts[p], id: p}
	switch pos.Kind {
	case PositionLatest:
		l.mu.RLock()
		c.next = c.part.committedNext
		l.mu.RUnlock()
	case PositionEarliest:
		c.next = 0
	case PositionSequenceNumber:
		c.next = pos.SequenceNumber
		if !pos.Inclusive && c.next < math.MaxInt64 {
			c.next++
		}
	case PositionOffset:
		o := pos.Offset
		if pos.Inclusive {
			c.from = func(m *Message) bool { return m.Offset >= o }
		} else {
			c.from = func(m *Message) bool { return m.Offset > o }
		}
	case PositionEnqueuedTime:
		t := pos.EnqueuedTime
		if pos.Inclusive {
			c.from = func(m *Message) bool { return !m.EnqueuedTime.Before(t) }
		} else {
			c.from = func(m *Message) bool { return m.EnqueuedTime.After(t) }
		}
	default:
		return nil, fmt.Errorf("d2c: unknown event position kind %d", int(pos.Kind))
	}
	return c, nil
}

// Partition is the cursor's partition.
func (c *Cursor) Partition() int { return c.id }

// Next returns up to limit messages (limit <= 0 means DefaultMaxCount) from the
// cursor's position, in order, and moves past them. If none is there yet it
// waits for one, without polling, until ctx ends (then ctx's error) or the
// log closes (ErrClosed). Messages older than MaxAge are skipped, as Read
// skips them.
func (c *Cursor) Next(ctx context.Context, limit int) ([]Message, error) {
	if limit <= 0 {
		limit = DefaultMaxCount
	}
	l, pt := c.l, c.part
	for {
		l.mu.RLock()
		r := pt.msgs
		start := r.search(func(m *Message) bool { return m.PartitionSequenceNumber >= c.next })
		start = max(start, l.firstLiveLocked(r))
		if c.from != nil {
			start = max(start, r.search(c.from))
		}
		n := min(r.len()-start, limit)
		var out []Message
		if n > 0 {
			out = make([]Message, n)
			for i := range n {
				out[i] = *r.at(start + i) // shallow: committed messages never change
			}
		}
		closed, changed := l.closed, pt.changed
		l.mu.RUnlock()

		if n > 0 {
			// Deep copies outside the lock, so readers keep the writer waiting
			// only for the pointer copies above.
			for i := range out {
				out[i] = out[i].clone()
			}
			c.next = out[n-1].PartitionSequenceNumber + 1
			c.from = nil // every later message is past the offset or time too
			return out, nil
		}
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
