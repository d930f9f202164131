package blobstore

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testKey = "dGVzdC1hY2NvdW50LWtleS0wMTIzNDU2Nzg5YWJjZGVm"

func newTestServer(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := New(Options{Account: "testacct", Key: testKey, Dir: dir, MaxBlobSize: 1024, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sasFor(t *testing.T, s *Server, container, blob, perms string) string {
	t.Helper()
	q, err := s.SAS(container, blob, SAS{Permissions: perms, Expiry: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

type call struct {
	method, path, query string
	header              map[string]string
	body                string
}

func do(s *Server, c call) *httptest.ResponseRecorder {
	req := httptest.NewRequest(c.method, "https://localhost"+c.path+"?"+c.query, strings.NewReader(c.body))
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func blockID(n string) string { return base64.StdEncoding.EncodeToString([]byte(n)) }

func TestUploadAndDownload(t *testing.T) {
	for _, dir := range []string{"", "disk"} {
		t.Run("dir="+dir, func(t *testing.T) {
			d := ""
			if dir != "" {
				d = t.TempDir()
			}
			s := newTestServer(t, d)
			const path = "/testacct/files/dev1/a.txt"
			sas := sasFor(t, s, "files", "dev1/a.txt", "rw")
			steps := []struct {
				name       string
				c          call
				wantStatus int
				wantBody   string
			}{
				{"put blob", call{"PUT", path, sas, map[string]string{"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"}, "hello"}, 201, ""},
				{"get", call{"GET", path, sas, nil, ""}, 200, "hello"},
				{"range", call{"GET", path, sas, map[string]string{"x-ms-range": "bytes=1-3"}, ""}, 206, "ell"},
				{"range past end clamps", call{"GET", path, sas, map[string]string{"Range": "bytes=2-100"}, ""}, 206, "llo"},
				{"range after end", call{"GET", path, sas, map[string]string{"x-ms-range": "bytes=5-"}, ""}, 416, ""},
				{"head", call{"HEAD", path, sas, nil, ""}, 200, ""},
				{"block 1", call{"PUT", path, sas + "&comp=block&blockid=" + url.QueryEscape(blockID("b1")), nil, "abc"}, 201, ""},
				{"block 2", call{"PUT", path, sas + "&comp=block&blockid=" + url.QueryEscape(blockID("b2")), nil, "def"}, 201, ""},
				{"still old content", call{"GET", path, sas, nil, ""}, 200, "hello"},
				{"commit", call{"PUT", path, sas + "&comp=blocklist", nil, "<?xml version=\"1.0\"?><BlockList><Latest>" + blockID("b2") + "</Latest><Uncommitted>" + blockID("b1") + "</Uncommitted></BlockList>"}, 201, ""},
				{"committed", call{"GET", path, sas, nil, ""}, 200, "defabc"},
				{"recommit from committed", call{"PUT", path, sas + "&comp=blocklist", nil, "<BlockList><Committed>" + blockID("b1") + "</Committed></BlockList>"}, 201, ""},
				{"recommitted", call{"GET", path, sas, nil, ""}, 200, "abc"},
				{"unknown block refused", call{"PUT", path, sas + "&comp=blocklist", nil, "<BlockList><Uncommitted>" + blockID("zz") + "</Uncommitted></BlockList>"}, 400, ""},
				{"unchanged after refusal", call{"GET", path, sas, nil, ""}, 200, "abc"},
			}
			for _, st := range steps {
				rec := do(s, st.c)
				if rec.Code != st.wantStatus {
					t.Fatalf("%s: status %d, want %d; body %s", st.name, rec.Code, st.wantStatus, rec.Body)
				}
				if st.wantBody != "" && rec.Body.String() != st.wantBody {
					t.Fatalf("%s: body %q, want %q", st.name, rec.Body, st.wantBody)
				}
			}
			p, ok, err := s.Stat("files", "dev1/a.txt")
			if err != nil || !ok || p.Size != 3 {
				t.Fatalf("Stat = %+v, %v, %v; want size 3", p, ok, err)
			}
			if d != "" { // a new server over the same directory reads the blob back
				rec := do(newTestServer(t, d), call{"GET", path, sas, nil, ""})
				if rec.Code != 200 || rec.Body.String() != "abc" {
					t.Fatalf("after reopen: %d %q", rec.Code, rec.Body)
				}
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	s := newTestServer(t, "")
	const path = "/testacct/files/dev1/a.txt"
	good := sasFor(t, s, "files", "dev1/a.txt", "rw")
	readOnly := sasFor(t, s, "files", "dev1/a.txt", "r")
	other := sasFor(t, s, "files", "dev1/b.txt", "rw")
	expired, _ := s.SAS("files", "dev1/a.txt", SAS{Permissions: "rw", Expiry: testNow.Add(-time.Second)})
	wrongKey, _ := SignBlobSAS("testacct", base64.StdEncoding.EncodeToString([]byte("another key")), "files", "dev1/a.txt", SAS{Permissions: "rw", Expiry: testNow.Add(time.Hour)})
	tampered := strings.Replace(good, "sp=rw", "sp=rwd", 1)
	put := map[string]string{"x-ms-blob-type": "BlockBlob"}
	for _, tc := range []struct {
		name     string
		c        call
		status   int
		wantCode string
	}{
		{"no sas", call{"PUT", path, "", put, "x"}, 403, "AuthenticationFailed"},
		{"other blob's sas", call{"PUT", path, other, put, "x"}, 403, "AuthenticationFailed"},
		{"expired", call{"PUT", path, expired, put, "x"}, 403, "AuthenticationFailed"},
		{"wrong key", call{"PUT", path, wrongKey, put, "x"}, 403, "AuthenticationFailed"},
		{"tampered permissions", call{"PUT", path, tampered, put, "x"}, 403, "AuthenticationFailed"},
		{"read-only sas writes", call{"PUT", path, readOnly, put, "x"}, 403, "AuthorizationPermissionMismatch"},
		{"no blob type", call{"PUT", path, good, nil, "x"}, 400, "MissingRequiredHeader"},
		{"page blob", call{"PUT", path, good, map[string]string{"x-ms-blob-type": "PageBlob"}, "x"}, 400, "InvalidHeaderValue"},
		{"too large", call{"PUT", path, good, put, strings.Repeat("x", 1025)}, 413, "RequestBodyTooLarge"},
		{"bad block id", call{"PUT", path, good + "&comp=block&blockid=%25%25", nil, "x"}, 400, "InvalidQueryParameterValue"},
		{"bad block list", call{"PUT", path, good + "&comp=blocklist", nil, "<Nope/>"}, 400, "InvalidXmlDocument"},
		{"delete", call{"DELETE", path, good, nil, ""}, 405, "UnsupportedHttpVerb"},
		{"bad container", call{"GET", "/testacct/A_B/x", good, nil, ""}, 400, "InvalidUri"},
		{"no blob", call{"GET", path, good, nil, ""}, 404, "BlobNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, tc.c)
			if rec.Code != tc.status || rec.Header().Get("x-ms-error-code") != tc.wantCode {
				t.Fatalf("status %d code %q, want %d %q; body %s", rec.Code, rec.Header().Get("x-ms-error-code"), tc.status, tc.wantCode, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), "<Error><Code>"+tc.wantCode+"</Code>") {
				t.Fatalf("body %s is not Azure Storage's error", rec.Body)
			}
		})
	}
	if _, ok, _ := s.Stat("files", "dev1/a.txt"); ok {
		t.Fatal("a refused request created the blob")
	}
}

// TestExternalAccountSAS checks the SAS minted for a connection string's
// account against the endpoint's own checker, which follows the same spec.
func TestExternalAccountSAS(t *testing.T) {
	a, err := ParseConnectionString("DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=" + DevKey + ";BlobEndpoint=https://127.0.0.1:10000/devstoreaccount1;")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.HostName(); got != "127.0.0.1:10000/devstoreaccount1" {
		t.Fatalf("HostName = %q", got)
	}
	sas, err := SignBlobSAS(a.Name, a.Key, "c01", "d/x.bin", SAS{Permissions: "rcw", Expiry: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Account: a.Name, Key: a.Key, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	rec := do(s, call{"PUT", "/devstoreaccount1/c01/d/x.bin", sas, map[string]string{"x-ms-blob-type": "BlockBlob"}, "data"})
	if rec.Code != 201 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for _, cs := range []struct {
		in       string
		host     string
		wantFail bool
	}{
		{"UseDevelopmentStorage=true", "127.0.0.1:10000/devstoreaccount1", false},
		{"AccountName=acct;AccountKey=" + testKey, "acct.blob.core.windows.net", false},
		{"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + testKey + ";EndpointSuffix=core.chinacloudapi.cn", "acct.blob.core.chinacloudapi.cn", false},
		{"AccountName=acct", "", true},
		{"AccountName=acct;AccountKey=not base64!", "", true},
		{"garbage", "", true},
	} {
		a, err := ParseConnectionString(cs.in)
		if (err != nil) != cs.wantFail || (err == nil && a.HostName() != cs.host) {
			t.Errorf("ParseConnectionString(%q) = %v, %v; want host %q fail %v", cs.in, a.HostName(), err, cs.host, cs.wantFail)
		}
	}
}

func TestParseBlockList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{`<BlockList></BlockList>`, 0, true},
		{`<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>YQ==</Latest><Committed>Yg==</Committed></BlockList>`, 2, true},
		{`<BlockList><Latest>not base64</Latest></BlockList>`, 0, false},
		{`<BlockList><Other>YQ==</Other></BlockList>`, 0, false},
		{`<BlockList><Latest>YQ==</Latest>`, 0, false},
		{``, 0, false},
		{`<BlockList/><BlockList/>`, 0, false},
	} {
		refs, err := parseBlockList(strings.NewReader(tc.in))
		if (err == nil) != tc.ok || len(refs) != tc.want {
			t.Errorf("parseBlockList(%q) = %d refs, %v; want %d, ok %v", tc.in, len(refs), err, tc.want, tc.ok)
		}
	}
}

func FuzzParseBlockList(f *testing.F) {
	f.Add([]byte(`<BlockList><Latest>YQ==</Latest><Uncommitted>Yg==</Uncommitted></BlockList>`))
	f.Add([]byte(`<BlockList><Committed></Committed></BlockList>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := parseBlockList(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range refs {
			if _, err := base64.StdEncoding.DecodeString(r.id); err != nil || r.id == "" {
				t.Fatalf("accepted a block id %q that is not base64", r.id)
			}
		}
	})
}
