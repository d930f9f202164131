package emulator

import (
	"net/http"
	"strings"
	"testing"
)

func TestDashboardNeedsLogin(t *testing.T) {
	for _, c := range []struct {
		bind string
		keys map[string]string
		want bool
	}{
		{"127.0.0.1", nil, false},
		{"localhost", nil, false},
		{"::1", nil, false},
		{"0.0.0.0", nil, true},
		{"192.168.1.20", nil, true},
		{"127.0.0.1", map[string]string{"iothubowner": "a2V5a2V5a2V5a2V5a2V5a2V5"}, true},
		// Only the provisioning service's key replaced: the hub's owner key
		// is still the well-known one.
		{"127.0.0.1", map[string]string{"provisioningserviceowner": "a2V5a2V5a2V5a2V5a2V5a2V5"}, false},
	} {
		cfg := DefaultConfig()
		cfg.Bind, cfg.PolicyKeys = c.bind, c.keys
		if got := cfg.dashboardNeedsLogin(); got != c.want {
			t.Errorf("bind %s keys %v: needs login %v, want %v", c.bind, c.keys, got, c.want)
		}
	}
}

// The dashboard is served beside the API on both HTTP ports.
func TestDashboardOnBothPorts(t *testing.T) {
	e := start(t, "", true)
	svc := newService(t, e)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, base := range []string{"https://" + e.Addr(HTTPS), "http://" + e.Addr(HTTP)} {
		c := *svc.http
		c.CheckRedirect = noRedirect
		resp, err := c.Get(base + "/ui")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
			t.Fatalf("%s/ui: %d to %q", base, resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, err = c.Get(base + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s/ui/: %d %s", base, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// The API still answers beside it.
		resp, err = c.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/healthz: %d", base, resp.StatusCode)
		}
	}
}
