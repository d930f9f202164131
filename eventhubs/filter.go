package eventhubs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// SelectorFilter is the filter (descriptor 0x468C:0x00000004) whose value
// is the start expression ParseFilter reads.
const SelectorFilter = "apache.org:selector-filter:string"

// Start offsets with a meaning of their own.
const (
	OffsetStart  = "-1"      // before the first event: the earliest
	OffsetLatest = "@latest" // after the last event
)

// maxFilter bounds the expression length, so errors can quote it whole.
const maxFilter = 512

// ParseFilter reads a start expression as the clients write it:
//
//	amqp.annotation.x-opt-offset > '@latest'         azeventhubs' default, azure-eventhub's
//	amqp.annotation.x-opt-offset > '-1'              earliest (all three SDKs)
//	amqp.annotation.x-opt-offset >= '1234'           from an offset, inclusive
//	amqp.annotation.x-opt-sequence-number > '17'     quoted by all three SDKs
//	amqp.annotation.x-opt-enqueued-time > '1700000000000'   milliseconds since the epoch
//	amqp.annotation.x-opt-enqueuedtimeutc > 1700000000000   the az CLI's, unquoted
//
// Names compare case-insensitively, values may be quoted with ' or not,
// and spaces around the parts are free. The operator is > or >=
// (inclusive). Anything else is refused with an error wrapping
// ErrBadFilter.
func ParseFilter(expr string) (d2c.EventPosition, error) {
	bad := func(why string) (d2c.EventPosition, error) {
		q := expr
		if len(q) > maxFilter {
			q = q[:maxFilter] + "..."
		}
		return d2c.EventPosition{}, fmt.Errorf("%w: %s in %q", ErrBadFilter, why, q)
	}
	if len(expr) > maxFilter {
		return bad("too long")
	}
	s := strings.TrimSpace(expr)
	const prefix = "amqp.annotation."
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return bad("not an amqp.annotation expression")
	}
	s = s[len(prefix):]
	i := strings.IndexAny(s, "<>=! \t\r\n")
	if i < 0 {
		return bad("no operator")
	}
	name := strings.ToLower(s[:i])
	s = strings.TrimSpace(s[i:])
	var inclusive bool
	switch {
	case strings.HasPrefix(s, ">="):
		inclusive, s = true, s[2:]
	case strings.HasPrefix(s, ">"):
		s = s[1:]
	default:
		return bad("the operator is not > or >=")
	}
	value := strings.TrimSpace(s)
	if len(value) >= 2 && value[0] == '\'' && value[len(value)-1] == '\'' {
		value = value[1 : len(value)-1]
	}
	if value == "" || strings.ContainsAny(value, "' \t\r\n") {
		return bad("the value is not one quoted or bare word")
	}

	switch name {
	case "x-opt-offset":
		switch value {
		case OffsetLatest:
			return d2c.Latest(), nil
		case OffsetStart:
			return d2c.Earliest(), nil
		}
		o, err := strconv.ParseInt(value, 10, 64)
		if err != nil || o < 0 {
			return bad("the offset is not -1, @latest or a number")
		}
		return d2c.AtOffset(o, inclusive), nil
	case "x-opt-sequence-number":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return bad("the sequence number is not a number")
		}
		return d2c.AtSequenceNumber(n, inclusive), nil
	case "x-opt-enqueued-time", "x-opt-enqueuedtimeutc":
		ms, err := strconv.ParseInt(value, 10, 64)
		// Bounded to years 1..9999, the range times have in Go and JSON.
		if err != nil || ms < minMillis || ms > maxMillis {
			return bad("the enqueued time is not milliseconds since 1970")
		}
		return d2c.AtEnqueuedTime(time.UnixMilli(ms), inclusive), nil
	}
	return bad(fmt.Sprintf("unknown annotation %q", name))
}

// The enqueued times a filter may name, in milliseconds since 1970:
// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z.
const (
	minMillis = -62135596800000
	maxMillis = 253402300799999
)

// FilterExpression writes pos as azeventhubs writes its start expression;
// ParseFilter reads it back to pos.
func FilterExpression(pos d2c.EventPosition) string {
	op := ">"
	if pos.Inclusive {
		op = ">="
	}
	switch pos.Kind {
	case d2c.PositionEarliest:
		return "amqp.annotation.x-opt-offset > '-1'"
	case d2c.PositionOffset:
		return fmt.Sprintf("amqp.annotation.x-opt-offset %s '%d'", op, pos.Offset)
	case d2c.PositionSequenceNumber:
		return fmt.Sprintf("amqp.annotation.x-opt-sequence-number %s '%d'", op, pos.SequenceNumber)
	case d2c.PositionEnqueuedTime:
		return fmt.Sprintf("amqp.annotation.x-opt-enqueued-time %s '%d'", op, pos.EnqueuedTime.UnixMilli())
	}
	return "amqp.annotation.x-opt-offset > '@latest'"
}
