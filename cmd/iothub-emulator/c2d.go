package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// defaultC2DData is the body sent when none is given, like az's ping.
const defaultC2DData = "Ping from iothub-emulator"

// maxC2DFile bounds --data-file-path; IoT Hub refuses anything over 64 KB anyway.
const maxC2DFile = 256 << 10

// c2dSendRequest is the body of the emulator's send endpoint.
type c2dSendRequest struct {
	Body            *string           `json:"body,omitempty"`
	BodyBase64      *string           `json:"bodyBase64,omitempty"`
	MessageID       string            `json:"messageId,omitempty"`
	CorrelationID   string            `json:"correlationId,omitempty"`
	UserID          string            `json:"userId,omitempty"`
	ContentType     string            `json:"contentType,omitempty"`
	ContentEncoding string            `json:"contentEncoding,omitempty"`
	ExpiryTimeUtc   string            `json:"expiryTimeUtc,omitempty"`
	Ack             string            `json:"ack,omitempty"`
	Properties      map[string]string `json:"properties,omitempty"`
}

// c2dSend queues a cloud-to-device message and prints it as queued.
func c2dSend(name string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return sendC2D(ctx, name, args, stdout)
	}
}

func sendC2D(ctx context.Context, name string, args []string, stdout io.Writer) error {
	f := newCLIFlags(name, "-d DEVICE [--data TEXT]",
		"Queue a cloud-to-device message for a device and print it as queued. The device receives it over MQTT.", stdout)
	deviceID := f.RequiredString("device-id,d", "DEVICE", "the device")
	data := f.String("data,da", defaultC2DData, "TEXT", "the message body (default: \""+defaultC2DData+"\")")
	dataFile := f.String("data-file-path,dfp", "", "FILE", "read the body from a file (binary with --content-type application/octet-stream)")
	props := f.String("properties,props,p", "", "k=v;k2=v2", "application properties")
	ack := f.String("ack", "", "ACK", "feedback wanted: none, positive, negative or full")
	messageID := f.String("message-id,mid", "", "ID", "message id (default: a generated GUID)")
	correlationID := f.String("correlation-id,cid", "", "ID", "correlation id")
	userID := f.String("user-id,uid", "", "ID", "user id")
	contentType := f.String("content-type,ct", "", "TYPE", "content type of the body, such as application/json")
	contentEncoding := f.String("content-encoding,ce", "utf-8", "ENCODING", "content encoding of the body")
	expiry := f.Int64("expiry-time-utc,expiry", 0, "EPOCH_MS", "when the message expires, in milliseconds since the Unix epoch (default: in one hour)")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	req := c2dSendRequest{
		MessageID:       *messageID,
		CorrelationID:   *correlationID,
		UserID:          *userID,
		ContentType:     *contentType,
		ContentEncoding: *contentEncoding,
	}
	if req.Properties, err = parseProps(*props); err != nil {
		return usagef(name, "--properties: %v", err)
	}
	if *ack != "" {
		if req.Ack, err = oneOf(name, "--ack", *ack, "none", "positive", "negative", "full"); err != nil {
			return err
		}
	}
	if f.Given("expiry-time-utc") {
		if *expiry <= 0 {
			return usagef(name, "--expiry-time-utc must be a positive number of milliseconds since the Unix epoch")
		}
		req.ExpiryTimeUtc = time.UnixMilli(*expiry).UTC().Format(time.RFC3339Nano)
	}
	if err := setC2DBody(&req, name, *data, *dataFile, f.Given("data")); err != nil {
		return err
	}
	raw, err := c.callJSON(ctx, http.MethodPost, devicePath("/emulator/devices", *deviceID, "")+"/messages/devicebound", req, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}

// setC2DBody fills the body from --data or --data-file-path. A JSON content
// type requires a JSON body, as az checks.
func setC2DBody(req *c2dSendRequest, command, data, file string, dataGiven bool) error {
	body := []byte(data)
	if file != "" {
		if dataGiven {
			return usagef(command, "give --data or --data-file-path, not both")
		}
		st, err := os.Stat(file)
		if err != nil {
			return usagef(command, "--data-file-path: %v", err)
		}
		if st.Size() > maxC2DFile {
			return usagef(command, "--data-file-path: %s is larger than %d bytes", file, maxC2DFile)
		}
		if body, err = os.ReadFile(file); err != nil {
			return usagef(command, "--data-file-path: %v", err)
		}
	}
	ct := strings.ToLower(req.ContentType)
	if strings.Contains(ct, "application/json") && !json.Valid(body) {
		return usagef(command, "the body is not valid JSON, but --content-type says it is")
	}
	if strings.Contains(ct, "application/octet-stream") || !utf8.Valid(body) {
		s := base64.StdEncoding.EncodeToString(body)
		req.BodyBase64 = &s
		return nil
	}
	s := string(body)
	req.Body = &s
	return nil
}

// parseProps reads application properties written as az writes them:
// "k=v;k2=v2". The first '=' of a pair splits it; empty pairs are skipped.
func parseProps(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	props := map[string]string{}
	for _, pair := range strings.Split(s, ";") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok:
			return nil, fmt.Errorf("%q is not key=value", pair)
		case k == "":
			return nil, fmt.Errorf("%q has no key", pair)
		}
		if _, dup := props[k]; dup {
			return nil, fmt.Errorf("property %q is given twice", k)
		}
		props[k] = v
	}
	return props, nil
}

// c2dPurge deletes a device's pending cloud-to-device messages.
func c2dPurge(name string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return purgeC2D(ctx, name, args, stdout)
	}
}

func purgeC2D(ctx context.Context, name string, args []string, stdout io.Writer) error {
	f := newCLIFlags(name, "-d DEVICE", "Delete every pending cloud-to-device message of a device; no feedback is sent.", stdout)
	deviceID := f.RequiredString("device-id,d", "DEVICE", "the device")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	raw, err := c.callJSON(ctx, http.MethodDelete, devicePath("/devices", *deviceID, "")+"/commands", nil, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}
