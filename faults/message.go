package faults

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The application properties of IoT Hub's fault-injection telemetry, as the
// official SDKs' end-to-end tests send them.
const (
	PropOperationType = "AzIoTHub_FaultOperationType"
	PropCloseReason   = "AzIoTHub_FaultOperationCloseReason"
	PropDelay         = "AzIoTHub_FaultOperationDelayInSecs"
	PropDuration      = "AzIoTHub_FaultOperationDurationInSecs"
)

// FaultType is a value of AzIoTHub_FaultOperationType.
type FaultType string

// Every fault type the SDKs' tests send.
const (
	KillTcp                FaultType = "KillTcp"
	KillAmqpConnection     FaultType = "KillAmqpConnection"
	KillAmqpSession        FaultType = "KillAmqpSession"
	KillAmqpCBSLinkReq     FaultType = "KillAmqpCBSLinkReq"
	KillAmqpCBSLinkResp    FaultType = "KillAmqpCBSLinkResp"
	KillAmqpD2CLink        FaultType = "KillAmqpD2CLink"
	KillAmqpC2DLink        FaultType = "KillAmqpC2DLink"
	KillAmqpTwinLinkReq    FaultType = "KillAmqpTwinLinkReq"
	KillAmqpTwinLinkResp   FaultType = "KillAmqpTwinLinkResp"
	KillAmqpMethodReqLink  FaultType = "KillAmqpMethodReqLink"
	KillAmqpMethodRespLink FaultType = "KillAmqpMethodRespLink"
	InvokeThrottling       FaultType = "InvokeThrottling"
	InvokeMaxMessageQuota  FaultType = "InvokeMaxMessageQuota"
	InvokeAuthError        FaultType = "InvokeAuthError"
	ShutDownAmqp           FaultType = "ShutDownAmqp"
	ShutDownMqtt           FaultType = "ShutDownMqtt"
)

// FaultTypes lists every fault type.
func FaultTypes() []FaultType {
	return []FaultType{
		KillTcp, KillAmqpConnection, KillAmqpSession, KillAmqpCBSLinkReq, KillAmqpCBSLinkResp,
		KillAmqpD2CLink, KillAmqpC2DLink, KillAmqpTwinLinkReq, KillAmqpTwinLinkResp,
		KillAmqpMethodReqLink, KillAmqpMethodRespLink, InvokeThrottling, InvokeMaxMessageQuota,
		InvokeAuthError, ShutDownAmqp, ShutDownMqtt,
	}
}

// MessageFault is the fault a device-to-cloud message asks for.
type MessageFault struct {
	Type        FaultType
	CloseReason string        // free text; logged only (MQTT 3.1.1 cannot carry it)
	Delay       time.Duration // from the message until the fault takes effect
	Duration    time.Duration // how long it lasts (0: none, for faults with a lasting part)
}

// ParseMessageFault reads the fault-injection properties of a message's
// application properties. ok is false when the message asks for no fault
// (no AzIoTHub_FaultOperationType). The type is matched ignoring case (the C
// SDK's tests send "KillAmqpc2dLink"); delay and duration are seconds,
// decimals allowed, absent meaning 0, at most MaxDuration. An error means the
// message asks for a fault the emulator cannot honour.
func ParseMessageFault(props map[string]string) (m MessageFault, ok bool, err error) {
	raw, ok := props[PropOperationType]
	if !ok {
		return MessageFault{}, false, nil
	}
	m.Type, err = parseFaultType(raw)
	if err != nil {
		return MessageFault{}, true, err
	}
	m.CloseReason = props[PropCloseReason]
	if m.Delay, err = parseSeconds(props, PropDelay); err != nil {
		return MessageFault{}, true, err
	}
	if m.Duration, err = parseSeconds(props, PropDuration); err != nil {
		return MessageFault{}, true, err
	}
	return m, true, nil
}

func parseFaultType(raw string) (FaultType, error) {
	v := strings.TrimSpace(raw)
	for _, t := range FaultTypes() {
		if strings.EqualFold(v, string(t)) {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown %s %q", PropOperationType, raw)
}

func parseSeconds(props map[string]string, name string) (time.Duration, error) {
	raw, ok := props[name]
	v := strings.TrimSpace(raw)
	if !ok || v == "" {
		return 0, nil
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(secs) || secs < 0 || secs > MaxDuration.Seconds() {
		return 0, fmt.Errorf("%s %q is not a number of seconds from 0 to %.0f", name, raw, MaxDuration.Seconds())
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// CloseMode is how a fault ends the device's connection.
type CloseMode int

const (
	CloseNone  CloseMode = iota // the connection stays
	CloseAbort                  // dropped: TCP reset, no TLS or WebSocket close
	CloseClean                  // closed in order: TLS close_notify or WebSocket close frame, then FIN
)

func (c CloseMode) String() string {
	switch c {
	case CloseAbort:
		return "abort"
	case CloseClean:
		return "clean close"
	}
	return "none"
}

// Effect is what a fault type does to an MQTT client.
type Effect struct {
	// Close ends the connection after the message's delay.
	Close CloseMode
	// Window, if set, is the fault kind in effect from the delay on, for
	// the message's duration, on the sending identity.
	Window      Kind
	ConnackCode byte // for a refuseConnects window
}

// MQTTEffect is what the fault type does to an MQTT client. AMQP connection
// and session faults act on the MQTT connection, which plays both parts;
// AMQP link faults have nothing to act on (MQTT has no per-feature links)
// and do nothing.
func (t FaultType) MQTTEffect() Effect {
	switch t {
	case KillTcp, KillAmqpConnection:
		return Effect{Close: CloseAbort}
	case ShutDownMqtt, ShutDownAmqp, KillAmqpSession:
		return Effect{Close: CloseClean}
	case InvokeThrottling:
		return Effect{Close: CloseClean, Window: KindThrottleDevice}
	case InvokeMaxMessageQuota:
		return Effect{Close: CloseClean, Window: KindQuotaExceeded}
	case InvokeAuthError:
		return Effect{Close: CloseClean, Window: KindRefuseConnects, ConnackCode: ConnackNotAuthorized}
	}
	return Effect{}
}
