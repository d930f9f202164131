package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

// serveArgs start an emulator on free plain ports only, keeping nothing.
var serveArgs = []string{"serve", "--in-memory", "--mqtts-port", "off", "--https-port", "off", "--mqtt-port", "0", "--http-port", "0", "--amqps-port", "off", "--amqp-port", "off"}

func TestServePrintsTheEventHubsEndpoint(t *testing.T) {
	t.Setenv("IOTHUB_EMULATOR_CONSUMER_GROUPS", "ignored-when-the-flag-is-given")
	t.Setenv("IOTHUB_EMULATOR_EVENT_HUB_NAME", "from-the-environment")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append(serveArgs, "--partitions", "8", "--consumer-groups", "ops, analytics", "--hostname", "myhub.example.net"), &out, &errOut)
	}()
	testkit.Eventually(t, "the start-up banner", func() bool { return strings.Contains(out.String(), "Press Ctrl+C") })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want := "name from-the-environment (or myhub), 8 partitions, consumer groups $Default,ops,analytics"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("banner lacks %q:\n%s", want, out.String())
	}
}

func TestServeRefusesBadEventHubsSettings(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--partitions", "0"}, "--partitions 0 is not between 1 and 32"},
		{[]string{"--partitions", "33"}, "--partitions 33 is not between 1 and 32"},
		{[]string{"--consumer-groups", "$Default"}, "reserved"},
		{[]string{"--consumer-groups", "a,A"}, "given twice"},
		{[]string{"--consumer-groups", "no spaces"}, "only letters"},
		{[]string{"--event-hub-name", "-bad"}, "--event-hub-name"},
	} {
		r := runCLI(t, append(serveArgs, tt.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 1 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	if r := runCLI(t, append(serveArgs, "--partitions", "many")...); r.code != 2 {
		t.Errorf("--partitions many: exit %d", r.code)
	}
}

func TestServeRefusesBadX509CAFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	leafFile, _ := testkit.NewCert(t, "leaf", nil, testkit.CertOptions{}).WritePEM(t, dir, "leaf")
	if err := os.WriteFile(empty, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file, want string
	}{
		{filepath.Join(dir, "missing.pem"), "no such file"},
		{empty, "no PEM CERTIFICATE block"},
		{leafFile, "is not a CA"},
	} {
		t.Setenv("IOTHUB_EMULATOR_X509_CA", tt.file) // the environment names it as well as the flag
		r := runCLI(t, serveArgs...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("--x509-ca %s: exit %d, stderr %q; want 1 and %q", tt.file, r.code, r.stderr, tt.want)
		}
	}
}
