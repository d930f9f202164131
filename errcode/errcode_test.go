package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"
)

func TestCatalogue(t *testing.T) {
	for code, name := range names {
		if code.Name() != name {
			t.Errorf("%d: name %q", code, code.Name())
		}
		if s := code.HTTPStatus(); s < 400 || s > 599 {
			t.Errorf("%s: HTTP status %d", name, s)
		}
	}
	if Code(999999).Name() != "ServerError" {
		t.Error("an unknown code must render as ServerError")
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
