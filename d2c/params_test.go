package d2c

import (
	"testing"
	"time"
)

func TestParseQueryDefaults(t *testing.T) {
	p, err := ParseQuery("api-version=2021-04-12&unknown=1")
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxCount != DefaultMaxCount || p.Wait != 0 || p.FromSeq || p.FromTime || p.Filter != (Filter{}) {
		t.Fatalf("defaults = %+v", p)
	}
	p, err = ParseQuery("maxCount=1000&waitSeconds=60&fromSequenceNumber=0&fromEnqueuedTime=2026-03-01T12:00:00.5%2B02:00")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 3, 1, 10, 0, 0, 5e8, time.UTC)
	if p.MaxCount != 1000 || p.Wait != time.Minute || !p.FromSeq || !p.Filter.FromTime.Equal(want) || p.Filter.FromTime.Location() != time.UTC {
		t.Fatalf("limits = %+v", p)
	}
}
