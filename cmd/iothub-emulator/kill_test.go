package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/scalebench"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// killArgs start an emulator over a data directory on free plain ports.
func killArgs(dataDir string) []string {
	return []string{"serve", "--data-dir", dataDir, "--log-level", "warn", "--mqtts-port", "off", "--https-port", "off", "--mqtt-port", "0", "--http-port", "0", "--amqps-port", "off", "--amqp-port", "off"}
}

// TestKillNineKeepsAcknowledgedWrites runs the emulator in a child process
// (this test binary, re-executed), writes devices and desired properties
// to it from several clients over REST, and fleets of twins through
// /emulator/import (batches that go through the write-ahead log as large
// records), kills it with SIGKILL while they write, starts it again over
// the same data directory and checks that every write the emulator
// answered with a success is there.
func TestKillNineKeepsAcknowledgedWrites(t *testing.T) {
	if dir := os.Getenv("IOTHUB_EMULATOR_KILL_CHILD"); dir != "" {
		os.Exit(run(killArgs(dir), os.Stdout, os.Stderr))
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()

	svc := startChild(t, dir)
	const clients, devicesEach = 4, 400
	var mu sync.Mutex
	created := map[string]bool{} // devices whose PUT got a 200
	desired := map[string]int{}  // the last desired n a PATCH got a 200 for
	imported := 0                // twins imp-000000 on, in chunks that got a 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		const chunk = 300 // about 1 MB a batch
		for from := 0; from < 200*chunk; from += chunk {
			if svc.do("POST", "/emulator/import", string(scalebench.FleetDocument("imp", from, from+chunk))) != 200 {
				return
			}
			mu.Lock()
			imported = from + chunk
			mu.Unlock()
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	for c := range clients {
		wg.Go(func() {
			for i := range devicesEach {
				id := fmt.Sprintf("c%d-d%03d", c, i)
				if svc.do("PUT", "/devices/"+id, `{"deviceId":"`+id+`"}`) != 200 {
					return // the emulator is gone
				}
				mu.Lock()
				created[id] = true
				mu.Unlock()
				for n := 1; n <= 3; n++ {
					if svc.do("PATCH", "/twins/"+id, fmt.Sprintf(`{"properties":{"desired":{"n":%d}}}`, n)) != 200 {
						return
					}
					mu.Lock()
					desired[id] = n
					mu.Unlock()
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	// Kill once a fair number of writes has been acknowledged, while the
	// clients are still writing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n, m := len(created), imported
		mu.Unlock()
		if n >= 150 && m >= 1500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d devices created and %d twins imported before the deadline", n, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
	svc.cmd.Process.Signal(syscall.SIGKILL)
	svc.cmd.Wait()
	close(stop)
	wg.Wait()

	svc2 := startChild(t, dir)
	for id := range created {
		var twin struct {
			Properties struct {
				Desired struct {
					N int `json:"n"`
				} `json:"desired"`
			} `json:"properties"`
		}
		if st := svc2.get("/twins/"+id, &twin); st != 200 {
			t.Fatalf("acknowledged device %s: GET its twin answered %d after the kill", id, st)
		}
		// An unacknowledged later patch may have committed too: at least
		// the acknowledged value, never less.
		if twin.Properties.Desired.N < desired[id] {
			t.Fatalf("device %s: desired n %d after the kill, %d was acknowledged", id, twin.Properties.Desired.N, desired[id])
		}
	}
	for i := range imported {
		id := fmt.Sprintf("imp-%06d", i)
		var twin struct {
			Tags struct {
				Floor int `json:"floor"`
			} `json:"tags"`
		}
		if st := svc2.get("/twins/"+id, &twin); st != 200 || twin.Tags.Floor != i%10 {
			t.Fatalf("imported twin %s: GET answered %d, tags.floor %d (want %d) after the kill", id, st, twin.Tags.Floor, i%10)
		}
	}
	t.Logf("%d devices, %d desired patches and %d imported twins acknowledged before the kill, all there after it", len(created), sum(desired), imported)
	svc2.cmd.Process.Signal(syscall.SIGTERM)
	if err := svc2.cmd.Wait(); err != nil {
		t.Fatalf("second emulator after SIGTERM: %v", err)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

type childEmulator struct {
	t     *testing.T
	cmd   *exec.Cmd
	base  string // http://host:port
	token string
	http  *http.Client
}

var (
	restLine = regexp.MustCompile(`REST API, plain \(debugging\)\s+(http://\S+)`)
	ownerCS  = regexp.MustCompile(`(HostName=\S+;SharedAccessKeyName=iothubowner;SharedAccessKey=\S+)`)
)

// startChild starts the emulator in a child process over dir and reads
// its REST address and owner key from its banner.
func startChild(t *testing.T, dir string) *childEmulator {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestKillNineKeepsAcknowledgedWrites$")
	cmd.Env = append(os.Environ(), "IOTHUB_EMULATOR_KILL_CHILD="+filepath.Clean(dir))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &childEmulator{t: t, cmd: cmd, http: &http.Client{Timeout: 10 * time.Second}}
	var cs string
	lines := bufio.NewScanner(out)
	found := make(chan struct{})
	go func() {
		for lines.Scan() {
			line := lines.Text()
			if m := restLine.FindStringSubmatch(line); m != nil {
				c.base = m[1]
			}
			if m := ownerCS.FindStringSubmatch(line); m != nil {
				cs = m[1]
			}
			if strings.Contains(line, "Press Ctrl+C") {
				close(found)
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("the emulator did not print its banner")
	}
	parsed, err := sas.ParseConnectionString(cs)
	if err != nil || c.base == "" {
		t.Fatalf("banner: REST %q, connection string %q: %v", c.base, cs, err)
	}
	if c.token, err = sas.NewToken(parsed.HostName, parsed.SharedAccessKey, parsed.SharedAccessKeyName, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a request and returns its status, or 0 if none came.
func (c *childEmulator) do(method, path, body string) int {
	req, err := http.NewRequest(method, c.base+path+"?api-version=2021-04-12", strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (c *childEmulator) get(path string, into any) int {
	req, err := http.NewRequest("GET", c.base+path+"?api-version=2021-04-12", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			c.t.Fatal(err)
		}
	}
	return resp.StatusCode
}
