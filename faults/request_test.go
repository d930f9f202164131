package faults

import (
	"strings"
	"testing"
)

func FuzzDecodeAdd(f *testing.F) {
	f.Add(`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10}`)
	f.Add(`{"fault":"throttle","operation":"queries","durationSeconds":1e-9}`)
	f.Add(`{"fault":"delayTwin","deviceId":"d","delaySeconds":600,"durationSeconds":86400}`)
	f.Add(`{"fault":"drop","deviceId":"d"}`)
	f.Add(`{"connackCode":-1}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeAdd(strings.NewReader(body))
		if err != nil {
			return
		}
		spec, err := req.spec()
		if err != nil {
			return
		}
		inj := newInjector(t, newClock().Now, nil)
		ft, err := inj.Add(spec)
		if err != nil {
			if len(inj.Active()) != 0 {
				t.Fatal("a refused fault was added")
			}
			return
		}
		if d := ft.End.Sub(ft.Start); d <= 0 || d > MaxDuration || ft.Delay > MaxTwinDelay {
			t.Fatalf("fault out of bounds: %+v", ft)
		}
	})
}
