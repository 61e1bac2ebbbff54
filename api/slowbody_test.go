package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowBodyCutOffByReadTimeout: the API behind a real listener whose http.Server has
// short timeouts (as apiserver sets them, scaled down): a client that trickles a customer
// creation's body a byte every 200 ms (40 s for the whole body) is cut off when the read
// timeout passes, with a typed 400 and the connection closed, within a bounded wait; no
// row is written and the Idempotency-Key it carried is not claimed. The same request sent
// at once through the same server creates the customer.
func TestSlowBodyCutOffByReadTimeout(t *testing.T) {
	fs := newFuzzServer(t)
	srv := &http.Server{Handler: fs.srv.Handler(), ReadHeaderTimeout: time.Second, ReadTimeout: 1500 * time.Millisecond,
		WriteTimeout: 10 * time.Second, IdleTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })

	body := `{"name":"Slow","email":"slow@example.com","currency":"EUR"}` + strings.Repeat(" ", 140)
	head := func(key string) string {
		return fmt.Sprintf("POST /v1/customers HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
			"Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n", backendKey, key, len(body))
	}

	// Control: at full speed the request succeeds through this server.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head("fast-1")+body); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("control: %d", resp.StatusCode)
	}

	before := fs.rows(t)
	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, head("slow-1")); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; i < len(body); i++ {
			if _, err := slow.Write([]byte{body[i]}); err != nil {
				return // the server closed the connection
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	// A bounded wait for the answer (liveness): the body would take 40 s.
	slow.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	br := bufio.NewReader(slow)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the trickled body within 10 s: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e ErrorBody
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(raw, &e) != nil || e.Error.Code == "" || e.Error.Type == "" {
		t.Fatalf("trickled body: %d %s, want a typed 400", resp.StatusCode, raw)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the connection stays open after the cut-off request")
	}
	if after := fs.rows(t); after != before {
		t.Fatalf("the trickled request wrote rows:\nbefore %s\nafter  %s", before, after)
	}
	if fs.keyRecorded(t, "slow-1") {
		t.Fatal("the trickled request's Idempotency-Key was claimed")
	}
}
