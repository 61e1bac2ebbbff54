package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"payorch/collection"
)

// TestTimeoutsOutlastTheLongestWait: the write timeout exceeds the longest wait of a
// request (an invoice Update waits collection.DefaultUpdateWait), and every timeout is set.
func TestTimeoutsOutlastTheLongestWait(t *testing.T) {
	longestHandlerWait := collection.DefaultUpdateWait
	d := defaultTimeouts
	if d.Write <= longestHandlerWait+d.Read {
		t.Fatalf("write timeout %s does not outlast the %s Update wait after a %s read", d.Write, longestHandlerWait, d.Read)
	}
	if d.ReadHeader <= 0 || d.Read <= d.ReadHeader || d.Idle <= 0 {
		t.Fatalf("timeouts %+v", d)
	}
	srv := newHTTPServer("127.0.0.1:0", http.NotFoundHandler(), d)
	if srv.ReadTimeout != d.Read || srv.WriteTimeout != d.Write || srv.IdleTimeout != d.Idle || srv.ReadHeaderTimeout != d.ReadHeader {
		t.Fatalf("server %+v", srv)
	}
}

// TestTrickledBodyIsCutOff: a client that sends its body a byte at a time (here one byte
// every 300 ms, a scaled-down 1 byte / 5 s) is cut off by the read timeout: the handler's
// read fails and the connection is closed long before the body would have arrived.
func TestTrickledBodyIsCutOff(t *testing.T) {
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			http.Error(w, "body too slow", http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := newHTTPServer("127.0.0.1:0", h, serverTimeouts{ReadHeader: time.Second, Read: 1500 * time.Millisecond, Write: 5 * time.Second, Idle: 5 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const bodyLen = 100 // 30 s at this pace
	if _, err := io.WriteString(conn, "POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for i := 0; i < bodyLen; i++ {
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the trickled body was read to the end")
		}
		if !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("read failed with %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server still waits for a body trickled for 10 s")
	}
	// The connection is done: at most an error response, then EOF.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	if _, err := io.ReadAll(bufio.NewReader(conn)); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("connection not closed: %v", err)
	}
}
