package eventhubs

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/store"
)

func newLog(t *testing.T, opts d2c.Options) *d2c.Log {
	t.Helper()
	opts.Store = store.OpenMemory()
	l, err := d2c.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newEndpoint(t *testing.T, l *d2c.Log) *Endpoint {
	t.Helper()
	e, err := New(Config{Name: DefaultName("myhub"), HubName: "myhub", Log: l, CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewChecksTheName(t *testing.T) {
	l := newLog(t, d2c.Options{})
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"iothub-ehub-myhub", true}, {"a", true}, {"A.b_c-9", true}, {strings.Repeat("a", 256), true},
		{"", false}, {strings.Repeat("a", 257), false}, {"-leading", false}, {"trailing.", false},
		{"has space", false}, {"has/slash", false}, {"$management", false},
	} {
		_, err := New(Config{Name: tt.name, Log: l})
		if (err == nil) != tt.ok {
			t.Errorf("New(%q): %v", tt.name, err)
		}
	}
	if _, err := New(Config{Name: "x"}); err == nil {
		t.Error("New without a log succeeded")
	}
}

func TestParseAddress(t *testing.T) {
	l := newLog(t, d2c.Options{Partitions: 4, ConsumerGroups: []string{"Ops"}})
	e := newEndpoint(t, l)
	const name = "iothub-ehub-myhub"
	recv := func(cg string, p int) Address { return Address{Entity: name, ConsumerGroup: cg, Partition: p} }
	mgmt := Address{Entity: name, Management: true}
	tests := []struct {
		addr    string
		want    Address
		wantErr string // "" means success
	}{
		// What the SDKs send.
		{"amqps://127.0.0.1/iothub-ehub-myhub/ConsumerGroups/$Default/Partitions/0", recv("$Default", 0), ""}, // pyamqp
		{"iothub-ehub-myhub/ConsumerGroups/$Default/Partitions/3", recv("$Default", 3), ""},                   // azeventhubs
		{"/iothub-ehub-myhub/ConsumerGroups/$default/Partitions/1", recv("$Default", 1), ""},                  // rhea
		{"amqps://127.0.0.1:5671/myhub/$management", mgmt, ""},                                                // az CLI's redirect
		{"iothub-ehub-myhub/$management", mgmt, ""},                                                           // azeventhubs
		{"$management", mgmt, ""},                       // pyamqp, rhea
		{"amqp://localhost:5672/$management", mgmt, ""}, // the development emulator flag
		// Case, escaping, the hub's own name, a trailing slash.
		{"AMQPS://HOST/IOTHUB-EHUB-MYHUB/consumergroups/OPS/partitions/2", recv("Ops", 2), ""},
		{"amqps://host/myhub/ConsumerGroups/%24Default/Partitions/0", recv("$Default", 0), ""},
		{"myhub/ConsumerGroups/ops/Partitions/0/", recv("Ops", 0), ""},
		{"myhub/$MANAGEMENT", mgmt, ""},
		// Refused, each as not found.
		{"other/ConsumerGroups/$Default/Partitions/0", Address{}, "messaging entity \"other\""},
		{"myhub/ConsumerGroups/nope/Partitions/0", Address{}, "consumer group \"nope\""},
		{"myhub/ConsumerGroups/$Default/Partitions/4", Address{}, "partition \"4\""},
		{"myhub/ConsumerGroups/$Default/Partitions/-1", Address{}, "partition \"-1\""},
		{"myhub/ConsumerGroups/$Default/Partitions/01", Address{}, "partition \"01\""},
		{"myhub/ConsumerGroups/$Default/Partitions/+1", Address{}, "partition \"+1\""},
		{"myhub/ConsumerGroups/$Default/Partitions/x", Address{}, "partition \"x\""},
		{"myhub/ConsumerGroups/$Default/Partitions", Address{}, "is not {entity}"},
		{"myhub/Groups/$Default/Partitions/0", Address{}, "is not {entity}"},
		{"myhub//ConsumerGroups/$Default/Partitions/0", Address{}, "empty"},
		{"myhub", Address{}, "is not {entity}"},
		{"", Address{}, "empty"},
		{"other/$management", Address{}, "messaging entity \"other\""},
		{"amqps://host/myhub/$management?x=1", Address{}, "query"},
		{"amqps:///myhub/$management", Address{}, "not a URL"},
		{"myhub/ConsumerGroups/%zz/Partitions/0", Address{}, "badly escaped"},
		{"messages/devicebound", Address{}, "is not {entity}"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := e.ParseAddress(tt.addr)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.wantErr) || Condition(err) != CondNotFound {
					t.Fatalf("ParseAddress = %+v, %v; want not found saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAddress = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseFilter(t *testing.T) {
	ms := int64(1700000000000)
	at := time.UnixMilli(ms).UTC()
	tests := []struct {
		who, expr string
		want      d2c.EventPosition
	}{
		// azeventhubs v2.0.2 partition_client.go getStartExpression.
		{"azeventhubs default", "amqp.annotation.x-opt-offset > '@latest'", d2c.Latest()},
		{"azeventhubs latest inclusive", "amqp.annotation.x-opt-offset >= '@latest'", d2c.Latest()},
		{"azeventhubs earliest", "amqp.annotation.x-opt-offset > '-1'", d2c.Earliest()},
		{"azeventhubs offset", "amqp.annotation.x-opt-offset > '1234'", d2c.AtOffset(1234, false)},
		{"azeventhubs offset inclusive", "amqp.annotation.x-opt-offset >= '1234'", d2c.AtOffset(1234, true)},
		{"azeventhubs sequence", "amqp.annotation.x-opt-sequence-number > '17'", d2c.AtSequenceNumber(17, false)},
		{"azeventhubs sequence inclusive", "amqp.annotation.x-opt-sequence-number >= '17'", d2c.AtSequenceNumber(17, true)},
		{"azeventhubs time", "amqp.annotation.x-opt-enqueued-time > '1700000000000'", d2c.AtEnqueuedTime(at, false)},
		{"azeventhubs time inclusive", "amqp.annotation.x-opt-enqueued-time >= '1700000000000'", d2c.AtEnqueuedTime(at, true)},
		// azure-eventhub 5.15 _utils.py event_position_selector: the same
		// forms; its default starting position is "@latest", an int is a
		// sequence number (so -1 can arrive), a datetime milliseconds.
		{"azure-eventhub default", "amqp.annotation.x-opt-offset > '@latest'", d2c.Latest()},
		{"azure-eventhub \"-1\"", "amqp.annotation.x-opt-offset > '-1'", d2c.Earliest()},
		{"azure-eventhub int -1", "amqp.annotation.x-opt-sequence-number > '-1'", d2c.AtSequenceNumber(-1, false)},
		{"azure-eventhub datetime", "amqp.annotation.x-opt-enqueued-time > '1700000000000'", d2c.AtEnqueuedTime(at, false)},
		// @azure/event-hubs 6 eventPosition.ts getEventPositionFilter:
		// earliestEventPosition is offset "-1", latest offset "@latest";
		// enqueuedOn is always exclusive.
		{"@azure/event-hubs earliest", "amqp.annotation.x-opt-offset > '-1'", d2c.Earliest()},
		{"@azure/event-hubs latest", "amqp.annotation.x-opt-offset > '@latest'", d2c.Latest()},
		{"@azure/event-hubs sequence inclusive", "amqp.annotation.x-opt-sequence-number >= '17'", d2c.AtSequenceNumber(17, true)},
		{"@azure/event-hubs time", "amqp.annotation.x-opt-enqueued-time > '1700000000000'", d2c.AtEnqueuedTime(at, false)},
		// az iot hub monitor-events (azure-iot monitor/telemetry.py).
		{"az CLI", "amqp.annotation.x-opt-enqueuedtimeutc > 1700000000000", d2c.AtEnqueuedTime(at, false)},
		// Spelling variations.
		{"unquoted sequence", "amqp.annotation.x-opt-sequence-number > 17", d2c.AtSequenceNumber(17, false)},
		{"no spaces", "amqp.annotation.x-opt-offset>='5'", d2c.AtOffset(5, true)},
		{"more spaces", "  amqp.annotation.x-opt-offset \t >=   '5'  ", d2c.AtOffset(5, true)},
		{"case", "AMQP.Annotation.X-OPT-Sequence-Number > '3'", d2c.AtSequenceNumber(3, false)},
		{"epoch time", "amqp.annotation.x-opt-enqueued-time > '0'", d2c.AtEnqueuedTime(time.UnixMilli(0), false)},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			got, err := ParseFilter(tt.expr)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseFilter(%q) = %+v, %v; want %+v", tt.expr, got, err, tt.want)
			}
		})
	}
}

func TestParseFilterRefuses(t *testing.T) {
	for _, expr := range []string{
		"",
		"amqp.annotation.x-opt-offset",
		"amqp.annotation.x-opt-offset < '5'",
		"amqp.annotation.x-opt-offset = '5'",
		"amqp.annotation.x-opt-offset <> '5'",
		"amqp.annotation.x-opt-offset > ",
		"amqp.annotation.x-opt-offset > ''",
		"amqp.annotation.x-opt-offset > '5",
		"amqp.annotation.x-opt-offset > '5' AND 1=1",
		"amqp.annotation.x-opt-offset > '-2'",
		"amqp.annotation.x-opt-offset > 'abc'",
		"amqp.annotation.x-opt-offset > '1:2:3'",
		"amqp.annotation.x-opt-sequence-number > 'x'",
		"amqp.annotation.x-opt-sequence-number > '99999999999999999999'",
		"amqp.annotation.x-opt-enqueued-time > '2024-01-01T00:00:00Z'",
		"amqp.annotation.x-opt-enqueued-time > '999999999999999999'",
		"amqp.annotation.x-opt-partition-key > 'k'",
		"x-opt-offset > '5'",
		"sys.offset > '5'",
		"amqp.annotation.x-opt-offset > \"5\"",
		"amqp.annotation." + strings.Repeat("x", 600) + " > 1",
	} {
		pos, err := ParseFilter(expr)
		if !errors.Is(err, ErrBadFilter) || Condition(err) != CondNotAllowed {
			t.Errorf("ParseFilter(%q) = %+v, %v; want a bad filter", expr, pos, err)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"amqp.annotation.x-opt-offset > '@latest'", "amqp.annotation.x-opt-offset >= '1234'",
		"amqp.annotation.x-opt-sequence-number > 17", "amqp.annotation.x-opt-enqueuedtimeutc > 1700000000000",
		"amqp.annotation.x-opt-enqueued-time >= '-62135596800000'", "AMQP.ANNOTATION.X-OPT-OFFSET>'-1'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		pos, err := ParseFilter(expr)
		if err != nil {
			if !errors.Is(err, ErrBadFilter) {
				t.Fatalf("error %v does not wrap ErrBadFilter", err)
			}
			return
		}
		// Whatever is accepted reads back the same from the canonical form.
		back, err := ParseFilter(FilterExpression(pos))
		if err != nil || !reflect.DeepEqual(back, pos) {
			t.Fatalf("%q: %+v, rewritten %q: %+v, %v", expr, pos, FilterExpression(pos), back, err)
		}
	})
}

func TestReadEventHub(t *testing.T) {
	l := newLog(t, d2c.Options{Partitions: 3})
	e := newEndpoint(t, l)
	got, err := e.Read(ManagementRequest{Operation: "READ", Type: TypeEventHub, Name: "myhub"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name":                  "iothub-ehub-myhub",
		"type":                  TypeEventHub,
		"created_at":            time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC),
		"partition_count":       int32(3),
		"partition_ids":         []string{"0", "1", "2"},
		"georeplication_factor": int32(1),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("READ eventhub =\n%#v\nwant\n%#v", got, want)
	}
}

func TestReadPartition(t *testing.T) {
	c := testkit.NewClock()
	l := newLog(t, d2c.Options{Partitions: 2, Now: c.Now})
	e := newEndpoint(t, l)
	read := func(p string) (map[string]any, error) {
		return e.Read(ManagementRequest{Operation: "READ", Type: TypePartition, Name: "iothub-ehub-myhub", Partition: p})
	}
	got, err := read("1")
	if err != nil {
		t.Fatal(err)
	}
	empty := map[string]any{
		"name": "iothub-ehub-myhub", "type": TypePartition, "partition": "1",
		"begin_sequence_number": int64(0), "last_enqueued_sequence_number": int64(-1),
		"last_enqueued_offset": "-1", "last_enqueued_time_utc": time.UnixMilli(0).UTC(), "is_partition_empty": true,
	}
	if !reflect.DeepEqual(got, empty) {
		t.Fatalf("empty partition =\n%#v\nwant\n%#v", got, empty)
	}

	dev := ""
	for i := range 100 {
		if id := "dev" + string(rune('a'+i%26)) + strings.Repeat("x", i/26); d2c.PartitionOf(id, 2) == 1 {
			dev = id
			break
		}
	}
	var last d2c.Message
	for range 2 {
		last, err = l.Append(context.Background(), d2c.Message{DeviceID: dev, Body: []byte("hello")})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _ = read("1")
	want := map[string]any{
		"name": "iothub-ehub-myhub", "type": TypePartition, "partition": "1",
		"begin_sequence_number": int64(0), "last_enqueued_sequence_number": int64(1),
		"last_enqueued_offset": "5", "last_enqueued_time_utc": last.EnqueuedTime, "is_partition_empty": false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("partition with two messages =\n%#v\nwant\n%#v", got, want)
	}
}

func TestReadRefuses(t *testing.T) {
	l := newLog(t, d2c.Options{Partitions: 2})
	e := newEndpoint(t, l)
	for _, tt := range []struct {
		req    ManagementRequest
		status int
	}{
		{ManagementRequest{Operation: "READ", Type: TypeEventHub, Name: "other"}, 404},
		{ManagementRequest{Operation: "READ", Type: TypePartition, Name: "myhub", Partition: "2"}, 404},
		{ManagementRequest{Operation: "READ", Type: TypePartition, Name: "myhub", Partition: ""}, 404},
		{ManagementRequest{Operation: "READ", Type: "com.microsoft:queue", Name: "myhub"}, 400},
		{ManagementRequest{Operation: "CREATE", Type: TypeEventHub, Name: "myhub"}, 400},
	} {
		if _, err := e.Read(tt.req); StatusCode(err) != tt.status {
			t.Errorf("Read(%+v): %v (status %d), want %d", tt.req, err, StatusCode(err), tt.status)
		}
	}
	if _, err := e.Read(ManagementRequest{Operation: "read", Type: TypeEventHub, Name: "MYHUB"}); err != nil {
		t.Errorf("lower-case READ on the hub's name: %v", err)
	}
}

func TestNewEvent(t *testing.T) {
	l := newLog(t, d2c.Options{Partitions: 4})
	in := d2c.Message{
		DeviceID: "gateway", ModuleID: "filter",
		SystemProperties: d2c.SystemProperties(map[string]string{
			"mid": "m-1", "cid": "c-1", "uid": "user", "ct": "application/json", "ce": "utf-8",
			"exp": "2026-03-02T00:00:00Z", "sub": "subject", "dataschema": "dtmi:x;1", "odd": "dropped",
		}),
		Properties: map[string]string{"alert": "high"},
		Body:       []byte(`{"t":1}`),
	}
	in.SystemProperties["iothub-connection-auth-method"] = `{"scope":"module","type":"sas","issuer":"iothub"}`
	in.SystemProperties["iothub-connection-auth-generation-id"] = "638000000000000001"
	m, err := l.Append(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvent(m)
	wantAnn := map[string]any{
		"x-opt-sequence-number":                int64(0),
		"x-opt-offset":                         "0",
		"x-opt-enqueued-time":                  m.EnqueuedTime,
		"iothub-enqueuedtime":                  m.EnqueuedTime,
		"iothub-connection-device-id":          "gateway",
		"iothub-connection-module-id":          "filter",
		"iothub-connection-auth-method":        `{"scope":"module","type":"sas","issuer":"iothub"}`,
		"iothub-connection-auth-generation-id": "638000000000000001",
		"iothub-message-source":                "Telemetry",
		"dt-subject":                           "subject",
		"dt-dataschema":                        "dtmi:x;1",
	}
	if !reflect.DeepEqual(ev.Annotations, wantAnn) {
		t.Fatalf("annotations =\n%#v\nwant\n%#v", ev.Annotations, wantAnn)
	}
	if ev.MessageID != "m-1" || ev.CorrelationID != "c-1" || string(ev.UserID) != "user" || ev.ContentType != "application/json" ||
		ev.ContentEncoding != "utf-8" || !ev.AbsoluteExpiryTime.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("properties section: %+v", ev)
	}
	if ev.DeviceID != "gateway" || ev.ModuleID != "filter" || ev.AuthGenerationID != "638000000000000001" || ev.Partition != d2c.PartitionOf("gateway", 4) ||
		ev.SequenceNumber != 0 || ev.Offset != "0" || !ev.EnqueuedTime.Equal(m.EnqueuedTime) {
		t.Fatalf("fields: %+v", ev)
	}
	if !reflect.DeepEqual(ev.Properties, map[string]string{"alert": "high"}) || string(ev.Body) != `{"t":1}` {
		t.Fatalf("properties %v body %q", ev.Properties, ev.Body)
	}
	// The event takes the message's body and properties over; the log's
	// own copy is not the message's, so the log is unaffected.
	ev.Body[0], ev.Properties["alert"] = 'X', "low"
	if msgs, _ := l.Read(d2c.Filter{}, 10); len(msgs) != 1 || string(msgs[0].Body) != `{"t":1}` || msgs[0].Properties["alert"] != "high" {
		t.Fatalf("the log's message changed with the event's: %+v", msgs)
	}
}

func TestReceiversEpochRules(t *testing.T) {
	key := ReceiverKey{Entity: "e", ConsumerGroup: "$Default", Partition: 0}
	ep := func(n int64) *int64 { return &n }
	type step struct {
		link    string
		epoch   *int64
		evicted []string
		err     error
	}
	tests := []struct {
		name  string
		steps []step
		after int // receivers left at key
	}{
		{"five without epoch, then quota", []step{
			{"a", nil, nil, nil}, {"b", nil, nil, nil}, {"c", nil, nil, nil}, {"d", nil, nil, nil}, {"e", nil, nil, nil},
			{"f", nil, nil, ErrQuotaExceeded},
		}, 5},
		{"an epoch takes over from receivers without one", []step{
			{"a", nil, nil, nil}, {"b", nil, nil, nil}, {"c", ep(0), []string{"a", "b"}, nil},
		}, 1},
		{"a higher epoch takes over", []step{{"a", ep(1), nil, nil}, {"b", ep(2), []string{"a"}, nil}}, 1},
		{"an equal epoch takes over", []step{{"a", ep(3), nil, nil}, {"b", ep(3), []string{"a"}, nil}}, 1},
		{"a lower epoch is refused", []step{{"a", ep(5), nil, nil}, {"b", ep(4), nil, ErrOwnership}}, 1},
		{"no epoch is refused while an epoch holds", []step{{"a", ep(0), nil, nil}, {"b", nil, nil, ErrOwnership}}, 1},
		{"negative epochs order too", []step{{"a", ep(-2), nil, nil}, {"b", ep(-1), []string{"a"}, nil}, {"c", ep(-3), nil, ErrOwnership}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReceivers[string]()
			for i, s := range tt.steps {
				evicted, err := r.Register(key, s.link, s.epoch)
				if !errors.Is(err, s.err) || (err == nil) != (s.err == nil) || !reflect.DeepEqual(evicted, s.evicted) {
					t.Fatalf("step %d (%s): evicted %v, %v; want %v, %v", i, s.link, evicted, err, s.evicted, s.err)
				}
			}
			if n := r.Count(key); n != tt.after {
				t.Fatalf("%d receivers left, want %d", n, tt.after)
			}
		})
	}
}

func TestReceiversKeysAndUnregister(t *testing.T) {
	r := NewReceivers[int]()
	p0 := ReceiverKey{Entity: "e", ConsumerGroup: "$Default", Partition: 0}
	p1 := ReceiverKey{Entity: "e", ConsumerGroup: "$Default", Partition: 1}
	ops := ReceiverKey{Entity: "e", ConsumerGroup: "ops", Partition: 0}
	one := int64(1)
	if _, err := r.Register(p0, 1, &one); err != nil {
		t.Fatal(err)
	}
	// Other partitions and consumer groups are not affected.
	for _, k := range []ReceiverKey{p1, ops} {
		if ev, err := r.Register(k, 2, nil); err != nil || ev != nil {
			t.Fatalf("Register(%+v): %v %v", k, ev, err)
		}
	}
	if _, err := r.Register(p1, 2, nil); err == nil {
		t.Fatal("the same link registered twice")
	}
	// Once the epoch receiver leaves, a receiver without one may attach.
	r.Unregister(p0, 1)
	r.Unregister(p0, 1) // again: harmless
	if _, err := r.Register(p0, 3, nil); err != nil {
		t.Fatalf("after the epoch receiver left: %v", err)
	}
	r.Unregister(p0, 3)
	r.Unregister(p1, 2)
	r.Unregister(ops, 2)
	if n := len(r.links); n != 0 {
		t.Fatalf("%d keys left after every receiver left", n)
	}
}

func TestConditions(t *testing.T) {
	for err, want := range map[error]string{
		ErrNotFound: CondNotFound, ErrBadFilter: CondNotAllowed, ErrOwnership: CondLinkStolen,
		ErrQuotaExceeded: CondResourceLimitExceeded, errors.New("x"): CondInternalError,
	} {
		if got := Condition(errors.Join(errors.New("wrapped"), err)); got != want {
			t.Errorf("Condition(%v) = %s, want %s", err, got, want)
		}
	}
}
