// Command scalebase runs the baselines of the scale benchmarks
// (internal/scalebench) in a process of their own, so that their start
// time and resident memory are theirs alone and they serve from another
// process than the benchmark's clients, as the emulator does:
//
//	scalebase bolt FILE                     open a bbolt file, read every value, exit
//	scalebase chi -cert C -key K            HTTPS: a chi router whose handlers do nothing
//	scalebase mochi -cert C -key K [-echo]  MQTT over TLS: a bare mochi broker (allow all)
//	scalebase bridge -cert C -key K         HTTPS chi + MQTT/TLS mochi: PATCH /twins/{id} publishes the body to the device
//
// The servers bind 127.0.0.1 on free ports, print "https ADDR" and/or
// "mqtts ADDR" on stdout and serve until stdin closes or SIGINT.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"

	"github.com/go-chi/chi/v5"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scalebase bolt FILE | chi|mochi|bridge -cert C -key K [-echo]")
		os.Exit(2)
	}
	var err error
	switch mode := os.Args[1]; mode {
	case "bolt":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: scalebase bolt FILE")
			break
		}
		var n, size int
		n, size, err = readAll(os.Args[2])
		if err == nil {
			fmt.Printf("values %d bytes %d\n", n, size)
		}
	case "chi", "mochi", "bridge":
		err = serve(mode, os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalebase:", err)
		os.Exit(1)
	}
}

// readAll opens a bbolt file read-only and reads every value of every
// bucket, nested ones included, touching each byte so that none of it is
// left unread in the memory map: the least a start from that file has to do.
func readAll(path string) (values, bytes int, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	var sum byte
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					return walk(nb)
				}
				return nil
			}
			values++
			bytes += len(v)
			for _, c := range v {
				sum += c
			}
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	})
	_ = sum
	return values, bytes, err
}

func serve(mode string, args []string) error {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	cert := fs.String("cert", "", "PEM certificate")
	key := fs.String("key", "", "PEM private key")
	echo := fs.Bool("echo", false, "mochi: answer every reported-properties patch on $iothub/twin/res/204/")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		return err
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{pair}}

	var broker *mqtt.Server
	if mode == "mochi" || mode == "bridge" {
		broker = mqtt.New(&mqtt.Options{InlineClient: true})
		if err := broker.AddHook(new(allowHook), nil); err != nil {
			return err
		}
		if *echo {
			if err := broker.AddHook(new(echoHook), nil); err != nil {
				return err
			}
		}
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		if err := broker.AddListener(listeners.NewTCP(listeners.Config{ID: "mqtts", Address: addr, TLSConfig: tlsConf})); err != nil {
			return err
		}
		if err := broker.Serve(); err != nil {
			return err
		}
		defer broker.Close()
		fmt.Println("mqtts", addr)
	}
	if mode == "chi" || mode == "bridge" {
		r := chi.NewRouter()
		if mode == "chi" {
			// A handler that does nothing: the cost of chi, net/http and TLS alone.
			nothing := func(http.ResponseWriter, *http.Request) {}
			r.Put("/devices/{id}", nothing)
			r.Get("/healthz", nothing)
		} else {
			// The least a bridge from REST to a device can do: read the
			// patch and publish it on the device's desired topic.
			var version int64
			r.Patch("/twins/{id}", func(w http.ResponseWriter, req *http.Request) {
				body, err := io.ReadAll(req.Body)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				version++ // handlers run concurrently, but the benchmark sends one at a time
				topic := fmt.Sprintf("$iothub/twin/PATCH/properties/desired/?$version=%d", version)
				if err := broker.Publish(topic, body, false, 0); err != nil {
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsConf)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: r}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Println("https", ln.Addr())
	}
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	go func() { io.Copy(io.Discard, os.Stdin); stop <- os.Interrupt }()
	<-stop
	return nil
}

// freeAddr is a free loopback port (mochi's listener takes an address,
// not a listener).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// echoHook answers a reported-properties patch as IoT Hub does, on
// $iothub/twin/res/204/?$rid=N, with nothing else: no twin, no store.
type echoHook struct{ mqtt.HookBase }

func (h *echoHook) ID() string { return "echo" }

func (h *echoHook) Provides(b byte) bool { return b == mqtt.OnPublish }

const reportedPrefix = "$iothub/twin/PATCH/properties/reported/?"

func (h *echoHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if q, ok := strings.CutPrefix(pk.TopicName, reportedPrefix); ok {
		// To the client that asked only, as IoT Hub answers (a publish
		// through the broker would reach every device subscribed to
		// $iothub/twin/res/#).
		cl.WritePacket(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish},
			TopicName:   "$iothub/twin/res/204/?" + q + "&$version=1",
		})
	}
	return pk, nil
}

// allowHook lets every client connect and use every topic, like mochi's
// auth.AllowHook (whose package would pull in another module).
type allowHook struct{ mqtt.HookBase }

func (h *allowHook) ID() string { return "allow" }

func (h *allowHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
