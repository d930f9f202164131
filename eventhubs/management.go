package eventhubs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Management request values, as the clients send them in the request's
// application properties (operation, type, name, partition).
const (
	OperationRead = "READ"
	TypeEventHub  = "com.microsoft:eventhub"
	TypePartition = "com.microsoft:partition"
)

// ManagementRequest is a $management request's application properties.
// The clients also send security_token (the CBS token again), which the
// head checks as it checks CBS; it does not change the answer.
type ManagementRequest struct {
	Operation string
	Type      string
	Name      string
	Partition string
}

// Read answers a READ request with the map that goes in the response body
// (an AMQP value section holding a map with string keys). Errors wrap
// ErrNotFound or ErrBadRequest; StatusCode gives the response status-code.
//
// The keys and types are the ones the clients read:
//
//	com.microsoft:eventhub   name string, created_at timestamp, partition_count int,
//	                         partition_ids array of string, georeplication_factor int, type string
//	com.microsoft:partition  name string, partition string, begin_sequence_number long,
//	                         last_enqueued_sequence_number long, last_enqueued_offset string,
//	                         last_enqueued_time_utc timestamp, is_partition_empty bool, type string
//
// azeventhubs v2 fails the call unless partition_ids is []string,
// created_at and last_enqueued_time_utc are time.Time, georeplication_factor
// is an integer, the sequence numbers are integers, last_enqueued_offset is
// a string and is_partition_empty a bool (mgmt.go newEventHubProperties,
// newPartitionProperties). azure-eventhub divides created_at and
// last_enqueued_time_utc by 1000 (it decodes timestamps to milliseconds).
// The az CLI's monitor-events needs partition_count. @azure/event-hubs
// reads the same names (managementClient.ts).
func (e *Endpoint) Read(req ManagementRequest) (map[string]any, error) {
	if !strings.EqualFold(req.Operation, OperationRead) {
		return nil, fmt.Errorf("%w: operation %q is not supported (only READ)", ErrBadRequest, req.Operation)
	}
	name, err := e.entity(req.Name)
	if err != nil {
		return nil, err
	}
	switch req.Type {
	case TypeEventHub:
		return map[string]any{
			"name":            name,
			"type":            TypeEventHub,
			"created_at":      e.cfg.CreatedAt,
			"partition_count": int32(e.cfg.Log.Partitions()),
			"partition_ids":   e.PartitionIDs(),
			// One copy: no geo-replication. azeventhubs requires the key,
			// and @azure/event-hubs reads more than 1 as geo-replicated.
			"georeplication_factor": int32(1),
		}, nil
	case TypePartition:
		p, err := e.partition(req.Partition)
		if err != nil {
			return nil, err
		}
		info, err := e.cfg.Log.PartitionInfo(p)
		if err != nil {
			return nil, fmt.Errorf("eventhubs: partition %d: %w", p, err)
		}
		last := info.LastEnqueuedTime
		if info.Empty {
			// An empty partition has no last time. 1970 rather than the zero
			// time (year 1): Python's datetime.fromtimestamp refuses
			// timestamps before 1970 on some platforms.
			last = time.UnixMilli(0).UTC()
		}
		return map[string]any{
			"name":                          name,
			"type":                          TypePartition,
			"partition":                     strconv.Itoa(p),
			"begin_sequence_number":         info.BeginSequenceNumber,
			"last_enqueued_sequence_number": info.LastSequenceNumber,
			"last_enqueued_offset":          strconv.FormatInt(info.LastOffset, 10),
			"last_enqueued_time_utc":        last,
			"is_partition_empty":            info.Empty,
		}, nil
	}
	return nil, fmt.Errorf("%w: type %q is not %s or %s", ErrBadRequest, req.Type, TypeEventHub, TypePartition)
}
