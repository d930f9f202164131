package eventhubs

import (
	"fmt"
	"sync"
)

// MaxReceivers is how many receivers Event Hubs allows on one partition of
// one consumer group.
const MaxReceivers = 5

// ReceiverKey is where a receiver reads: one partition of one consumer group.
type ReceiverKey struct {
	Entity        string
	ConsumerGroup string
	Partition     int
}

// Receivers keeps the receivers attached to each partition and applies
// Event Hubs' epoch (owner level) rules; L is the head's link handle. It
// is safe for concurrent use.
//
// The rules, as Event Hubs documents them:
//   - a receiver with an epoch takes the partition from every receiver on
//     it whose epoch is lower or equal, and from every receiver without
//     one: those are to be detached with CondLinkStolen;
//   - a receiver whose epoch is lower than an existing receiver's is
//     refused;
//   - a receiver without an epoch is refused while one with an epoch is
//     there;
//   - at most MaxReceivers receivers share a partition.
type Receivers[L comparable] struct {
	mu    sync.Mutex
	links map[ReceiverKey][]receiver[L]
}

type receiver[L comparable] struct {
	link     L
	epoch    int64
	hasEpoch bool
}

// NewReceivers returns an empty registry.
func NewReceivers[L comparable]() *Receivers[L] {
	return &Receivers[L]{links: make(map[ReceiverKey][]receiver[L])}
}

// Register attaches link at key, with an epoch if epoch is not nil. It
// returns the links that lost the partition to it, which the caller
// detaches with CondLinkStolen, or an error wrapping ErrOwnership or
// ErrQuotaExceeded when link may not attach (then nothing changed).
func (r *Receivers[L]) Register(key ReceiverKey, link L, epoch *int64) (evicted []L, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.links[key]
	for _, c := range cur {
		if c.link == link {
			return nil, fmt.Errorf("eventhubs: the link is already attached to partition %d of %s", key.Partition, key.ConsumerGroup)
		}
	}
	if epoch == nil {
		for _, c := range cur {
			if c.hasEpoch {
				return nil, fmt.Errorf("%w: a receiver with epoch %d holds partition %d of consumer group %s; a receiver without an epoch cannot attach", ErrOwnership, c.epoch, key.Partition, key.ConsumerGroup)
			}
		}
		if len(cur) >= MaxReceivers {
			return nil, fmt.Errorf("%w: partition %d of consumer group %s already has the most receivers allowed, %d", ErrQuotaExceeded, key.Partition, key.ConsumerGroup, MaxReceivers)
		}
		r.links[key] = append(cur, receiver[L]{link: link})
		return nil, nil
	}
	for _, c := range cur {
		if c.hasEpoch && c.epoch > *epoch {
			return nil, fmt.Errorf("%w: a receiver with epoch %d holds partition %d of consumer group %s; epoch %d is lower", ErrOwnership, c.epoch, key.Partition, key.ConsumerGroup, *epoch)
		}
	}
	for _, c := range cur {
		evicted = append(evicted, c.link)
	}
	r.links[key] = []receiver[L]{{link: link, epoch: *epoch, hasEpoch: true}}
	return evicted, nil
}

// Unregister detaches link from key; a link not there is ignored, so the
// caller may unregister an evicted link again when its detach completes.
func (r *Receivers[L]) Unregister(key ReceiverKey, link L) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.links[key]
	for i, c := range cur {
		if c.link == link {
			cur = append(cur[:i:i], cur[i+1:]...)
			break
		}
	}
	if len(cur) == 0 {
		delete(r.links, key) // no entry outlives its last receiver
		return
	}
	r.links[key] = cur
}

// Count is how many receivers are attached at key.
func (r *Receivers[L]) Count(key ReceiverKey) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.links[key])
}
