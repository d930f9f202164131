package mqttbroker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

const testHost = "testhub.local"

// fakeHub is a small honest Hub: identities with symmetric keys, real SAS
// verification of the CONNECT password, and twins with versions.
type fakeHub struct {
	mu         sync.Mutex
	identities map[string]*fakeIdentity // by client id
	events     []hubEvent
}

type fakeIdentity struct {
	key       []byte
	disabled  bool
	expiresAt time.Time // if set, reported instead of the token's expiry
	desired   map[string]any
	reported  map[string]any
	desiredV  int64
	reportedV int64
}

type hubEvent struct {
	Kind    string // "connected" or "disconnected"
	Key     string
	ModelID string
}

func newFakeHub() *fakeHub {
	return &fakeHub{identities: map[string]*fakeIdentity{}}
}

// add registers an identity ("dev" or "dev/mod") with a fresh key.
func (h *fakeHub) add(key string) []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.identities[key] = &fakeIdentity{
		key:       k,
		desired:   map[string]any{},
		reported:  map[string]any{},
		desiredV:  1,
		reportedV: 1,
	}
	return k
}

func (h *fakeHub) update(key string, f func(*fakeIdentity)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h.identities[key])
}

// setDesired replaces a desired property and returns the notification body,
// as the twin package would.
func (h *fakeHub) setDesired(key, name string, value any) (int64, []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.identities[key]
	id.desired[name] = value
	id.desiredV++
	body, _ := json.Marshal(map[string]any{name: value, "$version": id.desiredV})
	return id.desiredV, body
}

func (h *fakeHub) Events() []hubEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hubEvent(nil), h.events...)
}

// sasToken signs a device or module token the way the SDKs do.
func sasToken(host, clientID string, key []byte, expiry time.Time) string {
	deviceID, moduleID, _ := strings.Cut(clientID, "/")
	resource := host + "/devices/" + deviceID
	if moduleID != "" {
		resource += "/modules/" + moduleID
	}
	sr := url.QueryEscape(resource)
	se := strconv.FormatInt(expiry.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(sr + "\n" + se))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(sig) + "&se=" + se
}

func unauthorized(format string, args ...any) error {
	return errcode.New(errcode.IotHubUnauthorized, format, args...)
}

func (h *fakeHub) Authenticate(_ context.Context, req ConnectRequest) (Identity, error) {
	key := identityKey(req.DeviceID, req.ModuleID)
	h.mu.Lock()
	ident, ok := h.identities[key]
	var idKey []byte
	var disabled bool
	var override time.Time
	if ok {
		idKey, disabled, override = ident.key, ident.disabled, ident.expiresAt
	}
	h.mu.Unlock()
	if !ok {
		return Identity{}, errcode.New(errcode.DeviceNotFound, "%s not found", key)
	}
	if disabled {
		return Identity{}, unauthorized("%s is disabled", key)
	}

	if len(req.Password) == 0 && len(req.Certificates) > 0 {
		// The fake's X.509 rule: the leaf's CN names the identity.
		if cn := req.Certificates[0].Subject.CommonName; cn != key {
			return Identity{}, unauthorized("certificate CN %q is not %s", cn, key)
		}
		return Identity{DeviceID: req.DeviceID, ModuleID: req.ModuleID}, nil
	}
	token, found := strings.CutPrefix(string(req.Password), "SharedAccessSignature ")
	if !found {
		return Identity{}, unauthorized("not a SAS token")
	}
	fields := map[string]string{}
	for pair := range strings.SplitSeq(token, "&") {
		k, v, _ := strings.Cut(pair, "=")
		fields[strings.ToLower(k)] = v
	}
	sr, sig, se := fields["sr"], fields["sig"], fields["se"]
	mac := hmac.New(sha256.New, idKey)
	mac.Write([]byte(sr + "\n" + se))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	got, err := url.PathUnescape(sig)
	if err != nil || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return Identity{}, unauthorized("bad signature")
	}
	seconds, err := strconv.ParseInt(se, 10, 64)
	if err != nil || time.Unix(seconds, 0).Before(time.Now()) {
		return Identity{}, unauthorized("token expired")
	}
	resource, err := url.QueryUnescape(sr)
	wantResource := "/devices/" + req.DeviceID
	if req.ModuleID != "" {
		wantResource += "/modules/" + req.ModuleID
	}
	host, path, _ := strings.Cut(resource, "/")
	if err != nil || !strings.EqualFold(host, testHost) || "/"+path != wantResource {
		return Identity{}, unauthorized("token scope %q does not cover %s", resource, key)
	}
	expires := time.Unix(seconds, 0)
	if !override.IsZero() {
		expires = override
	}
	return Identity{DeviceID: req.DeviceID, ModuleID: req.ModuleID, ExpiresAt: expires}, nil
}

func (h *fakeHub) Connected(_ context.Context, id Identity, modelID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, hubEvent{Kind: "connected", Key: id.key(), ModelID: modelID})
}

func (h *fakeHub) Disconnected(_ context.Context, id Identity) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, hubEvent{Kind: "disconnected", Key: id.key()})
}

func (h *fakeHub) GetTwin(_ context.Context, id Identity) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ident, ok := h.identities[id.key()]
	if !ok {
		return nil, errcode.New(errcode.DeviceNotFound, "%s not found", id.key())
	}
	desired := maps.Clone(ident.desired)
	desired["$version"] = ident.desiredV
	reported := maps.Clone(ident.reported)
	reported["$version"] = ident.reportedV
	return json.Marshal(map[string]any{"desired": desired, "reported": reported})
}

func (h *fakeHub) PatchReported(_ context.Context, id Identity, patch []byte) (int64, error) {
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return 0, errcode.New(errcode.ArgumentInvalid, "the reported patch is not a JSON object")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ident, ok := h.identities[id.key()]
	if !ok {
		return 0, errcode.New(errcode.DeviceNotFound, "%s not found", id.key())
	}
	for k, v := range p {
		if v == nil {
			delete(ident.reported, k)
		} else {
			ident.reported[k] = v
		}
	}
	ident.reportedV++
	return ident.reportedV, nil
}

// receivingHub also takes telemetry.
type receivingHub struct {
	*fakeHub
	telemetry       chan receivedTelemetry
	rejectTelemetry error
}

type receivedTelemetry struct {
	ID  Identity
	Msg Telemetry
}

func newReceivingHub() *receivingHub {
	return &receivingHub{
		fakeHub:   newFakeHub(),
		telemetry: make(chan receivedTelemetry, 16),
	}
}

func (h *receivingHub) ReceiveTelemetry(_ context.Context, id Identity, msg Telemetry) error {
	if h.rejectTelemetry != nil {
		return h.rejectTelemetry
	}
	h.telemetry <- receivedTelemetry{ID: id, Msg: msg}
	return nil
}

// The fake must really check what it is given.
func TestFakeHubChecksTheToken(t *testing.T) {
	h := newFakeHub()
	key := h.add("dev1")
	other := h.add("dev2")
	good := sasToken(testHost, "dev1", key, time.Now().Add(time.Hour))
	req := ConnectRequest{ClientID: "dev1", DeviceID: "dev1", Password: []byte(good)}
	if _, err := h.Authenticate(context.Background(), req); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
	for name, pw := range map[string]string{
		"other key":   sasToken(testHost, "dev1", other, time.Now().Add(time.Hour)),
		"expired":     sasToken(testHost, "dev1", key, time.Now().Add(-time.Minute)),
		"other scope": sasToken(testHost, "dev2", key, time.Now().Add(time.Hour)),
		"other host":  sasToken("elsewhere", "dev1", key, time.Now().Add(time.Hour)),
		"empty":       "",
		"tampered":    strings.Replace(good, "se=", "se=1", 1),
	} {
		req.Password = []byte(pw)
		if _, err := h.Authenticate(context.Background(), req); err == nil {
			t.Errorf("%s: token accepted", name)
		}
	}
}
