package d2c

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// FuzzParseQuery checks that any query string is either refused with
// ArgumentInvalid or yields parameters within their documented bounds.
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"api-version=2021-04-12",
		"deviceId=d1&moduleId=m1&fromSequenceNumber=5&maxCount=10&waitSeconds=3",
		"fromEnqueuedTime=2026-03-01T12:00:00.123%2B01:00",
		"maxCount=0", "maxCount=1001", "waitSeconds=61", "fromSequenceNumber=-1",
		"deviceId=a&deviceId=b", "%zz", "a=%", ";", "fromEnqueuedTime=9999-12-31T23:59:59Z",
		"fromSequenceNumber=9223372036854775807",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := ParseQuery(raw)
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("error %v is not ArgumentInvalid", err)
			}
			return
		}
		if p.MaxCount < 1 || p.MaxCount > MaxCount {
			t.Fatalf("maxCount %d", p.MaxCount)
		}
		if p.Wait < 0 || p.Wait > MaxWaitSeconds*time.Second {
			t.Fatalf("wait %v", p.Wait)
		}
		if p.Filter.FromSequence < 0 || (!p.FromSeq && p.Filter.FromSequence != 0) {
			t.Fatalf("fromSequence %d (given %v)", p.Filter.FromSequence, p.FromSeq)
		}
		if !p.FromTime && !p.Filter.FromTime.IsZero() {
			t.Fatalf("fromEnqueuedTime set but not given")
		}
		if p.FromTime && p.Filter.FromTime.Location() != time.UTC {
			t.Fatalf("fromEnqueuedTime not in UTC")
		}
	})
}

// FuzzDecodeRecord checks that any stored record is either refused or
// decodes to a message that agrees with its key and survives a round trip.
func FuzzDecodeRecord(f *testing.F) {
	valid, _ := json.Marshal(Message{
		SequenceNumber: 7, EnqueuedTime: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), DeviceID: "d",
		SystemProperties: map[string]string{"message-id": "x"}, Properties: map[string]string{}, Body: []byte("hi"),
	})
	f.Add([]byte(seqKey(7)), valid)
	f.Add([]byte(seqKey(8)), valid)
	f.Add([]byte(metaKey), []byte(`{"lastSequenceNumber":3}`))
	f.Add([]byte(seqKey(1)), []byte(`{"sequenceNumber":1,"deviceId":"d","enqueuedTime":"2026-03-01T12:00:00+05:00"}`))
	f.Add([]byte(seqKey(1)), []byte(`{"sequenceNumber":1,"deviceId":"d","enqueuedTime":"2026-03-01T12:00:00Z","body":"!!"}`))
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 0, 1}, valid)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, []byte(`null`))
	f.Add([]byte(seqKey(2)), []byte(`[]`))
	f.Add([]byte(seqKey(1)), []byte(`{"sequenceNumber":1,"deviceId":"d","enqueuedTime":"2026-03-01T12:00:00Z","partition":3,"partitionSequenceNumber":9,"offset":120}`))
	f.Add([]byte(seqKey(1)), []byte(`{"sequenceNumber":1,"deviceId":"d","enqueuedTime":"2026-03-01T12:00:00Z","partition":-1,"partitionSequenceNumber":9,"offset":120}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		m, placed, err := decodeRecord(string(key), value)
		if err != nil {
			return
		}
		seq, ok := parseSeqKey(string(key))
		if !ok || m.SequenceNumber != seq || seq < 1 {
			t.Fatalf("accepted key %x as #%d", key, m.SequenceNumber)
		}
		if m.DeviceID == "" || m.EnqueuedTime.IsZero() || m.EnqueuedTime.Location() != time.UTC {
			t.Fatalf("accepted %+v", m)
		}
		if m.Body == nil || m.SystemProperties == nil || m.Properties == nil {
			t.Fatalf("nil fields in %+v", m)
		}
		if !placed && (m.Partition != 0 || m.PartitionSequenceNumber != 0 || m.Offset != 0) {
			t.Fatalf("an unplaced record kept a place: %+v", m)
		}
		if placed && (m.Partition < 0 || m.PartitionSequenceNumber < 0 || m.Offset < 0) {
			t.Fatalf("accepted a negative place: %+v", m)
		}
		again, err := encodeRecord(m)
		if err != nil {
			return // a time json cannot write back (year outside 0..9999) came from a hand-made record
		}
		back, placedAgain, err := decodeRecord(string(key), again)
		if err != nil || !placedAgain || !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip: %v (placed %v)\n%+v\n%+v", err, placedAgain, back, m)
		}
	})
}

// recordByReflection is what encodeRecord must write: encoding/json's
// encoding of the stored record.
func recordByReflection(m Message) ([]byte, error) {
	return json.Marshal(record{Message: m, Partition: &m.Partition, PartitionSequenceNumber: &m.PartitionSequenceNumber, Offset: &m.Offset})
}

// manyKeys is a map of n keys that arrive in no particular order.
func manyKeys(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%03d", (i*37)%n)] = fmt.Sprint(i)
	}
	return m
}

func TestEncodeRecordMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 1, 123_000_000, time.UTC)
	for _, m := range []Message{
		{SequenceNumber: 1, EnqueuedTime: at, DeviceID: "d1", SystemProperties: map[string]string{}, Properties: map[string]string{}, Body: []byte{}},
		{SequenceNumber: 1 << 40, EnqueuedTime: at.Add(-123 * time.Millisecond), DeviceID: "d<1>&\"q\"", ModuleID: "m/é",
			SystemProperties: map[string]string{"message-id": "x", "content-type": "application/json", "iothub-connection-device-id": "d<1>"},
			Properties:       map[string]string{"z": "1", "a": "\u2028\x01\xff", "": ""},
			Body:             []byte(`{"t":21.5}` + "\x00\xff"), Partition: 3, PartitionSequenceNumber: 99, Offset: 123456},
		{SequenceNumber: 2, DeviceID: "nil maps and body"},
		{SequenceNumber: 4, EnqueuedTime: at, DeviceID: "more keys than the sort's array", SystemProperties: manyKeys(40), Properties: manyKeys(17), Body: []byte{}},
		{SequenceNumber: 3, EnqueuedTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)), DeviceID: "zone"},
	} {
		want, err := recordByReflection(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeRecord(m)
		if err != nil || string(got) != string(want) {
			t.Fatalf("encodeRecord = %s, %v\nwant           %s", got, err, want)
		}
	}
	if _, err := encodeRecord(Message{DeviceID: "d", EnqueuedTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("a year json cannot write was encoded")
	}
}

func FuzzEncodeRecord(f *testing.F) {
	f.Add(int64(1), int64(1_700_000_000_123), "d1", "", "message-id", "x", "k", "v", []byte("body"), 0, int64(0), int64(0))
	f.Add(int64(-5), int64(-1), "d<&>", "m\xff", "", "\u2028", "\x00", "é", []byte(nil), 31, int64(-1), int64(1<<62))
	f.Fuzz(func(t *testing.T, seq, ms int64, device, module, sk, sv, pk, pv string, body []byte, part int, pseq, off int64) {
		m := Message{
			SequenceNumber: seq, EnqueuedTime: time.UnixMilli(ms).UTC(), DeviceID: device, ModuleID: module,
			SystemProperties: map[string]string{sk: sv}, Properties: map[string]string{pk: pv, sk: pv},
			Body: body, Partition: part, PartitionSequenceNumber: pseq, Offset: off,
		}
		want, wantErr := recordByReflection(m)
		got, err := encodeRecord(m)
		if (wantErr != nil) != (err != nil) || string(got) != string(want) {
			t.Fatalf("encodeRecord = %s, %v\nencoding/json  %s, %v", got, err, want, wantErr)
		}
	})
}
