package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCLIFlagsParse(t *testing.T) {
	type parsed struct {
		id, module string
		top        int
		edge       bool
		pos        []string
	}
	tests := []struct {
		name    string
		args    []string
		want    parsed
		wantErr string // "" for success
	}{
		{"long names", []string{"--device-id", "d", "--module-id", "m"}, parsed{id: "d", module: "m", top: 5}, ""},
		{"aliases", []string{"-d", "d", "--mid", "m", "--ee"}, parsed{id: "d", module: "m", top: 5, edge: true}, ""},
		{"single-dash long names and =", []string{"-device-id=d", "-top", "9"}, parsed{id: "d", top: 9}, ""},
		{"positionals anywhere", []string{"a", "-d", "d", "b", "--top", "1", "c"}, parsed{id: "d", top: 1, pos: []string{"a", "b", "c"}}, ""},
		{"-- ends the flags", []string{"-d", "d", "--", "-x", "--top"}, parsed{id: "d", top: 5, pos: []string{"-x", "--top"}}, ""},
		{"last one wins", []string{"-d", "a", "--device-id", "b"}, parsed{id: "b", top: 5}, ""},
		{"bool false", []string{"-d", "d", "--ee=false"}, parsed{id: "d", top: 5}, ""},
		{"required", []string{"--top", "1"}, parsed{}, "--device-id (-d) is required"},
		{"required not empty", []string{"-d", ""}, parsed{}, "--device-id (-d) is required"},
		{"unknown flag", []string{"-d", "d", "--nope"}, parsed{}, "flag provided but not defined: -nope"},
		{"bad integer", []string{"-d", "d", "--top", "many"}, parsed{}, `"many" is not an integer`},
		{"missing value", []string{"-d"}, parsed{}, "flag needs an argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCLIFlags("test cmd", "", "", &bytes.Buffer{})
			id := f.RequiredString("device-id,d", "ID", "the device")
			module := f.String("module-id,mid", "", "ID", "the module")
			top := f.Int("top", 5, "N", "limit")
			edge := f.Bool("edge-enabled,ee", "edge")
			pos, err := f.parse(tt.args)
			if tt.wantErr != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.wantErr) ||
					!strings.Contains(err.Error(), "iothub-emulator test cmd -h") {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := parsed{id: *id, module: *module, top: *top, edge: *edge, pos: pos}
			if got.id != tt.want.id || got.module != tt.want.module || got.top != tt.want.top || got.edge != tt.want.edge || !slices.Equal(got.pos, tt.want.pos) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCLIFlagsGivenAndHelp(t *testing.T) {
	var out bytes.Buffer
	f := newCLIFlags("demo", "-d ID", "Does a demo.", &out)
	f.String("device-id,d", "", "ID", "the device")
	f.Int("count,c", 3, "N", "how many")
	addConnFlags(f)
	if _, err := f.parse([]string{"-c", "3"}); err != nil {
		t.Fatal(err)
	}
	if !f.Given("count") || f.Given("device-id") || f.Given("nonexistent") {
		t.Fatal("Given is wrong")
	}
	if _, err := f.parse([]string{"-h"}); !errors.Is(err, errHelpShown) {
		t.Fatalf("-h: %v", err)
	}
	help := out.String()
	for _, want := range []string{"Usage: iothub-emulator demo -d ID [flags]\n\nDoes a demo.\n", "  --device-id, -d ID", "  --count, -c N",
		"Connection:\n  --endpoint URL", "--hub, --login, -l CONNECTION_STRING"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Count(help, "device-id") != 1 {
		t.Errorf("an option is listed more than once:\n%s", help)
	}
}

func TestOneOf(t *testing.T) {
	if v, err := oneOf("c", "--x", "FULL", "none", "full"); err != nil || v != "full" {
		t.Fatalf("oneOf = %q, %v", v, err)
	}
	if _, err := oneOf("c", "--x", "most", "none", "full"); err == nil || !strings.Contains(err.Error(), "--x must be one of none, full, not \"most\"") {
		t.Fatalf("err = %v", err)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"sensor-*", "sensor-1", true},
		{"sensor-*", "sensor-", true},
		{"sensor-*", "sensors", false},
		{"*-1", "sensor-1", true},
		{"s?nsor", "sensor", true},
		{"s?nsor", "snsor", false},
		{"*", "", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"**", "anything", true},
		{"é?", "éa", true},
		{"exact", "exact", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
	// An id may itself hold * or ?: it matches itself.
	if !matchID("a*b", "a*b") || !matchID("", "any") || matchID("dev1", "dev10") || !matchID("dev?", "dev1") {
		t.Fatal("matchID")
	}
}
