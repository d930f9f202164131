package scalebench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// coldStarts are the starts of the populated fleet both BenchmarkColdStart
// and BenchmarkStartRSS report on, measured once per run.
type coldStarts struct {
	emulator, bolt []float64 // seconds, one per round
	rss            []float64 // bytes, right after each emulator start
}

const startRounds = 3

var (
	startsOnce sync.Once
	starts     *coldStarts
)

func measureStarts(b *testing.B) *coldStarts {
	b.Helper()
	f := populated(b)
	startsOnce.Do(func() {
		base := build(b).base
		s := &coldStarts{}
		// Alternating rounds, the baseline first so that both find the
		// file in the page cache.
		for range startRounds {
			t0 := time.Now()
			out, err := exec.Command(base, "bolt", f.dbFile).CombinedOutput()
			if err != nil {
				b.Fatalf("reading the bbolt file: %v: %s", err, out)
			}
			s.bolt = append(s.bolt, time.Since(t0).Seconds())

			e := startEmulator(b, f.dir)
			s.emulator = append(s.emulator, time.Since(e.started).Seconds())
			rss, err := ProcessRSS(e.pid())
			if err != nil {
				e.stop(b)
				b.Fatal(err)
			}
			s.rss = append(s.rss, float64(rss))
			e.stop(b)
		}
		b.Logf("%d twins: emulator starts %v s, bbolt reads %v s, RSS %v", f.twins, s.emulator, s.bolt, s.rss)
		starts = s
	})
	if starts == nil {
		b.Fatal("the cold starts could not be measured (see the first benchmark's error)")
	}
	return starts
}

// BenchmarkColdStart measures the time from exec of the emulator over the
// populated fleet to the first 200 from /healthz, against a process
// (scalebase bolt) that opens the same bbolt file read-only and reads
// every value of every bucket, exec to exit. It reports x-bolt-read, the
// median start over the median read (goal ≤ 3).
func BenchmarkColdStart(b *testing.B) {
	s := measureStarts(b)
	b.ReportMetric(median(s.emulator), "s-start")
	b.ReportMetric(median(s.bolt), "s-bolt-read")
	b.ReportMetric(median(s.emulator)/median(s.bolt), "x-bolt-read")
}

// BenchmarkStartRSS reports the emulator's resident memory right after a
// cold start of the populated fleet (VmRSS from /proc when /healthz first
// answers 200) against the size of its data file: x-data-file, the median
// over the starts (goal ≤ 2).
func BenchmarkStartRSS(b *testing.B) {
	s := measureStarts(b)
	f := populated(b)
	b.ReportMetric(median(s.rss)/(1<<20), "MiB-rss")
	b.ReportMetric(float64(f.dbSize)/(1<<20), "MiB-data-file")
	b.ReportMetric(median(s.rss)/float64(f.dbSize), "x-data-file")
}

// BenchmarkImport reports the rate at which the fleet was loaded through
// /emulator/import (chunks of 1,000 twins over plain HTTP, one at a time):
// twins/s, an absolute rate (goal ≥ 50,000); s-populate is the whole
// population, the emulator's start and stop included.
func BenchmarkImport(b *testing.B) {
	f := populated(b)
	b.ReportMetric(float64(f.twins)/f.importIn.Seconds(), "twins/s")
	b.ReportMetric(f.total.Seconds(), "s-populate")
}

// BenchmarkSelectAllPaging pages `SELECT * FROM devices` through the whole
// populated fleet, 1,000 a page (x-ms-max-item-count, x-ms-continuation),
// over HTTPS with one keep-alive client that reads each page's body to the
// end and drops it: bytes/s of JSON out of the emulator. The baseline is a
// streamed read of the same JSON from a file: the page bodies of a first
// (untimed) pass, concatenated into one file, read back through a 64 KiB
// bufio.Reader by an encoding/json Decoder that walks each array with
// Token and decodes every twin into a json.RawMessage (so every byte is
// scanned and validated, none is built into maps). It reports ratio, the
// emulator's bytes/s over the baseline's (goal ≥ 0.25), over two
// alternating rounds each.
func BenchmarkSelectAllPaging(b *testing.B) {
	f := populated(b)
	e := startEmulator(b, f.dir)
	defer e.stop(b)
	tok := e.serviceToken(b)
	client := newHTTPClient(b)
	file := filepath.Join(workDir(b), "pages.json")

	// page reads every page into w and, with decode, counts the twins.
	page := func(w io.Writer, decode bool) (bytes int64, twins int) {
		cont := ""
		for pages := 0; ; pages++ {
			if pages > f.twins/1000+2 {
				b.Fatalf("more pages than %d twins can fill", f.twins)
			}
			req, _ := http.NewRequest("POST", "https://"+e.https+"/devices/query?"+apiVersion, bytesReader(`{"query":"SELECT * FROM devices"}`))
			req.Header.Set("Authorization", tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("x-ms-max-item-count", "1000")
			if cont != "" {
				req.Header.Set("x-ms-continuation", cont)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				b.Fatalf("query: %d %s", resp.StatusCode, body)
			}
			cr := &countingReader{r: io.TeeReader(resp.Body, w)}
			var n int
			if decode {
				n, err = decodeArrays(cr)
			} else {
				_, err = io.Copy(io.Discard, cr)
			}
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			bytes += cr.n
			twins += n
			if cont = resp.Header.Get("x-ms-continuation"); cont == "" {
				return bytes, twins
			}
		}
	}
	fromFile := func() (int64, int) {
		fh, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		cr := &countingReader{r: bufio.NewReaderSize(fh, 64<<10)}
		n, err := decodeArrays(cr)
		if err != nil {
			b.Fatal(err)
		}
		return cr.n, n
	}

	// The first round writes the file (outside the timing of either side).
	var buf bytes.Buffer
	if _, n := page(&buf, true); n != f.twins {
		b.Fatalf("paged %d twins, the fleet has %d", n, f.twins)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	var emuBytes, baseBytes int64
	var emuTime, baseTime time.Duration
	b.ResetTimer()
	for range 2 {
		t0 := time.Now()
		n, twins := fromFile()
		baseTime += time.Since(t0)
		baseBytes += n
		if twins != f.twins {
			b.Fatalf("the file has %d twins, want %d", twins, f.twins)
		}
		t0 = time.Now()
		n, _ = page(io.Discard, false)
		emuTime += time.Since(t0)
		emuBytes += n
		if n != int64(buf.Len()) {
			b.Fatalf("paged %d bytes, the first pass %d", n, buf.Len())
		}
	}
	b.StopTimer()
	emuRate := float64(emuBytes) / emuTime.Seconds()
	baseRate := float64(baseBytes) / baseTime.Seconds()
	b.ReportMetric(emuRate/1e6, "MB/s-paged")
	b.ReportMetric(baseRate/1e6, "MB/s-file")
	b.ReportMetric(emuRate/baseRate, "ratio")
}

func bytesReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decodeArrays decodes one or more concatenated JSON arrays element by
// element (never a whole array at once) into json.RawMessage, which scans
// and validates every byte, and counts the elements.
func decodeArrays(r io.Reader) (int, error) {
	dec := json.NewDecoder(r)
	n := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return n, fmt.Errorf("want an array, got %v", tok)
		}
		for dec.More() {
			var twin json.RawMessage
			if err := dec.Decode(&twin); err != nil {
				return n, err
			}
			n++
		}
		if _, err := dec.Token(); err != nil { // ']'
			return n, err
		}
	}
}
