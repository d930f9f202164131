package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/iothubtest"
)

func TestLoadgenAgainstEmulator(t *testing.T) {
	e := iothubtest.Start(t).Emulator()
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{
		"--endpoint", "http://" + e.Addr(emulator.HTTP), "--mqtt", e.Addr(emulator.MQTTS), "--ca", e.CAPath(), "--server-name", "localhost",
		"--devices", "3", "--rate", "50", "--messages", "10", "--duration", "0", "--delete",
	}, &out, &errs)
	if err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	if !strings.Contains(out.String(), "sent 30, acknowledged 30") || !strings.Contains(out.String(), "errors     0") {
		t.Fatalf("summary:\n%s\nstderr:\n%s", out.String(), errs.String())
	}
	if n := len(e.Hub().DeviceIDs()); n != 0 {
		t.Fatalf("%d devices left after --delete", n)
	}
	if err := run(context.Background(), []string{"--qos", "x"}, &out, &errs); err == nil {
		t.Fatal("a bad flag was accepted")
	}
}
