package scalebench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/certs"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

var (
	twinsFlag = flag.Int("scale.twins", envInt("SCALE_TWINS", 100_000), "twins in the populated fleet (env SCALE_TWINS)")
	connsFlag = flag.Int("scale.conns", envInt("SCALE_CONNS", 1000), "idle MQTT/TLS connections of the memory row (env SCALE_CONNS)")
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// wait bounds every single operation of the benchmarks.
const wait = 30 * time.Second

const apiVersion = "api-version=2021-04-12"

// workDir holds what a run builds and populates; TestMain removes it. It
// is made on first use, so that plain `go test` does nothing heavy.
var (
	workDirOnce sync.Once
	workDirPath string
	workDirErr  error
)

func workDir(tb testing.TB) string {
	tb.Helper()
	workDirOnce.Do(func() { workDirPath, workDirErr = os.MkdirTemp("", "scalebench-") })
	if workDirErr != nil {
		tb.Fatal(workDirErr)
	}
	return workDirPath
}

// cleanups run after every benchmark: processes shared between benchmarks
// stop there.
var (
	cleanupMu sync.Mutex
	cleanups  []func() error
)

func atExit(f func() error) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(cleanups) {
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if workDirPath != "" {
		os.RemoveAll(workDirPath)
	}
	os.Exit(code)
}

// binaries are the emulator and the baselines' program, built once per run.
type binaries struct{ emulator, base string }

var (
	binOnce sync.Once
	bins    binaries
	binErr  error
)

func build(tb testing.TB) binaries {
	tb.Helper()
	dir := workDir(tb)
	binOnce.Do(func() {
		bins = binaries{filepath.Join(dir, "iothub-emulator"), filepath.Join(dir, "scalebase")}
		for pkg, out := range map[string]string{
			"github.com/iothub-emulator/iothub-emulator/cmd/iothub-emulator":               bins.emulator,
			"github.com/iothub-emulator/iothub-emulator/internal/scalebench/cmd/scalebase": bins.base,
		} {
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return bins
}

// tlsFiles is one server certificate, made by the emulator's own
// certificate code (an ECDSA P-256 leaf for 127.0.0.1 and localhost under
// a CA), served by the emulator and by every TLS baseline alike, so both
// sides pay for the same handshakes.
type tlsFiles struct {
	cert, key string
	pool      *x509.CertPool
}

var (
	tlsOnce sync.Once
	tlsF    tlsFiles
	tlsErr  error
)

func serverTLS(tb testing.TB) tlsFiles {
	tb.Helper()
	dir := workDir(tb)
	tlsOnce.Do(func() { tlsF, tlsErr = writeServerTLS(dir) })
	if tlsErr != nil {
		tb.Fatal(tlsErr)
	}
	return tlsF
}

func writeServerTLS(dir string) (tlsFiles, error) {
	b, err := certs.LoadOrCreate("", []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		return tlsFiles{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(b.Certificate.PrivateKey)
	if err != nil {
		return tlsFiles{}, err
	}
	var chain []byte
	for _, der := range b.Certificate.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	f := tlsFiles{cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"), pool: x509.NewCertPool()}
	f.pool.AppendCertsFromPEM(b.CAPEM)
	if err := os.WriteFile(f.cert, chain, 0o600); err != nil {
		return tlsFiles{}, err
	}
	return f, os.WriteFile(f.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

func clientTLS(tb testing.TB) *tls.Config {
	return &tls.Config{RootCAs: serverTLS(tb).pool, ServerName: "127.0.0.1"}
}

// newHTTPClient is one keep-alive HTTPS client with a connection of its own.
func newHTTPClient(tb testing.TB) *http.Client {
	return &http.Client{Timeout: wait, Transport: &http.Transport{
		TLSClientConfig:     clientTLS(tb),
		MaxIdleConnsPerHost: 1,
		ForceAttemptHTTP2:   false,
	}}
}

// freePort is a loopback port free right now, for the emulator's flags.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a server the benchmark started; stop ends it with SIGINT (the
// emulator then closes its store cleanly) and waits.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProcess(tb testing.TB, name string, args ...string) *process {
	tb.Helper()
	p := &process{cmd: exec.Command(name, args...), lines: make(chan string, 256), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	orphanProof(p.cmd)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads the rest of the banner
			}
		}
		close(p.lines)
	}()
	go func() { p.cmd.Wait(); close(p.done) }()
	return p
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// line waits for the next stdout line that starts with prefix.
func (p *process) line(tb testing.TB, prefix string) string {
	tb.Helper()
	timeout := time.After(2 * wait)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				tb.Fatalf("%s exited before printing %q: %s", p.cmd.Path, prefix, p.stderr)
			}
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return strings.TrimSpace(l)
			}
		case <-timeout:
			tb.Fatalf("%s printed no %q", p.cmd.Path, prefix)
		}
	}
}

func (p *process) stop(tb testing.TB) {
	tb.Helper()
	if err := p.stopErr(); err != nil {
		tb.Error(err)
	}
}

// stopErr is stop for the processes shared between benchmarks, which
// TestMain stops after the last one.
func (p *process) stopErr() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	p.stdin.Close()
	select {
	case <-p.done:
		return nil
	case <-time.After(2 * wait):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop on SIGINT within %s", p.cmd.Path, 2*wait)
	}
}

// emulatorProc is the built emulator serving dataDir on free loopback ports.
type emulatorProc struct {
	*process
	http, https, mqtts string // addresses
	conn               sas.ConnectionString
	started            time.Time // just before exec
}

// startEmulator execs the emulator and returns once /healthz answers 200
// on its plain HTTP port (polled on loopback), which is the cold start.
func startEmulator(tb testing.TB, dataDir string) *emulatorProc {
	tb.Helper()
	bin := build(tb).emulator
	cert := serverTLS(tb)
	ports := map[string]int{}
	args := []string{"--bind", "127.0.0.1", "--data-dir", dataDir, "--log-level", "warn",
		"--tls-cert", cert.cert, "--tls-key", cert.key}
	for _, l := range []string{"mqtts", "https", "mqtt", "http", "amqps", "amqp"} {
		ports[l] = freePort(tb)
		args = append(args, "--"+l+"-port", strconv.Itoa(ports[l]))
	}
	e := &emulatorProc{
		http:  "127.0.0.1:" + strconv.Itoa(ports["http"]),
		https: "127.0.0.1:" + strconv.Itoa(ports["https"]),
		mqtts: "127.0.0.1:" + strconv.Itoa(ports["mqtts"]),
	}
	e.started = time.Now()
	e.process = startProcess(tb, bin, args...)
	health := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Minute) // a cold start of a large fleet is slow today
	for {
		resp, err := health.Get("http://" + e.http + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-e.done:
			tb.Fatalf("the emulator exited during its start: %s", e.stderr)
		default:
		}
		if time.Now().After(deadline) {
			e.stop(tb)
			tb.Fatalf("the emulator did not answer /healthz within 10 minutes")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return e
}

// service reads the owner's connection string from the banner (printed
// right after the start).
func (e *emulatorProc) service(tb testing.TB) sas.ConnectionString {
	tb.Helper()
	if e.conn.HostName == "" {
		e.line(tb, "Service connection string")
		cs, err := sas.ParseConnectionString(e.line(tb, "HostName="))
		if err != nil {
			tb.Fatal(err)
		}
		e.conn = cs
	}
	return e.conn
}

// serviceToken signs as the owner policy.
func (e *emulatorProc) serviceToken(tb testing.TB) string {
	tb.Helper()
	cs := e.service(tb)
	tok, err := sas.NewToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(2*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// importFleet POSTs the twins from..to-1 to /emulator/import over plain
// HTTP, in chunks of 1,000, and returns the time the requests took.
func (e *emulatorProc) importFleet(tb testing.TB, prefix string, from, to int) time.Duration {
	tb.Helper()
	tok := e.serviceToken(tb)
	client := &http.Client{Timeout: 10 * time.Minute}
	const chunk = 1000
	// The documents are made before the first request, so that the time is
	// the emulator's imports alone and not this process encoding them.
	var docs [][]byte
	for i := from; i < to; i += chunk {
		docs = append(docs, FleetDocument(prefix, i, min(i+chunk, to)))
	}
	start := time.Now()
	for n, i := 0, from; i < to; n, i = n+1, i+chunk {
		req, err := http.NewRequest("POST", "http://"+e.http+"/emulator/import?"+apiVersion, bytes.NewReader(docs[n]))
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set("Authorization", tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			tb.Fatalf("import of twins %d..%d: %d %s", i, min(i+chunk, to), resp.StatusCode, body)
		}
	}
	return time.Since(start)
}

// baseProc is a scalebase server.
type baseProc struct {
	*process
	https, mqtts string
}

func startBase(tb testing.TB, mode string, extra ...string) *baseProc {
	tb.Helper()
	cert := serverTLS(tb)
	p := &baseProc{process: startProcess(tb, build(tb).base, append([]string{mode, "-cert", cert.cert, "-key", cert.key}, extra...)...)}
	for {
		l := p.line(tb, "")
		if l == "ready" {
			return p
		}
		if a, ok := strings.CutPrefix(l, "https "); ok {
			p.https = a
		}
		if a, ok := strings.CutPrefix(l, "mqtts "); ok {
			p.mqtts = a
		}
	}
}

// fleet is the populated data directory of -scale.twins twins, made once
// per run through /emulator/import of the built emulator.
type fleet struct {
	dir      string
	dbFile   string
	twins    int
	dbSize   int64
	importIn time.Duration // the imports alone
	total    time.Duration // start, imports and stop
}

var (
	fleetOnce sync.Once
	theFleet  *fleet
)

func populated(b *testing.B) *fleet {
	b.Helper()
	fleetOnce.Do(func() {
		n := *twinsFlag
		f := &fleet{dir: filepath.Join(workDir(b), "fleet"), twins: n}
		f.dbFile = filepath.Join(f.dir, "iothub.db")
		start := time.Now()
		e := startEmulator(b, f.dir)
		e.service(b)
		f.importIn = e.importFleet(b, "twin", 0, n)
		e.stop(b)
		f.total = time.Since(start)
		st, err := os.Stat(f.dbFile)
		if err != nil {
			b.Fatal(err)
		}
		f.dbSize = st.Size()
		b.Logf("populated %d twins in %s (imports %s, %.0f twins/s); data file %.1f MiB",
			n, f.total.Round(time.Millisecond), f.importIn.Round(time.Millisecond), float64(n)/f.importIn.Seconds(), float64(f.dbSize)/(1<<20))
		theFleet = f
	})
	if theFleet == nil {
		b.Fatal("the fleet could not be populated (see the first benchmark's error)")
	}
	return theFleet
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}
