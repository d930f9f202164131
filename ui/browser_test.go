package ui_test

// Browser tests: a real emulator, real MQTT devices, and headless Chromium
// driving the dashboard. They check that the pages show the hub's state,
// that live telemetry arrives within a second, that a desired property
// edited in the page reaches a connected device, that a direct method
// shows the device's answer, that nothing rendered can run script, and
// they take a screenshot of each page, kept under testdata/ for review by
// eye when the tests run with -update.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	pngpkg "image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

const wait = 5 * time.Second

// xss is in a tag and a telemetry body: rendered as markup it would set
// window.pwned.
const xss = `<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>`

// chromium finds the browser, or skips (fails under CI) saying how to get it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium for the browser tests: install it (Debian: apt-get install -y chromium; `make test` does so as root)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts headless Chromium and returns a tab context that fails
// the test on any uncaught page error or console error.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests may run as root, where the sandbox cannot start
		chromedp.WindowSize(1360, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Sleep(0)); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var pageErrors []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			pageErrors = append(pageErrors, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				pageErrors = append(pageErrors, "console.error: "+strings.Join(args, " "))
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range pageErrors {
			t.Errorf("page error: %s", e)
		}
	})
	return ctx
}

// run runs actions with a bound on how long they may take.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// evaluate runs one action that returns a value, bounded in time.
func evaluate[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// waitJS polls a JavaScript expression until it is truthy. It evaluates
// again after an error, as a page that navigates destroys the context an
// evaluation runs in.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		deadline := time.Now().Add(wait)
		ok, err := false, error(nil)
		for {
			ok, err = chromedp.Evaluate[bool]("Boolean("+expr+")")(ctx, t)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				if err == nil {
					err = fmt.Errorf("still false after %v", wait)
				}
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", expr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// text is the text of the first element matching sel, as JavaScript.
func text(sel string) string {
	return fmt.Sprintf("(document.querySelector(%q)?.textContent || '')", sel)
}

// setField fills a form control as typing would, firing its input event.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, jsString(value)))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// screenshot takes a picture of the page, which must be a PNG of a
// rendered page; with -update it is saved under testdata/ (so plain test
// runs leave the tree as it was).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	run(t, ctx, "settle before "+name, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0); document.activeElement?.blur(); document.getElementById("toast")?.classList.remove("show")`), chromedp.Sleep(150*time.Millisecond))
	png, err := evaluate(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := pngpkg.DecodeConfig(bytes.NewReader(png))
	if err != nil || cfg.Width < 400 || cfg.Height < 200 {
		t.Fatalf("screenshot %s is not a rendered page: %v (%dx%d)", name, err, cfg.Width, cfg.Height)
	}
	if !testkit.Updating() {
		return
	}
	if err := os.WriteFile(filepath.Join("testdata", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noScriptRan checks that nothing rendered has run injected script.
func noScriptRan(t *testing.T, ctx context.Context) {
	t.Helper()
	pwned, err := evaluate(ctx, chromedp.Evaluate[bool](`window.pwned === 1 || document.querySelector('main img, main script') !== null`))
	if err != nil {
		t.Fatalf("check for injected script: %v", err)
	}
	if pwned {
		t.Fatal("markup from data was rendered as markup")
	}
}

func startEmulator(t *testing.T, policyKeys map[string]string) *emulator.Emulator {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = emulator.Off, 0, 0, 0
	cfg.AMQPSPort, cfg.AMQPPort = emulator.Off, emulator.Off
	cfg.InMemory = true
	cfg.PolicyKeys = policyKeys
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// rest calls the emulator's REST API as iothubowner.
func rest(t *testing.T, e *emulator.Emulator, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+e.Addr(emulator.HTTP)+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := sas.ParseConnectionString(e.ConnectionString("iothubowner"))
	tok, _ := sas.NewToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// createDevice creates a device with tags and returns its primary key.
func createDevice(t *testing.T, e *emulator.Emulator, id string, tags map[string]any) string {
	t.Helper()
	var d struct {
		Authentication struct{ SymmetricKey struct{ PrimaryKey string } }
	}
	if st := rest(t, e, "PUT", "/devices/"+id, map[string]string{"deviceId": id}, &d); st != 200 {
		t.Fatalf("create %s: %d", id, st)
	}
	if tags != nil {
		if st := rest(t, e, "PATCH", "/twins/"+id, map[string]any{"tags": tags}, nil); st != 200 {
			t.Fatalf("tag %s: %d", id, st)
		}
	}
	return d.Authentication.SymmetricKey.PrimaryKey
}

// device is a device client over plain MQTT that answers direct methods
// and records what it receives.
type device struct {
	t      *testing.T
	id     string
	client paho.Client
	msgs   chan paho.Message
}

func connect(t *testing.T, e *emulator.Emulator, id, key string) *device {
	t.Helper()
	tok, err := sas.NewToken("127.0.0.1/devices/"+id, key, "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, id: id, msgs: make(chan paho.Message, 64)}
	d.client = paho.NewClient(paho.NewClientOptions().
		AddBroker("tcp://" + e.Addr(emulator.MQTT)).
		SetClientID(id).SetUsername("127.0.0.1/" + id + "/?api-version=2021-04-12").SetPassword(tok).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { d.msgs <- m }))
	if tk := d.client.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("connect %s: %v", id, tk.Error())
	}
	t.Cleanup(func() { d.client.Disconnect(50) })
	for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "devices/" + id + "/messages/devicebound/#"} {
		if tk := d.client.Subscribe(f, 1, nil); !tk.WaitTimeout(wait) || tk.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tk.Error())
		}
	}
	// Methods are answered at once: {"answer": 42, "asked": <payload>}.
	tk := d.client.Subscribe("$iothub/methods/POST/#", 0, func(c paho.Client, m paho.Message) {
		rid := m.Topic()[strings.LastIndex(m.Topic(), "$rid=")+len("$rid="):]
		c.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, fmt.Sprintf(`{"answer":42,"asked":%s}`, m.Payload()))
	})
	if !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe methods: %v", tk.Error())
	}
	return d
}

func (d *device) publish(topic, payload string) {
	d.t.Helper()
	if tk := d.client.Publish(topic, 1, false, payload); !tk.WaitTimeout(wait) || tk.Error() != nil {
		d.t.Fatalf("%s publish %s: %v", d.id, topic, tk.Error())
	}
}

func (d *device) telemetry(body, props string) {
	d.publish("devices/"+d.id+"/messages/events/"+props, body)
}

// await waits for a message on a topic starting with prefix.
func (d *device) await(prefix string) paho.Message {
	d.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-d.msgs:
			if strings.HasPrefix(m.Topic(), prefix) {
				return m
			}
		case <-deadline:
			d.t.Fatalf("%s: nothing on %s within %v", d.id, prefix, wait)
		}
	}
}

// telemetryWithinASecond publishes a message and checks the page shows it
// within a second.
func telemetryWithinASecond(t *testing.T, ctx context.Context, d *device, list, body string) {
	t.Helper()
	start := time.Now()
	d.telemetry(body, "kind=probe")
	run(t, ctx, "telemetry appears", waitJS(fmt.Sprintf(`%s.includes(%s)`, text(list), jsString(body))))
	if took := time.Since(start); took > time.Second {
		t.Errorf("telemetry took %v to appear, want under a second", took)
	}
}

func TestDashboardInABrowser(t *testing.T) {
	ctx := browser(t)
	e := startEmulator(t, nil)
	base := "http://" + e.Addr(emulator.HTTP)

	key := createDevice(t, e, "thermostat-01", map[string]any{"student": "Ada", "room": "101"})
	for i, name := range []string{"Ada", "Grace", "Grace", "Linus"} {
		createDevice(t, e, fmt.Sprintf("student-%02d", i+1), map[string]any{"student": name})
	}
	createDevice(t, e, "visitor", map[string]any{"student": xss})
	dev := connect(t, e, "thermostat-01", key)
	dev.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", `{"firmware":"1.2.3"}`)
	dev.await("$iothub/twin/res/204/")
	if st := rest(t, e, "POST", "/emulator/faults", map[string]any{"fault": "delayTwin", "deviceId": "student-02", "delaySeconds": 2, "durationSeconds": 600}, nil); st != 201 {
		t.Fatalf("add fault: %d", st)
	}

	t.Run("devices", func(t *testing.T) {
		run(t, ctx, "open the device list", chromedp.Navigate(base+"/ui/"),
			waitJS(`document.querySelector('tr[data-device-id="thermostat-01"] .conn')?.textContent === 'Connected'`),
			waitJS(text("#device-count")+` === '6 devices'`),
			waitJS(`document.querySelector('tr[data-device-id="student-01"] .conn')?.textContent === 'Disconnected'`))
		noScriptRan(t, ctx)
		screenshot(t, ctx, "devices.png")

		// A device connecting shows without reloading the page.
		other := connect(t, e, "student-01", createKey(t, e, "student-01"))
		run(t, ctx, "live connection state", waitJS(`document.querySelector('tr[data-device-id="student-01"] .conn')?.textContent === 'Connected'`))
		other.client.Disconnect(50)
		run(t, ctx, "live disconnection", waitJS(`document.querySelector('tr[data-device-id="student-01"] .conn')?.textContent === 'Disconnected'`))

		// Create, search, disable, through the page.
		run(t, ctx, "create a device", setField("#new-device-id", "made-in-the-ui"), chromedp.Click(chromedp.CSS("#create-device")),
			waitJS(`document.querySelector('tr[data-device-id="made-in-the-ui"]') !== null`))
		if st := rest(t, e, "GET", "/devices/made-in-the-ui", nil, nil); st != 200 {
			t.Fatalf("the device created in the page is not in the registry: %d", st)
		}
		run(t, ctx, "search by prefix", setField("#search", "stud"),
			waitJS(`document.querySelectorAll('#device-rows tr').length === 4 && `+text("#device-count")+`.startsWith('4 devices')`),
			waitJS(`location.search === '?q=stud'`))
		run(t, ctx, "disable a device",
			chromedp.Click(chromedp.CSS(`tr[data-device-id="student-04"] .actions button:nth-child(2)`)),
			waitJS(`document.querySelector('tr[data-device-id="student-04"] td:nth-child(2)')?.textContent === 'disabled'`))
		var d struct{ Status string }
		rest(t, e, "GET", "/devices/student-04", nil, &d)
		if d.Status != "disabled" {
			t.Fatalf("student-04 is %q after Disable", d.Status)
		}
	})

	t.Run("device", func(t *testing.T) {
		run(t, ctx, "open the device page", chromedp.Navigate(base+"/ui/devices/thermostat-01"),
			waitJS(text("#twin-reported")+`.includes('"firmware": "1.2.3"')`),
			waitJS(text("#identity")+`.includes('Connected since')`),
			waitJS(`JSON.parse(document.querySelector('#twin-tags').value).student === 'Ada'`))

		// Reported properties follow the device live.
		dev.publish("$iothub/twin/PATCH/properties/reported/?$rid=2", `{"battery":87}`)
		dev.await("$iothub/twin/res/204/")
		run(t, ctx, "reported live", waitJS(text("#twin-reported")+`.includes('"battery": 87')`))

		// A desired property edited in the page reaches the device.
		run(t, ctx, "edit desired", setField("#twin-desired", `{"interval": 7, "mode": "eco"}`), chromedp.Click(chromedp.CSS("#twin-save")))
		m := dev.await("$iothub/twin/PATCH/properties/desired/")
		var patch map[string]any
		if err := json.Unmarshal(m.Payload(), &patch); err != nil || patch["interval"] != float64(7) || patch["mode"] != "eco" {
			t.Fatalf("the device got desired patch %s", m.Payload())
		}
		run(t, ctx, "saved", waitJS(text("#twin-status")+`.startsWith('Saved')`))

		// Telemetry, with an injection attempt in its body.
		telemetryWithinASecond(t, ctx, dev, "#device-telemetry", `{"temperature":21.5}`)
		telemetryWithinASecond(t, ctx, dev, "#device-telemetry", xss)
		run(t, ctx, "properties shown", waitJS(text("#device-telemetry")+`.includes('kind=probe')`))
		noScriptRan(t, ctx)

		// A direct method shows the device's answer.
		run(t, ctx, "invoke a method", setField("#method-name", "getAnswer"), setField("#method-payload", `{"q": "life"}`),
			chromedp.Click(chromedp.CSS("#method-invoke")),
			waitJS(text("#method-response")+`.includes('"answer": 42') && `+text("#method-response")+`.includes('"life"')`))

		// A cloud-to-device message reaches the device, and its feedback shows.
		run(t, ctx, "send c2d", setField("#c2d-body", "blink"), setField("#c2d-props", "color=red"), chromedp.Click(chromedp.CSS("#c2d-send")))
		c2d := dev.await("devices/thermostat-01/messages/devicebound/")
		if string(c2d.Payload()) != "blink" || !strings.Contains(c2d.Topic(), "color=red") {
			t.Fatalf("c2d on %s: %s", c2d.Topic(), c2d.Payload())
		}
		run(t, ctx, "feedback shown", waitJS(text("#c2d-feedback")+`.includes('Success')`))
		screenshot(t, ctx, "device.png")
	})

	t.Run("query", func(t *testing.T) {
		run(t, ctx, "run a query from its link", chromedp.Navigate(base+"/ui/query?q="+urlQuery("SELECT deviceId, tags.student, status FROM devices WHERE STARTSWITH(deviceId, 'student')")),
			waitJS(`document.querySelectorAll('#query-table tbody tr').length === 4`),
			waitJS(text("#query-table")+`.includes('Grace')`))
		screenshot(t, ctx, "query.png")
		run(t, ctx, "page through", setField("#query-page-size", "2"), chromedp.Click(chromedp.CSS("#query-run")),
			waitJS(`document.querySelectorAll('#query-table tbody tr').length === 2`),
			chromedp.Click(chromedp.CSS("#query-next")),
			waitJS(text("#query-info")+`.startsWith('Page 2')`))
		run(t, ctx, "a bad query", setField("#query-text", "SELECT * FROM devicez"), chromedp.Click(chromedp.CSS("#query-run")),
			waitJS(text("#query-error-at")+`.includes('^ position 15')`),
			waitJS(`document.querySelector('#query-error-at mark')?.textContent === 'd'`))
		screenshot(t, ctx, "query-error.png")
	})

	t.Run("telemetry", func(t *testing.T) {
		run(t, ctx, "open telemetry", chromedp.Navigate(base+"/ui/telemetry"), chromedp.WaitVisible(chromedp.CSS("#telemetry-sparkline")), chromedp.Sleep(200*time.Millisecond))
		telemetryWithinASecond(t, ctx, dev, "#telemetry-list", `{"temperature":22.0}`)
		for i := range 12 {
			dev.telemetry(fmt.Sprintf(`{"temperature":%.1f}`, 22+float64(i)/4), "unit=celsius")
			time.Sleep(100 * time.Millisecond)
		}
		run(t, ctx, "rate shown", waitJS(`Number(`+text("#telemetry-rate")+`) > 0`))
		run(t, ctx, "filter by device", setField("#telemetry-filter", "nobody"), waitJS(`document.querySelectorAll('#telemetry-list li.message').length === 0`),
			setField("#telemetry-filter", "thermo"), waitJS(`document.querySelectorAll('#telemetry-list li.message').length >= 13`))
		noScriptRan(t, ctx)
		screenshot(t, ctx, "telemetry.png")
	})

	t.Run("workshop", func(t *testing.T) {
		run(t, ctx, "open the workshop view", chromedp.Navigate(base+"/ui/workshop?tag=student"),
			waitJS(`document.querySelector('[data-group="Ada"] .counts')?.textContent === '1/2 connected · 1/2 telemetry · 1/2 reported'`),
			waitJS(`document.querySelector('[data-group="Grace"] .counts')?.textContent === '0/2 connected · 0/2 telemetry · 0/2 reported'`),
			waitJS(text("#workshop-summary")+`.includes('1/7connected')`))
		injected, err := evaluate(ctx, chromedp.Evaluate[string](fmt.Sprintf(`[...document.querySelectorAll('[data-group]')].find((g) => g.dataset.group === %s)?.querySelector('h2')?.textContent || ''`, jsString(xss))))
		if err != nil {
			t.Fatal(err)
		}
		if injected != xss {
			t.Fatalf("the markup group title reads %q, want the text itself", injected)
		}
		noScriptRan(t, ctx)
		screenshot(t, ctx, "workshop.png")
	})

	t.Run("hub", func(t *testing.T) {
		run(t, ctx, "open the hub page", chromedp.Navigate(base+"/ui/hub"),
			waitJS(text("#hub-faults")+`.includes('delayTwin')`),
			waitJS(text("#hub-stats")+`.includes('7devices')`))
		screenshot(t, ctx, "hub.png")
		run(t, ctx, "clear faults", chromedp.Click(chromedp.CSS("#fault-clear")), waitJS(text("#hub-faults")+`.includes('No fault')`))
		var fs []any
		rest(t, e, "GET", "/emulator/faults", nil, &fs)
		if len(fs) != 0 {
			t.Fatalf("faults after Clear all: %v", fs)
		}
	})
}

func createKey(t *testing.T, e *emulator.Emulator, id string) string {
	t.Helper()
	var d struct {
		Authentication struct{ SymmetricKey struct{ PrimaryKey string } }
	}
	if st := rest(t, e, "GET", "/devices/"+id, nil, &d); st != 200 {
		t.Fatalf("get %s: %d", id, st)
	}
	return d.Authentication.SymmetricKey.PrimaryKey
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", "'", "%27", ",", "%2C", "(", "%28", ")", "%29")
	return r.Replace(s)
}

// With replaced keys the dashboard asks for a connection string, and takes
// only one with owner rights.
func TestDashboardLoginInABrowser(t *testing.T) {
	ctx := browser(t)
	e := startEmulator(t, map[string]string{
		"iothubowner":  "c2VjcmV0LW93bmVyLWtleS1mb3ItdGhlLWJyb3dzZXItdGVzdA==",
		"registryRead": "c2VjcmV0LXJlYWRlci1rZXktZm9yLXRoZS1icm93c2VyLXRlc3Q=",
	})
	createDevice(t, e, "behind-login", nil)
	// localhost, not 127.0.0.1: cookies are per host, not per port, so the
	// other test's session stays out of this one.
	base := "http://localhost:" + e.Addr(emulator.HTTP)[strings.LastIndex(e.Addr(emulator.HTTP), ":")+1:]

	run(t, ctx, "sent to the login page", chromedp.Navigate(base+"/ui/workshop"), waitJS(`location.pathname === '/ui/login'`),
		chromedp.WaitVisible(chromedp.CSS("#login-cs")))
	screenshot(t, ctx, "login.png")
	run(t, ctx, "a reader is refused", setField("#login-cs", e.ConnectionString("registryRead")), chromedp.Click(chromedp.CSS("#login-submit")),
		waitJS(text("#login-error")+`.includes('RegistryWrite')`))
	run(t, ctx, "the owner gets in", setField("#login-cs", e.ConnectionString("iothubowner")), chromedp.Click(chromedp.CSS("#login-submit")),
		waitJS(`location.pathname === '/ui/workshop'`), chromedp.Navigate(base+"/ui/"),
		waitJS(`document.querySelector('tr[data-device-id="behind-login"]') !== null`))
	cookie, err := evaluate(ctx, chromedp.Evaluate[bool](`document.cookie.includes('iothub_ui_session')`))
	if err != nil {
		t.Fatal(err)
	}
	if cookie {
		t.Fatal("the session cookie is readable from script")
	}
}
