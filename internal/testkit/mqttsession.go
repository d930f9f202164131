package testkit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTTSession runs one short MQTT 3.1.1 session on conn as the device SDKs
// do: CONNECT (clean session as given), SUBSCRIBE to filters at QoS 1,
// DISCONNECT, and then expects the server to close. It keeps nothing on
// the client side, so a heap measured afterwards is the server's. conn is
// closed on return.
func MQTTSession(conn net.Conn, clientID, username, password string, clean bool, filters []string) error {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(Wait))
	r := bufio.NewReader(conn)
	write := func(pk packets.Packet) error {
		pk.ProtocolVersion = 4
		var buf bytes.Buffer
		var err error
		switch pk.FixedHeader.Type {
		case packets.Connect:
			err = pk.ConnectEncode(&buf)
		case packets.Subscribe:
			err = pk.SubscribeEncode(&buf)
		case packets.Disconnect:
			err = pk.DisconnectEncode(&buf)
		}
		if err == nil {
			_, err = conn.Write(buf.Bytes())
		}
		return err
	}
	readType := func() (byte, error) {
		first, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n, _, err := packets.DecodeLength(r)
		if err == nil {
			_, err = io.CopyN(io.Discard, r, int64(n))
		}
		return first >> 4, err
	}
	err := write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: packets.ConnectParams{
		ProtocolName: []byte("MQTT"), Clean: clean, ClientIdentifier: clientID, Keepalive: 60,
		UsernameFlag: true, Username: []byte(username),
		PasswordFlag: true, Password: []byte(password),
	}})
	if typ, rerr := readType(); err != nil || rerr != nil || typ != packets.Connack {
		return fmt.Errorf("connect %s: %v %v (packet type %d)", clientID, err, rerr, typ)
	}
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1}
	for _, f := range filters {
		sub.Filters = append(sub.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	err = write(sub)
	if typ, rerr := readType(); err != nil || rerr != nil || typ != packets.Suback {
		return fmt.Errorf("subscribe %s: %v %v (packet type %d)", clientID, err, rerr, typ)
	}
	if err := write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}); err != nil {
		return err
	}
	if _, err := readType(); err == nil {
		return fmt.Errorf("%s: connection still open after DISCONNECT", clientID)
	}
	return nil
}
