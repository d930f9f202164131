package faults

import (
	"net/http"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Middleware answers a request 429 ThrottlingException (429001), with IoT
// Hub's error body and iothub-errorcode header, when its operation class is
// throttled by a fault or over the attached tier's rate; other requests pass
// through. classify maps a request to its class; false means the request is
// never throttled. nil classify means Classify.
//
// It may sit before or after authentication; before it, requests refused
// for bad credentials count against the tier's rates too.
func (f *Injector) Middleware(classify func(*http.Request) (Operation, bool)) func(http.Handler) http.Handler {
	if classify == nil {
		classify = Classify
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if op, ok := classify(r); ok {
				if err := f.Admit(op); err != nil {
					writeError(w, err, f.now())
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// writeError renders err as IoT Hub's REST error.
func writeError(w http.ResponseWriter, err error, now time.Time) {
	e := errcode.From(err)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("iothub-errorcode", e.Code.Name())
	w.WriteHeader(e.Code.HTTPStatus())
	_, _ = w.Write(e.RESTBody(now))
}
