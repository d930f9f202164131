package debuglog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"SharedAccessSignature sr=h&sig=abc%2Bdef%3D&se=1&skn=owner": "SharedAccessSignature sr=h&sig=REDACTED&se=1&skn=owner",
		"SharedAccessSignature SIG=x&sr=h":                           "SharedAccessSignature SIG=REDACTED&sr=h",
		"/twins/x?sig=abc":                                           "/twins/x?sig=REDACTED",
		"no token here":                                              "no token here",
	}
	for in, want := range tests {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMiddlewareLogsAndPassesTheBodyOn(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, nil)
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(201)
		w.Write(b)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("PUT", srv.URL+"/devices/d1?api-version=2021-04-12", strings.NewReader(`{"deviceId":"d1"}`))
	req.Header.Set("Authorization", "SharedAccessSignature sr=localhost&sig=SECRET&se=1&skn=iothubowner")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	echoed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(echoed) != `{"deviceId":"d1"}` {
		t.Fatalf("handler got body %q", echoed)
	}
	sc := bufio.NewScanner(&out)
	if !sc.Scan() {
		t.Fatal("nothing logged")
	}
	var e Entry
	if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if e.Method != "PUT" || e.Status != 201 || e.URL != "/devices/d1?api-version=2021-04-12" || e.Body != `{"deviceId":"d1"}` {
		t.Fatalf("entry = %+v", e)
	}
	if strings.Contains(out.String(), "SECRET") || !strings.Contains(e.Headers["Authorization"], "sig=REDACTED") {
		t.Fatalf("signature not redacted: %s", out.String())
	}
}

func TestNilLogIsANoOp(t *testing.T) {
	var l *Log
	l.Write(Entry{Protocol: "mqtt"})
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := l.Middleware(h); got == nil {
		t.Fatal("nil log must pass the handler through")
	}
}

func TestLongBodiesAreCut(t *testing.T) {
	b := Body(bytes.Repeat([]byte("x"), maxBody+10))
	if !strings.HasSuffix(b, "…(truncated)") || len(b) > maxBody+20 {
		t.Fatalf("body of %d bytes", len(b))
	}
}
