package d2c

import (
	"net/url"
	"strconv"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Bounds on the read-back query parameters.
const (
	MaxCount       = 1000 // largest maxCount
	MaxWaitSeconds = 60   // longest waitSeconds
)

// Query is what a read-back request asks for: a page of the messages
// matching Filter, a long poll, or a stream.
type Query struct {
	Filter   Filter
	MaxCount int           // 1..MaxCount; DefaultMaxCount when not given
	Wait     time.Duration // long-poll wait, 0..MaxWaitSeconds
	FromSeq  bool          // fromSequenceNumber was given
	FromTime bool          // fromEnqueuedTime was given
}

// ParseQuery reads the read-back query parameters from a raw query string:
// deviceId, moduleId, fromSequenceNumber, fromEnqueuedTime (RFC 3339),
// maxCount (1..1000, default 100) and waitSeconds (0..60). Parameters it
// does not know (such as api-version) are ignored; a known one given twice,
// or with a bad value, is refused with ArgumentInvalid.
func ParseQuery(rawQuery string) (Query, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Query{}, errcode.New(errcode.ArgumentInvalid, "The query string is not validly encoded.")
	}
	p := Query{MaxCount: DefaultMaxCount}
	get := func(name string) (string, bool, error) {
		vals, ok := v[name]
		if !ok {
			return "", false, nil
		}
		if len(vals) > 1 {
			return "", false, errcode.New(errcode.ArgumentInvalid, "The query parameter %s is given %d times.", name, len(vals))
		}
		return vals[0], true, nil
	}
	intParam := func(name string, lo, hi int64) (int64, bool, error) {
		s, ok, err := get(name)
		if err != nil || !ok {
			return 0, false, err
		}
		n, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil || n < lo || n > hi {
			return 0, false, errcode.New(errcode.ArgumentInvalid, "The query parameter %s must be an integer from %d to %d, not %q.", name, lo, hi, s)
		}
		return n, true, nil
	}

	if p.Filter.DeviceID, _, err = get("deviceId"); err != nil {
		return Query{}, err
	}
	if p.Filter.ModuleID, _, err = get("moduleId"); err != nil {
		return Query{}, err
	}
	if p.Filter.FromSequence, p.FromSeq, err = intParam("fromSequenceNumber", 0, 1<<63-1); err != nil {
		return Query{}, err
	}
	s, ok, err := get("fromEnqueuedTime")
	if err != nil {
		return Query{}, err
	}
	if ok {
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			return Query{}, errcode.New(errcode.ArgumentInvalid, "The query parameter fromEnqueuedTime must be an RFC 3339 time such as 2024-05-01T12:00:00Z, not %q.", s)
		}
		p.Filter.FromTime, p.FromTime = t.UTC(), true
	}
	n, ok, err := intParam("maxCount", 1, MaxCount)
	if err != nil {
		return Query{}, err
	}
	if ok {
		p.MaxCount = int(n)
	}
	n, _, err = intParam("waitSeconds", 0, MaxWaitSeconds)
	if err != nil {
		return Query{}, err
	}
	p.Wait = time.Duration(n) * time.Second
	return p, nil
}
