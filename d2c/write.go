package d2c

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Append assigns m its SequenceNumber and EnqueuedTime, stamps the hub's
// system properties, persists it, then makes it visible. It returns once the
// message is durable and visible to Read. The caller's maps and body are
// copied, never kept.
func (l *Log) Append(ctx context.Context, m Message) (Message, error) {
	req, err := l.append(ctx, m.clone(), true)
	if err != nil {
		return Message{}, err
	}
	return req.msg, nil
}

// Send is Append for a caller that hands m's maps over and wants nothing
// back: the log keeps the maps as its own, so the caller must not use them
// again. The body is still copied (protocol heads pass slices of their
// read buffers). It spares each telemetry message two copies of its
// property maps.
func (l *Log) Send(ctx context.Context, m Message) error {
	m.Body = bytes.Clone(m.Body)
	_, err := l.append(ctx, m, false)
	return err
}

// append stores m, which the log now owns; with reply the request carries
// a copy of the stored message back.
func (l *Log) append(ctx context.Context, m Message, reply bool) (*writeReq, error) {
	if m.DeviceID == "" {
		return nil, errcode.New(errcode.ArgumentNull, "A device-to-cloud message needs the id of the device that sent it.")
	}
	if n := m.Size(); n > MaxMessageSize {
		return nil, errcode.New(errcode.MessageTooLarge, "The message is %d bytes; the limit is %d.", n, MaxMessageSize)
	}
	if m.Body == nil {
		m.Body = []byte{}
	}
	if m.SystemProperties == nil {
		m.SystemProperties = map[string]string{}
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	req := &writeReq{kind: appendMsg, msg: m, reply: reply}
	// Once taken the message commits or fails as a whole; the writer
	// returns after the outcome (not ctx), keeping "returned" meaning
	// "durable".
	if err := l.do(ctx, req); err != nil {
		return nil, err
	}
	if req.err != nil {
		return nil, req.err
	}
	return req, nil
}

// do hands req to the writer and waits for it to be done.
func (l *Log) do(ctx context.Context, req *writeReq) error {
	err := l.writer.Do(ctx, req)
	if errors.Is(err, store.ErrClosed) {
		return ErrClosed
	}
	return err
}

// write is the writer: it runs one batch of requests at a time, in the
// order they were taken, committing each run of appends together.
func (l *Log) write(batch []*writeReq) {
	for len(batch) > 0 {
		n := 1
		switch batch[0].kind {
		case appendMsg:
			for n < len(batch) && batch[n].kind == appendMsg {
				n++
			}
			l.commit(batch[:n])
		case clearAll:
			batch[0].err = l.dropOldest(l.msgs.len())
		case sweepOld:
			l.expire()
		}
		batch = batch[n:]
	}
}

// sweep asks the writer, on a ticker, to delete the messages older than
// MaxAge, until Close.
func (l *Log) sweep() {
	defer close(l.sweepDone)
	t := time.NewTicker(sweepInterval(l.maxAge))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := l.do(context.Background(), &writeReq{kind: sweepOld}); err != nil {
				return // closed
			}
		case <-l.stop:
			return
		}
	}
}

// sweepInterval checks ages often enough that nothing outlives MaxAge by
// more than a tenth, and not more often than needed.
func sweepInterval(maxAge time.Duration) time.Duration {
	return min(max(maxAge/10, 10*time.Millisecond), time.Minute)
}

// clock returns the enqueued time for a new batch: UTC, in milliseconds like
// IoT Hub's, and never before the previous one, so the log is ordered by
// time as well as by sequence number even if the wall clock steps back.
func (l *Log) clock() time.Time {
	t := l.now().UTC().Truncate(time.Millisecond)
	if t.Before(l.lastTime) {
		t = l.lastTime
	}
	l.lastTime = t
	return t
}

// expiredCount is how many of the oldest messages are older than MaxAge at now.
func (l *Log) expiredCount(now time.Time) int {
	cutoff := now.Add(-l.maxAge)
	return l.msgs.search(func(m *Message) bool { return !m.EnqueuedTime.Before(cutoff) })
}

// commit gives the batch its sequence numbers and time, writes it together
// with the deletions retention asks for in one transaction, and only then
// makes it visible.
func (l *Log) commit(batch []*writeReq) {
	now := l.clock()
	enqueued := now.Format(enqueuedTimeLayout)
	msgs := make([]Message, len(batch))
	for i, r := range batch {
		m := r.msg
		m.SequenceNumber = l.nextSeq
		l.nextSeq++ // consumed even if the commit fails: a number is never given twice
		m.EnqueuedTime = now
		m.Partition = PartitionOf(m.DeviceID, len(l.parts))
		p := l.parts[m.Partition]
		m.PartitionSequenceNumber = p.nextSeq
		p.nextSeq++ // consumed even if the commit fails, likewise
		m.SystemProperties[PropConnectionDeviceID] = m.DeviceID
		if m.ModuleID != "" {
			m.SystemProperties[PropConnectionModuleID] = m.ModuleID
		} else {
			delete(m.SystemProperties, PropConnectionModuleID)
		}
		m.SystemProperties[PropEnqueuedTime] = enqueued
		if m.SystemProperties[PropMessageSource] == "" {
			m.SystemProperties[PropMessageSource] = "Telemetry"
		}
		m.Offset = p.nextOffset
		p.nextOffset += offsetStep(&m)
		msgs[i] = m
	}

	// Retention: what is too old goes, then the oldest beyond MaxMessages;
	// if the batch alone exceeds MaxMessages its own oldest are never stored.
	held := l.msgs.len()
	dropOld := l.expiredCount(now)
	overflow := max(0, held-dropOld+len(msgs)-l.max)
	fromOld := min(overflow, held-dropOld)
	dropOld += fromOld
	skipNew := overflow - fromOld
	kept := msgs[skipNew:]

	err := l.persist(dropOld, kept, msgs[len(msgs)-1].SequenceNumber)
	if err != nil {
		l.log.Error("device-to-cloud messages not stored", "count", len(msgs), "err", err)
		for _, r := range batch {
			r.err = err
		}
		return
	}

	l.mu.Lock()
	l.popLocked(dropOld)
	var touched uint64 // bit p: partition p got a message (MaxPartitions <= 64)
	for _, m := range kept {
		l.msgs.push(m)
		l.parts[m.Partition].msgs.push(m)
		touched |= 1 << m.Partition
	}
	l.lastSeq = msgs[len(msgs)-1].SequenceNumber
	for _, m := range msgs {
		l.parts[m.Partition].committedNext = m.PartitionSequenceNumber + 1
		l.publishLocked(m)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	// Wake only the cursors of partitions that have something new.
	for i, p := range l.parts {
		if touched&(1<<i) != 0 {
			close(p.changed)
			p.changed = make(chan struct{})
		}
	}
	l.mu.Unlock()

	for i, r := range batch {
		if r.reply {
			r.msg = msgs[i].clone()
		}
	}
	l.log.Debug("device-to-cloud messages stored", "count", len(msgs), "last", msgs[len(msgs)-1].SequenceNumber, "dropped", dropOld+skipNew)
}

// persist writes kept, deletes the dropOld oldest messages held and records
// lastSeq, in one transaction.
func (l *Log) persist(dropOld int, kept []Message, lastSeq int64) error {
	ops := make([]store.Op, 0, dropOld+len(kept)+1)
	for i := range dropOld {
		ops = append(ops, store.Op{Bucket: store.Telemetry, Key: seqKey(l.msgs.at(i).SequenceNumber)})
	}
	for _, m := range kept {
		v, err := encodeRecord(m)
		if err != nil {
			return fmt.Errorf("d2c: encode message %d: %w", m.SequenceNumber, err)
		}
		ops = append(ops, store.Op{Bucket: store.Telemetry, Key: seqKey(m.SequenceNumber), Value: v})
	}
	ops = append(ops, metaOp(lastSeq), l.partitionsOp())
	if err := l.store.Apply(context.Background(), ops...); err != nil {
		return fmt.Errorf("d2c: store messages: %w", err)
	}
	return nil
}

// publishLocked hands m to every subscriber it matches, dropping those whose
// buffer is full rather than waiting for them.
func (l *Log) publishLocked(m Message) {
	for s := range l.subs {
		if !s.f.Matches(m) {
			continue
		}
		select {
		case s.ch <- m.clone():
		default:
			l.log.Warn("device-to-cloud subscriber dropped: it fell behind", "sequenceNumber", m.SequenceNumber)
			l.dropLocked(s)
		}
	}
}

// expire deletes the messages older than MaxAge.
func (l *Log) expire() {
	if n := l.expiredCount(l.now()); n > 0 {
		if err := l.dropOldest(n); err != nil {
			l.log.Error("expired device-to-cloud messages not deleted", "count", n, "err", err)
			return
		}
		l.log.Debug("expired device-to-cloud messages deleted", "count", n)
	}
}

// dropOldest deletes the n oldest messages, from the store first. Only the
// writer calls it.
func (l *Log) dropOldest(n int) error {
	if n == 0 {
		return nil
	}
	ops := make([]store.Op, n)
	for i := range n {
		ops[i] = store.Op{Bucket: store.Telemetry, Key: seqKey(l.msgs.at(i).SequenceNumber)}
	}
	if err := l.store.Apply(context.Background(), ops...); err != nil {
		return fmt.Errorf("d2c: delete messages: %w", err)
	}
	l.mu.Lock()
	l.popLocked(n)
	l.mu.Unlock()
	return nil
}

// popLocked drops the n oldest messages from the log and their partitions.
// A partition's oldest message is always the oldest of the log's that is
// on it, so each pop takes the front of one partition too.
func (l *Log) popLocked(n int) {
	for range n {
		m := l.msgs.popFront()
		l.parts[m.Partition].msgs.popFront()
	}
}

// Clear deletes every message (sequence numbers still never repeat), for a
// hub reset.
func (l *Log) Clear(ctx context.Context) error {
	req := &writeReq{kind: clearAll}
	if err := l.do(ctx, req); err != nil {
		return err
	}
	return req.err
}
