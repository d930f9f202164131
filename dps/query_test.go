package dps

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// pages reads a whole query page by page, and the page sizes it saw.
func pages(t *testing.T, size int, q func(size int, cont string) (Page, error)) (ids []string, sizes []int) {
	t.Helper()
	cont := ""
	for range 100 {
		p, err := q(size, cont)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p.Items))
		for _, it := range p.Items {
			switch v := it.(type) {
			case *Enrollment:
				ids = append(ids, v.id())
			case *RegistrationState:
				ids = append(ids, v.RegistrationID)
			default:
				t.Fatalf("item %T", it)
			}
		}
		if p.Continuation == "" {
			return ids, sizes
		}
		cont = p.Continuation
	}
	t.Fatal("the query never ends")
	return nil, nil
}

func TestQueries(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"e3", "e1", "e5", "e2", "e4"} {
		if _, err := e.svc.PutEnrollment(ctx(t), id, symmetric(t, nil), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"g2", "g1"} {
		if _, err := e.svc.PutEnrollmentGroup(ctx(t), id, symmetric(t, nil), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"d2", "d1", "d3"} {
		k, _ := DeviceKey(key1, id)
		e.register(id, Credential{Token: token(t, id, k, time.Time{})}, "")
	}
	body := []byte(`{"query":"select * from enrollments"}`)
	tests := []struct {
		name      string
		size      int
		q         func(size int, cont string) (Page, error)
		ids       string
		pageSizes string
	}{
		{"enrollments by 2", 2, func(n int, c string) (Page, error) { return e.svc.QueryEnrollments(body, n, c) }, "e1,e2,e3,e4,e5", "[2 2 1]"},
		{"enrollments, default size", 0, func(n int, c string) (Page, error) { return e.svc.QueryEnrollments(nil, n, c) }, "e1,e2,e3,e4,e5", "[5]"},
		{"enrollments by 5", 5, func(n int, c string) (Page, error) { return e.svc.QueryEnrollments(nil, n, c) }, "e1,e2,e3,e4,e5", "[5]"},
		{"groups by 1", 1, func(n int, c string) (Page, error) { return e.svc.QueryEnrollmentGroups(nil, n, c) }, "g1,g2", "[1 1]"},
		{"registrations of g1 by 2", 2, func(n int, c string) (Page, error) { return e.svc.QueryGroupRegistrations("G1", nil, n, c) }, "d1,d2,d3", "[2 1]"},
		{"registrations of g2", 0, func(n int, c string) (Page, error) { return e.svc.QueryGroupRegistrations("g2", nil, n, c) }, "", "[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, sizes := pages(t, tt.size, tt.q)
			if strings.Join(ids, ",") != tt.ids || fmt.Sprint(sizes) != tt.pageSizes {
				t.Fatalf("ids %v in pages %v, want %s in %s", ids, sizes, tt.ids, tt.pageSizes)
			}
		})
	}
	// A page is stable under an insert before it.
	p, _ := e.svc.QueryEnrollments(nil, 2, "")
	if _, err := e.svc.PutEnrollment(ctx(t), "e0", symmetric(t, nil), ""); err != nil {
		t.Fatal(err)
	}
	next, _ := e.svc.QueryEnrollments(nil, 2, p.Continuation)
	if got := next.Items[0].(*Enrollment).id(); got != "e3" {
		t.Fatalf("after an insert the next page starts at %s", got)
	}
	_, err := e.svc.QueryEnrollments(nil, 2, "not*base64")
	wantCode(t, err, errcode.ArgumentInvalid)
	_, err = e.svc.QueryGroupRegistrations("nope", nil, 0, "")
	wantCode(t, err, errcode.ProvisioningNotFound)
	_, err = e.svc.QueryEnrollments([]byte(`{"query":"SELECT * FROM enrollmentGroups"}`), 0, "")
	wantCode(t, err, errcode.ArgumentInvalid)
}

func TestCheckQuery(t *testing.T) {
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{"", true}, {" ", true}, {`{}`, true}, {`{"query":""}`, true},
		{`{"query":"SELECT * FROM enrollments"}`, true},
		{`{"query":"*"}`, true}, {`{"query":"select *"}`, true}, {`{"query":"**"}`, false},
		{`{"query":"  select   *   from   ENROLLMENTS  "}`, true},
		{`{"query":"SELECT * FROM enrollments WHERE a=1"}`, false},
		{`{"query":"SELECT a FROM enrollments"}`, false},
		{`{"query":"SELECT * FROM devices"}`, false},
		{`{"query":5}`, false},
		{`[`, false},
	} {
		if err := checkQuery([]byte(tt.body), "enrollments"); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok=%v", tt.body, err, tt.ok)
		}
	}
}

func bulkBody(t *testing.T, mode string, items ...map[string]any) []byte {
	t.Helper()
	var es []any
	for _, it := range items {
		body := map[string]any{"attestation": map[string]any{"type": "symmetricKey",
			"symmetricKey": map[string]any{"primaryKey": key1, "secondaryKey": key2}}}
		for k, v := range it {
			body[k] = v
		}
		es = append(es, body)
	}
	return mustJSON(t, map[string]any{"mode": mode, "enrollments": es})
}

func id(s string) map[string]any { return map[string]any{"registrationId": s} }

func TestBulk(t *testing.T) {
	e := newEnv(t)
	res, err := e.svc.Bulk(ctx(t), bulkBody(t, BulkCreate, id("a"), id("b")))
	if err != nil || !res.IsSuccessful || len(res.Errors) != 0 {
		t.Fatalf("create = %+v, %v", res, err)
	}
	a, _ := e.svc.GetEnrollment("a")
	tests := []struct {
		name   string
		body   []byte
		failed string // the ids refused, in order
	}{
		{"create an existing one", bulkBody(t, BulkCreate, id("c"), id("a")), "a:409201"},
		{"a bad item", bulkBody(t, BulkUpdate, id("c"), map[string]any{"registrationId": "d", "provisioningStatus": "on"}), "d:400004"},
		{"a repeated item", bulkBody(t, BulkUpdate, id("c"), id("C")), "C:400004"},
		{"update if match without an etag", bulkBody(t, BulkUpdateIfMatchETag, id("a")), "a:412001"},
		{"update if match with a stale etag", bulkBody(t, BulkUpdateIfMatchETag, map[string]any{"registrationId": "a", "etag": `"old"`}), "a:412001"},
		{"update if match of a missing one", bulkBody(t, BulkUpdateIfMatchETag, map[string]any{"registrationId": "c", "etag": `"x"`}), "c:404201"},
		{"delete a missing one", bulkBody(t, BulkDelete, id("a"), id("zz")), "zz:404201"},
		{"delete with a stale etag", bulkBody(t, BulkDelete, map[string]any{"registrationId": "b", "etag": `"old"`}), "b:412001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.Bulk(ctx(t), tt.body)
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range res.Errors {
				failed = append(failed, fmt.Sprintf("%s:%d", f.RegistrationID, f.ErrorCode))
			}
			if res.IsSuccessful || strings.Join(failed, ",") != tt.failed {
				t.Fatalf("result %+v, want failed %s", res, tt.failed)
			}
			// All or nothing: the refused batch changed nothing.
			if n, _, _ := e.svc.Counts(); n != 2 {
				t.Fatalf("%d enrollments", n)
			}
			if cur, _ := e.svc.GetEnrollment("a"); cur.ETag != a.ETag {
				t.Fatal("a refused batch changed a")
			}
		})
	}
	for _, body := range []string{`[`, `{"mode":"upsert","enrollments":[{}]}`, `{"mode":"create","enrollments":[]}`,
		string(bulkBody(t, BulkCreate, id("1"), id("2"), id("3"), id("4"), id("5"), id("6"), id("7"), id("8"), id("9"), id("10"), id("11")))} {
		_, err := e.svc.Bulk(ctx(t), []byte(body))
		wantCode(t, err, errcode.ArgumentInvalid)
	}

	// The modes that succeed.
	res, err = e.svc.Bulk(ctx(t), bulkBody(t, BulkUpdateIfMatchETag, map[string]any{"registrationId": "a", "etag": a.ETag, "provisioningStatus": "disabled"}))
	if cur, _ := e.svc.GetEnrollment("a"); err != nil || !res.IsSuccessful || cur.ProvisioningStatus != StatusDisabled {
		t.Fatalf("updateIfMatchETag = %+v, %v; a is %s", res, err, cur.ProvisioningStatus)
	}
	res, err = e.svc.Bulk(ctx(t), bulkBody(t, BulkUpdate, id("a"), id("c")))
	if n, _, _ := e.svc.Counts(); err != nil || !res.IsSuccessful || n != 3 {
		t.Fatalf("update = %+v, %v, %d enrollments", res, err, n)
	}
	res, err = e.svc.Bulk(ctx(t), bulkBody(t, BulkDelete, id("a"), id("b"), id("c")))
	if n, _, _ := e.svc.Counts(); err != nil || !res.IsSuccessful || n != 0 {
		t.Fatalf("delete = %+v, %v, %d enrollments", res, err, n)
	}
}

func TestAuthorizeService(t *testing.T) {
	e := newEnv(t)
	p := e.svc.Policy()
	tok := func(resource, key, name string, exp time.Duration) string {
		s, err := sasToken(resource, key, name, time.Now().Add(exp))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name, header string
		ok           bool
	}{
		{"primary", tok("localhost", p.PrimaryKey, p.Name, time.Hour), true},
		{"secondary", tok("localhost", p.SecondaryKey, p.Name, time.Hour), true},
		{"policy name in another case", tok("localhost", p.PrimaryKey, "ProvisioningServiceOwner", time.Hour), true},
		{"none", "", false},
		{"malformed", "SharedAccessSignature x", false},
		{"expired", tok("localhost", p.PrimaryKey, p.Name, -time.Minute), false},
		{"another policy", tok("localhost", p.PrimaryKey, "iothubowner", time.Hour), false},
		{"another key", tok("localhost", key1, p.Name, time.Hour), false},
	} {
		if err := e.svc.AuthorizeService(tt.header); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok=%v", tt.name, err, tt.ok)
		} else if err != nil {
			wantCode(t, err, errcode.ProvisioningUnauthorized)
		}
	}
	if _, err := p.WithKey("!"); err == nil {
		t.Fatal("a policy key that is not base64 is taken")
	}
	q, err := p.WithKey(key1)
	if err != nil || q.PrimaryKey != key1 || q.SecondaryKey != key1 {
		t.Fatalf("WithKey = %+v, %v", q, err)
	}
}
