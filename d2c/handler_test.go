package d2c

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const mountPath = "/emulator/messages/events"

// serve mounts the handler the way the API does and serves it on loopback.
func serve(t *testing.T, l *Log, opts HandlerOptions) string {
	t.Helper()
	r := chi.NewRouter()
	r.Mount(mountPath, NewHandler(l, opts))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL + mountPath
}

type wirePage struct {
	Messages []struct {
		Message
		BodyText *string `json:"bodyText"`
	} `json:"messages"`
	NextSequenceNumber *int64 `json:"nextSequenceNumber"`
}

func (p wirePage) seqs() []int64 {
	out := []int64{}
	for _, m := range p.Messages {
		out = append(out, m.SequenceNumber)
	}
	return out
}

func getPage(t *testing.T, url string) wirePage {
	t.Helper()
	p, err := fetchPage(url)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fetchPage GETs a page and checks its shape; safe off the test goroutine.
func fetchPage(url string) (wirePage, error) {
	client := &http.Client{Timeout: 2 * MaxWaitSeconds * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return wirePage{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wirePage{}, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		return wirePage{}, fmt.Errorf("Content-Type %q", ct)
	}
	var p wirePage
	if err := json.Unmarshal(body, &p); err != nil {
		return wirePage{}, fmt.Errorf("page is not JSON: %v: %s", err, body)
	}
	if p.Messages == nil || p.NextSequenceNumber == nil {
		return wirePage{}, fmt.Errorf("page lacks messages or nextSequenceNumber: %s", body)
	}
	return p, nil
}

func TestHandlerPaging(t *testing.T) {
	l := openLog(t, Options{})
	for i := range 7 {
		mustAppend(t, l, msg("d", "", fmt.Sprint(i)))
	}
	base := serve(t, l, HandlerOptions{})
	var got []int64
	from := int64(0)
	for range 10 { // more than enough pages
		p := getPage(t, fmt.Sprintf("%s?api-version=2021-04-12&maxCount=3&fromSequenceNumber=%d", base, from))
		if len(p.Messages) > 3 {
			t.Fatalf("maxCount=3 gave %d messages", len(p.Messages))
		}
		got = append(got, p.seqs()...)
		from = *p.NextSequenceNumber
		if len(p.Messages) == 0 {
			break
		}
	}
	if !slices.Equal(got, seqRange(1, 7)) || from != 8 {
		t.Fatalf("paged %v, ending at %d", got, from)
	}
	// Without maxCount a page is DefaultMaxCount long; the trailing-slash-less mount works too.
	for range DefaultMaxCount {
		mustAppend(t, l, msg("d", "", "more"))
	}
	if p := getPage(t, base); len(p.Messages) != DefaultMaxCount || *p.NextSequenceNumber != DefaultMaxCount+1 {
		t.Fatalf("default page: %d messages, next %d", len(p.Messages), *p.NextSequenceNumber)
	}
}

func TestHandlerFiltersAndBodyText(t *testing.T) {
	c := newClock()
	l := openLog(t, Options{Now: c.Now})
	mustAppend(t, l, msg("d1", "", `{"a":1}`))
	c.Advance(time.Minute)
	mustAppend(t, l, Message{DeviceID: "d2", ModuleID: "m", Body: []byte{0xff, 0xfe}})
	c.Advance(time.Minute)
	mustAppend(t, l, msg("d1", "m", ""))
	base := serve(t, l, HandlerOptions{})

	tests := []struct {
		query string
		want  []int64
	}{
		{"deviceId=d1", []int64{1, 3}},
		{"deviceId=d2&moduleId=m", []int64{2}},
		{"moduleId=m", []int64{2, 3}},
		{"fromEnqueuedTime=2026-03-01T12:01:00Z", []int64{2, 3}},
		{"fromEnqueuedTime=2026-03-01T13:01:00%2B01:00", []int64{2, 3}},
		{"fromEnqueuedTime=2026-03-01T12:00:00.001Z", []int64{2, 3}},
		{"deviceId=d%31&fromSequenceNumber=2", []int64{3}},
		{"deviceId=", []int64{1, 2, 3}},
	}
	for _, tt := range tests {
		if p := getPage(t, base+"/?"+tt.query); !slices.Equal(p.seqs(), tt.want) {
			t.Errorf("?%s = %v, want %v", tt.query, p.seqs(), tt.want)
		}
	}

	p := getPage(t, base)
	if p.Messages[0].BodyText == nil || *p.Messages[0].BodyText != `{"a":1}` {
		t.Errorf("UTF-8 body has bodyText %v", p.Messages[0].BodyText)
	}
	if p.Messages[1].BodyText != nil || !bytes.Equal(p.Messages[1].Body, []byte{0xff, 0xfe}) {
		t.Errorf("binary body: bodyText %v, body %v", p.Messages[1].BodyText, p.Messages[1].Body)
	}
	if p.Messages[2].BodyText == nil || *p.Messages[2].BodyText != "" {
		t.Errorf("empty body has bodyText %v", p.Messages[2].BodyText)
	}
}

func TestHandlerPageGolden(t *testing.T) {
	c := newClock()
	l := openLog(t, Options{Now: c.Now})
	mustAppend(t, l, Message{
		DeviceID:         "thermostat",
		SystemProperties: SystemProperties(map[string]string{"mid": "m-1", "ct": "application/json", "ce": "utf-8"}),
		Properties:       map[string]string{"alert": "high"},
		Body:             []byte(`{"temperature":21.5}`),
	})
	c.Advance(1500 * time.Millisecond)
	mustAppend(t, l, Message{
		DeviceID:         "gateway",
		ModuleID:         "filter",
		SystemProperties: map[string]string{"iothub-connection-auth-method": `{"scope":"module","type":"sas","issuer":"iothub"}`, "iothub-connection-auth-generation-id": "638000000000000001", "iothub-outputname": "out1"},
		Body:             []byte{0x00, 0xc3},
	})
	rec := httptest.NewRecorder()
	NewHandler(l, HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest("GET", "/?maxCount=5", nil))
	var indented bytes.Buffer
	if err := json.Indent(&indented, rec.Body.Bytes(), "", "  "); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	golden(t, "page.golden.json", append(indented.Bytes(), '\n'))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestHandlerLongPoll(t *testing.T) {
	l := openLog(t, Options{})
	mustAppend(t, l, msg("d", "", "old"))
	base := serve(t, l, HandlerOptions{})

	t.Run("answers when a message arrives", func(t *testing.T) {
		done := make(chan wirePage, 1)
		go func() {
			p, err := fetchPage(base + "?waitSeconds=30&fromSequenceNumber=2&deviceId=d")
			if err != nil {
				t.Error(err)
			}
			done <- p
		}()
		time.Sleep(30 * time.Millisecond) // let the poll park (same outcome if it has not)
		sent := time.Now()
		mustAppend(t, l, msg("d", "", "new"))
		select {
		case p := <-done:
			if p.NextSequenceNumber == nil {
				return // reported above
			}
			if !slices.Equal(p.seqs(), []int64{2}) || *p.NextSequenceNumber != 3 {
				t.Fatalf("long poll = %v next %d", p.seqs(), *p.NextSequenceNumber)
			}
			if d := time.Since(sent); d > 2*time.Second {
				t.Fatalf("long poll answered %v after the message", d)
			}
		case <-time.After(wait):
			t.Fatal("long poll did not answer")
		}
	})
	t.Run("answers empty when the wait ends", func(t *testing.T) {
		start := time.Now()
		p := getPage(t, base+"?waitSeconds=1&deviceId=nobody")
		if len(p.Messages) != 0 || *p.NextSequenceNumber != 3 {
			t.Fatalf("timed-out poll = %v next %d", p.seqs(), *p.NextSequenceNumber)
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > wait {
			t.Fatalf("poll answered after %v", d)
		}
	})
	t.Run("answers at once when something matches", func(t *testing.T) {
		start := time.Now()
		p := getPage(t, base+"?waitSeconds=60")
		if !slices.Equal(p.seqs(), []int64{1, 2}) || time.Since(start) > 2*time.Second {
			t.Fatalf("poll = %v after %v", p.seqs(), time.Since(start))
		}
	})
}

func TestHandlerShutdownAnswersLongPoll(t *testing.T) {
	l := openLog(t, Options{})
	base := serve(t, l, HandlerOptions{})
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(base + "?waitSeconds=30")
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- resp
	}()
	time.Sleep(30 * time.Millisecond)
	l.Close()
	select {
	case resp := <-done:
		if resp == nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("iothub-errorcode") != "ServiceUnavailable" {
			t.Fatalf("poll during shutdown: %d %q", resp.StatusCode, resp.Header.Get("iothub-errorcode"))
		}
	case <-time.After(wait):
		t.Fatal("Close did not end the long poll")
	}
}

func TestHandlerErrors(t *testing.T) {
	l := openLog(t, Options{})
	base := serve(t, l, HandlerOptions{})
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "?maxCount=0", 400, "ArgumentInvalid"},
		{"GET", "?maxCount=1001", 400, "ArgumentInvalid"},
		{"GET", "?maxCount=ten", 400, "ArgumentInvalid"},
		{"GET", "?waitSeconds=61", 400, "ArgumentInvalid"},
		{"GET", "?waitSeconds=-1", 400, "ArgumentInvalid"},
		{"GET", "?waitSeconds=1.5", 400, "ArgumentInvalid"},
		{"GET", "?fromSequenceNumber=-1", 400, "ArgumentInvalid"},
		{"GET", "?fromSequenceNumber=99999999999999999999", 400, "ArgumentInvalid"},
		{"GET", "?fromEnqueuedTime=yesterday", 400, "ArgumentInvalid"},
		{"GET", "?fromEnqueuedTime=2026-03-01", 400, "ArgumentInvalid"},
		{"GET", "?deviceId=a&deviceId=b", 400, "ArgumentInvalid"},
		{"GET", "?deviceId=%zz", 400, "ArgumentInvalid"},
		{"GET", "/stream?maxCount=0", 400, "ArgumentInvalid"},
		{"GET", "/stream?fromSequenceNumber=x", 400, "ArgumentInvalid"},
		{"POST", "", 404, "IotHubNotFound"},
		{"DELETE", "/stream", 404, "IotHubNotFound"},
		{"GET", "/nothing", 404, "IotHubNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Message, ExceptionMessage string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if resp.StatusCode != tt.status || resp.Header.Get("iothub-errorcode") != tt.code ||
				!strings.HasPrefix(body.Message, "ErrorCode:"+tt.code+";") || !strings.HasPrefix(body.ExceptionMessage, "Tracking ID:") {
				t.Fatalf("%d %q %+v", resp.StatusCode, resp.Header.Get("iothub-errorcode"), body)
			}
		})
	}
	if got, _ := l.Read(Filter{}, 10); len(got) != 0 {
		t.Fatal("a bad request changed the log")
	}
}
