package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestParseAPIError(t *testing.T) {
	hubBody := errcode.New(errcode.DeviceNotFound, "Device x not found.").RESTBody(time.Now())
	tests := []struct {
		name   string
		status int
		header string
		body   string
		want   string
	}{
		{"the emulator's form", 404, "DeviceNotFound", string(hubBody), "DeviceNotFound: Device x not found. (HTTP 404)"},
		{"code only in the body", 409, "", `{"Message":"ErrorCode:DeviceAlreadyExists;Exists."}`, "DeviceAlreadyExists: Exists. (HTTP 409)"},
		{"JSON inside Message", 404, "DeviceNotFound", `{"Message":"{\"errorCode\":404001,\"message\":\"gone\"}","ExceptionMessage":""}`, "DeviceNotFound: gone (HTTP 404)"},
		{"multi-line text", 400, "ArgumentInvalid", `{"Message":"ErrorCode:ArgumentInvalid;line one\nline two"}`, "ArgumentInvalid: line one line two (HTTP 400)"},
		{"no body", 502, "", ``, "Bad Gateway (HTTP 502)"},
		{"not JSON", 500, "", `<html>oops</html>`, "Internal Server Error (HTTP 500)"},
		{"header only", 401, "IotHubUnauthorized", `{}`, "IotHubUnauthorized: Unauthorized (HTTP 401)"},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("iothub-errorcode", tt.header)
		}
		if got := parseAPIError(tt.status, h, []byte(tt.body)).Error(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func FuzzParseAPIError(f *testing.F) {
	f.Add(404, "DeviceNotFound", `{"Message":"ErrorCode:DeviceNotFound;x"}`)
	f.Add(500, "", `{"Message":"{\"message\":\"m\"}"}`)
	f.Add(400, "", "\n\n")
	f.Fuzz(func(t *testing.T, status int, code, body string) {
		h := http.Header{}
		h.Set("iothub-errorcode", code)
		e := parseAPIError(status, h, []byte(body))
		if strings.ContainsAny(e.Message, "\r\n") || e.Message == "" && http.StatusText(status) != "" {
			t.Fatalf("message %q", e.Message)
		}
		if strings.ContainsAny(e.Error(), "\r\n") {
			t.Fatalf("error %q is not one line", e.Error())
		}
	})
}

func TestWithMember(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"a":1}`, `{"a":1,"hub":"h"}`},
		{` { "z" : [1], "a" : {} } `, `{"z" : [1], "a" : {},"hub":"h"}`},
		{`{}`, `{"hub":"h"}`},
	}
	for _, tt := range tests {
		got, err := withMember([]byte(tt.in), "hub", "h")
		if err != nil || string(got) != tt.want || !json.Valid(got) {
			t.Errorf("withMember(%s) = %s, %v", tt.in, got, err)
		}
	}
	for _, bad := range []string{`[]`, `"x"`, `{"a":`, ``, `{}{}`} {
		if _, err := withMember([]byte(bad), "hub", "h"); err == nil {
			t.Errorf("withMember(%q) accepted", bad)
		}
	}
}

func TestRequestHelpers(t *testing.T) {
	if got := devicePath("/twins", "a b#c?/d", "m%1"); got != "/twins/a%20b%23c%3F%2Fd/modules/m%251" {
		t.Errorf("devicePath = %s", got)
	}
	for etag, want := range map[string]string{"": `"*"`, "AAE=": `"AAE="`, `"AAE="`: `"AAE="`} {
		if got := ifMatch(etag)["If-Match"]; got != want {
			t.Errorf("ifMatch(%q) = %s, want %s", etag, got, want)
		}
	}
}
