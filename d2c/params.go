package d2c

import (
	"net/url"
	"strconv"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Bounds on the HTTP query parameters.
const (
	MaxCount       = 1000 // largest maxCount
	MaxWaitSeconds = 60   // longest waitSeconds
)

// params are the query parameters both telemetry endpoints take.
type params struct {
	filter   Filter
	maxCount int
	wait     time.Duration
	fromSeq  bool // fromSequenceNumber was given
	fromTime bool // fromEnqueuedTime was given
}

// parseParams reads the telemetry query parameters from a raw query string.
// Parameters it does not know (such as api-version) are ignored; a known one
// given twice, or with a bad value, is refused.
func parseParams(rawQuery string) (params, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return params{}, errcode.New(errcode.ArgumentInvalid, "The query string is not validly encoded.")
	}
	p := params{maxCount: DefaultMaxCount}
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

	if p.filter.DeviceID, _, err = get("deviceId"); err != nil {
		return params{}, err
	}
	if p.filter.ModuleID, _, err = get("moduleId"); err != nil {
		return params{}, err
	}
	if p.filter.FromSequence, p.fromSeq, err = intParam("fromSequenceNumber", 0, 1<<63-1); err != nil {
		return params{}, err
	}
	s, ok, err := get("fromEnqueuedTime")
	if err != nil {
		return params{}, err
	}
	if ok {
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			return params{}, errcode.New(errcode.ArgumentInvalid, "The query parameter fromEnqueuedTime must be an RFC 3339 time such as 2024-05-01T12:00:00Z, not %q.", s)
		}
		p.filter.FromTime, p.fromTime = t.UTC(), true
	}
	n, ok, err := intParam("maxCount", 1, MaxCount)
	if err != nil {
		return params{}, err
	}
	if ok {
		p.maxCount = int(n)
	}
	n, _, err = intParam("waitSeconds", 0, MaxWaitSeconds)
	if err != nil {
		return params{}, err
	}
	p.wait = time.Duration(n) * time.Second
	return p, nil
}
