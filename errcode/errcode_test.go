package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"testing"
	"time"
)

// TestCatalogue reads the constants declared in errcode.go, so a code added
// without its name (or named unlike its constant) fails here.
func TestCatalogue(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errcode.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for _, id := range spec.(*ast.ValueSpec).Names {
				declared[id.Name] = true
			}
		}
	}
	if len(declared) < 20 {
		t.Fatalf("found only %d constants in errcode.go; the parse is wrong", len(declared))
	}
	byName := map[string]Code{}
	for code, name := range names {
		if !declared[name] {
			t.Errorf("code %d is named %q, which is no constant of the catalogue", code, name)
		}
		if prev, dup := byName[name]; dup {
			t.Errorf("codes %d and %d share the name %q", prev, code, name)
		}
		byName[name] = code
		if s := code.HTTPStatus(); s < 400 || s > 599 {
			t.Errorf("%s: HTTP status %d", name, s)
		}
	}
	for name := range declared {
		if _, ok := byName[name]; !ok {
			t.Errorf("constant %s has no entry in the name table", name)
		}
	}
	if Code(999999).Name() != "ServerError" {
		t.Error("an unknown code must render as ServerError")
	}
}

func TestErrorsIs(t *testing.T) {
	err := fmt.Errorf("lookup: %w", New(DeviceNotFound, "no %s", "d1"))
	if !errors.Is(err, DeviceNotFound) {
		t.Error("errors.Is does not find the code through wrapping")
	}
	if errors.Is(err, ModuleNotFound) || errors.Is(errors.New("plain"), DeviceNotFound) {
		t.Error("errors.Is matched another code")
	}
}

func TestRESTBody(t *testing.T) {
	now := time.Date(2026, 7, 16, 0, 12, 41, 0, time.UTC)
	e := New(DeviceNotFound, "Device %s not registered", "dev-9")
	var body struct{ Message, ExceptionMessage string }
	if err := json.Unmarshal(e.RESTBody(now), &body); err != nil {
		t.Fatal(err)
	}
	if body.Message != "ErrorCode:DeviceNotFound;Device dev-9 not registered" {
		t.Fatalf("Message = %q", body.Message)
	}
	if !regexp.MustCompile(`^Tracking ID:[0-9a-f]{32}-G:0-TimeStamp:07/16/2026 00:12:41$`).MatchString(body.ExceptionMessage) {
		t.Fatalf("ExceptionMessage = %q", body.ExceptionMessage)
	}
	if e.Code.HTTPStatus() != 404 {
		t.Fatalf("status %d", e.Code.HTTPStatus())
	}
}

func TestMQTTBody(t *testing.T) {
	e := New(ArgumentInvalid, "bad key %q", "a.b")
	var body map[string]any
	if err := json.Unmarshal(e.MQTTBody(time.Unix(0, 0)), &body); err != nil {
		t.Fatal(err)
	}
	if body["errorCode"] != float64(400004) || body["message"] != `bad key "a.b"` || body["timestampUtc"] != "1970-01-01T00:00:00.0000000Z" || body["trackingId"] == "" {
		t.Fatalf("body = %v", body)
	}
}

func TestFromAndIs(t *testing.T) {
	cause := errors.New("disk on fire")
	wrapped := fmt.Errorf("saving: %w", Wrap(ServiceUnavailable, cause, "try later"))
	if !Is(wrapped, ServiceUnavailable) || Is(wrapped, ServerError) {
		t.Fatal("Is does not see through wrapping")
	}
	if !errors.Is(wrapped, cause) {
		t.Fatal("the cause is lost")
	}
	e := From(errors.New("secret internals"))
	if e.Code != ServerError || e.Message == "secret internals" {
		t.Fatalf("From leaked or misclassified: %+v", e)
	}
}

func TestAMQPError(t *testing.T) {
	for _, tt := range []struct {
		code Code
		want string
	}{
		{DeviceNotFound, "amqp:not-found"},
		{ModuleNotFound, "amqp:not-found"},
		{IotHubUnauthorized, "amqp:unauthorized-access"},
		{DeviceMaximumQueueDepthExceeded, "amqp:resource-limit-exceeded"},
		{MessageTooLarge, "amqp:link:message-size-exceeded"},
		{ArgumentInvalid, "amqp:invalid-field"},
		{ThrottlingException, "com.microsoft:server-busy"},
		{PreconditionFailed, "amqp:precondition-failed"},
		{ServerError, "amqp:internal-error"},
	} {
		if got := New(tt.code, "x").AMQPCondition(); got != tt.want {
			t.Errorf("%v: condition %q, want %q", tt.code, got, tt.want)
		}
	}
	if got := New(DeviceNotFound, "Device %s not registered", "d1").AMQPDescription(); got != "ErrorCode:DeviceNotFound;Device d1 not registered" {
		t.Errorf("description %q", got)
	}
}
