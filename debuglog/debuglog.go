// Package debuglog writes the emulator's wire log: every REST request and
// every MQTT packet as one JSON line, with SAS signatures redacted, so a user
// can attach it to a bug report.
package debuglog

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// maxBody bounds how much of a body one line carries.
const maxBody = 4096

// Log writes JSON lines to w. A nil *Log writes nothing, so callers need no
// checks.
type Log struct {
	mu  sync.Mutex
	enc *json.Encoder
	now func() time.Time
}

// New returns a log writing to w.
func New(w io.Writer, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{enc: json.NewEncoder(w), now: now}
}

// secrets find what must never reach the log: SAS signatures (in headers
// and query strings), keys in connection strings, and symmetric keys in
// identity and seed bodies (JSON "primaryKey": "…", YAML primary: …).
var secrets = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(sig=)[^&\s"]*`),
	regexp.MustCompile(`(?i)(SharedAccessKey=)[^;&\s"]*`),
	regexp.MustCompile(`(?i)("(?:primary|secondary)(?:Key)?"\s*:\s*")[^"]*`),
	regexp.MustCompile(`(?i)(\b(?:primary|secondary)(?:Key)?\s*:\s*["']?)[A-Za-z0-9+/=]{8,}`),
}

// Redact removes SAS signatures and keys (and so the power to connect) from s.
func Redact(s string) string {
	for _, re := range secrets {
		s = re.ReplaceAllString(s, "${1}REDACTED")
	}
	return s
}

// Entry is one line of the log.
type Entry struct {
	Time      string            `json:"time"`
	Protocol  string            `json:"protocol"` // "http" or "mqtt"
	Direction string            `json:"direction,omitempty"`
	Client    string            `json:"client,omitempty"`
	Packet    string            `json:"packet,omitempty"`
	Topic     string            `json:"topic,omitempty"`
	Method    string            `json:"method,omitempty"`
	URL       string            `json:"url,omitempty"`
	Status    int               `json:"status,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      string            `json:"body,omitempty"`
	Detail    map[string]any    `json:"detail,omitempty"`
	Duration  string            `json:"duration,omitempty"`
}

// Write appends one entry, stamping its time.
func (l *Log) Write(e Entry) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Time = l.now().UTC().Format(time.RFC3339Nano)
	_ = l.enc.Encode(e) // a failing debug log must never fail the request it describes
}

// Body renders a payload for the log: text as is, binary as a note, cut at maxBody.
func Body(b []byte) string {
	if len(b) > maxBody {
		return Redact(string(b[:maxBody])) + "…(truncated)"
	}
	return Redact(string(b))
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Middleware logs every request with its headers, body and status.
func (l *Log) Middleware(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := l.now()
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		}
		headers := make(map[string]string, len(r.Header))
		for k, v := range r.Header {
			if len(v) > 0 {
				headers[k] = Redact(v[0])
			}
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		l.Write(Entry{
			Protocol: "http", Method: r.Method, URL: Redact(r.URL.RequestURI()), Status: rec.status,
			Headers: headers, Body: Body(body), Duration: l.now().Sub(start).String(),
		})
	})
}
