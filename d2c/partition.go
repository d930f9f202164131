package d2c

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// Partitions, as IoT Hub's Event Hubs-compatible endpoint has them.
//
// Every message lands on one partition, chosen by a hash of its device id
// alone: a device's messages and its modules' share a partition, so a
// consumer of that partition sees everything one device sent in the order
// the hub took it (IoT Hub routes by device id the same way). The hash is
// FNV-1a of the id's bytes, modulo the partition count, so the mapping
// survives restarts and does not depend on Go's map seeds.
//
// Within a partition, messages get PartitionSequenceNumber 0, 1, 2 ... and
// an Offset that grows with their size, never reused, also across restarts.
// The hub-wide SequenceNumber of the read-back endpoints is kept alongside.
const (
	DefaultPartitions = 4  // IoT Hub's default partition count
	MaxPartitions     = 32 // the most IoT Hub allows
)

// DefaultConsumerGroup is the consumer group every Event Hubs endpoint has.
const DefaultConsumerGroup = "$Default"

// maxConsumerGroupName is IoT Hub's limit on a consumer group's name.
const maxConsumerGroupName = 50

// PartitionOf is the partition a device's messages land on, for a log of n
// partitions (1 <= n <= MaxPartitions).
func PartitionOf(deviceID string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(deviceID)) // never fails
	return int(h.Sum32() % uint32(n))
}

// checkPartitions validates a partition count; 0 means the default.
func checkPartitions(n int) (int, error) {
	if n == 0 {
		return DefaultPartitions, nil
	}
	if n < 1 || n > MaxPartitions {
		return 0, fmt.Errorf("d2c: partition count %d is not between 1 and %d", n, MaxPartitions)
	}
	return n, nil
}

// CheckConsumerGroupName validates a consumer group a user asks for, as IoT
// Hub does: 1 to 50 letters, digits, '.', '_' or '-'. $Default always
// exists and cannot be asked for again.
func CheckConsumerGroupName(name string) error {
	if strings.EqualFold(name, DefaultConsumerGroup) {
		return fmt.Errorf("consumer group %q is reserved: every hub has it", DefaultConsumerGroup)
	}
	if name == "" || len(name) > maxConsumerGroupName {
		return fmt.Errorf("consumer group %q must be 1 to %d characters", name, maxConsumerGroupName)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("consumer group %q may hold only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// ConsumerGroupNames returns $Default followed by extra, checking each name
// and refusing duplicates (names compare case-insensitively, as Event Hubs
// compares them).
func ConsumerGroupNames(extra []string) ([]string, error) {
	out := []string{DefaultConsumerGroup}
	var errs []error
	for _, name := range extra {
		if err := CheckConsumerGroupName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || strings.EqualFold(o, name)
		}
		if dup {
			errs = append(errs, fmt.Errorf("consumer group %q is given twice", name))
			continue
		}
		out = append(out, name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// partition is one partition's view of the log. Its ring holds the same
// messages as the log's ring (shallow copies sharing bodies and maps, which
// are never changed once committed), in the same order.
type partition struct {
	// Owned by the writer (and Open before it starts): the numbers the
	// next message gets. A failed commit consumes them, like SequenceNumber.
	nextSeq    int64
	nextOffset int64

	// Under Log.mu.
	msgs          *ring
	committedNext int64         // one past the newest committed number: where Latest starts
	changed       chan struct{} // closed and replaced when a message is added
}

// offsetStep is how far a message moves its partition's offset: its
// metered size, at least one byte so that offsets strictly increase.
func offsetStep(m *Message) int64 { return int64(max(m.Size(), 1)) }

// PartitionInfo is what Event Hubs reports of a partition.
type PartitionInfo struct {
	Partition int
	// BeginSequenceNumber is the oldest message's number; for an empty
	// partition, the number the next message will get.
	BeginSequenceNumber int64
	// LastSequenceNumber, LastOffset and LastEnqueuedTime describe the
	// newest message; for an empty partition they are -1, -1 and zero, as
	// Event Hubs reports them.
	LastSequenceNumber int64
	LastOffset         int64
	LastEnqueuedTime   time.Time
	Empty              bool
}

// Partitions is the log's partition count.
func (l *Log) Partitions() int { return len(l.parts) }

// ConsumerGroups are the consumer group names, $Default first.
func (l *Log) ConsumerGroups() []string { return append([]string(nil), l.groups...) }

// ConsumerGroup returns the consumer group's name as configured, looked up
// case-insensitively.
func (l *Log) ConsumerGroup(name string) (string, bool) {
	for _, g := range l.groups {
		if strings.EqualFold(g, name) {
			return g, true
		}
	}
	return "", false
}

// errPartition reports a partition number out of range.
func (l *Log) errPartition(p int) error {
	return fmt.Errorf("d2c: partition %d does not exist (the log has %d: 0 to %d)", p, len(l.parts), len(l.parts)-1)
}

// PartitionInfo reports partition p. Messages older than MaxAge that the
// sweeper has not deleted yet count as gone, as they do for Read.
func (l *Log) PartitionInfo(p int) (PartitionInfo, error) {
	if p < 0 || p >= len(l.parts) {
		return PartitionInfo{}, l.errPartition(p)
	}
	pt := l.parts[p]
	l.mu.RLock()
	defer l.mu.RUnlock()
	first := l.firstLiveLocked(pt.msgs)
	n := pt.msgs.len()
	if first == n {
		return PartitionInfo{Partition: p, BeginSequenceNumber: pt.committedNext, LastSequenceNumber: -1, LastOffset: -1, Empty: true}, nil
	}
	last := pt.msgs.at(n - 1)
	return PartitionInfo{
		Partition:           p,
		BeginSequenceNumber: pt.msgs.at(first).PartitionSequenceNumber,
		LastSequenceNumber:  last.PartitionSequenceNumber,
		LastOffset:          last.Offset,
		LastEnqueuedTime:    last.EnqueuedTime,
	}, nil
}

// firstLiveLocked is the index of r's oldest message not older than MaxAge.
func (l *Log) firstLiveLocked(r *ring) int {
	cutoff := l.now().Add(-l.maxAge)
	return r.search(func(m *Message) bool { return !m.EnqueuedTime.Before(cutoff) })
}
