package payments

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"payorch/internal/testenv/poll"
)

// stripeMockBinary locates the stripe-mock binary that `make tools` builds into
// <module root>/.bin/stripe-mock. STRIPE_MOCK_BIN overrides the path.
func stripeMockBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STRIPE_MOCK_BIN"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".bin", "stripe-mock")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("go.mod not found above the test directory; cannot locate .bin/stripe-mock")
		}
		dir = parent
	}
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return addr
}

// lockedBuffer collects a child process's output safely while it is still writing.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startStripeMock starts stripe-mock on loopback (HTTP and HTTPS on free ports, so it
// never binds its default public ports), waits until it answers, and stops it when the
// test ends. It returns the HTTP base URL. extraArgs are passed through (e.g. -fixtures).
// A missing binary fails the test: the wire-format test must never be skipped silently.
func startStripeMock(t *testing.T, extraArgs ...string) string {
	t.Helper()
	bin := stripeMockBinary(t)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("stripe-mock binary not found at %s (%v): run `make tools` first", bin, err)
	}
	httpAddr, httpsAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	for httpsAddr == httpAddr {
		httpsAddr = freeLoopbackAddr(t)
	}
	args := append([]string{"-http-addr", httpAddr, "-https-addr", httpsAddr}, extraArgs...)
	cmd := exec.Command(bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting stripe-mock: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("stripe-mock (pid %d) did not exit after kill", cmd.Process.Pid)
		}
	})

	base := "http://" + httpAddr
	probe := &http.Client{Timeout: 500 * time.Millisecond}
	poll.Until(t, 30*time.Second, "stripe-mock to answer on "+base, func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err // let the cleanup see it too
			t.Fatalf("stripe-mock exited early (%v); output:\n%s", err, out.String())
		default:
		}
		resp, err := probe.Get(base + "/v1/payment_intents/pi_probe")
		if err != nil {
			return false, fmt.Sprintf("%v; output:\n%s", err, out.String())
		}
		resp.Body.Close()
		return true, "" // any HTTP answer means it is serving
	})
	return base
}

// TestStripeWireFormatAgainstStripeMock sends a real Charge through stripe-go to
// stripe-mock, which validates the request against Stripe's OpenAPI spec (so a parameter
// Stripe does not know, or a wrong type, fails here) and answers with a spec-shaped
// PaymentIntent. stripe-mock never declines and ignores confirm: its bundled fixture
// answers status requires_payment_method, so the settled assertion uses a fixture file
// whose PaymentIntent is succeeded.
func TestStripeWireFormatAgainstStripeMock(t *testing.T) {
	t.Run("succeeded fixture", func(t *testing.T) {
		fixtures := filepath.Join(t.TempDir(), "fixtures.json")
		const fx = `{"resources":{"payment_intent":{"id":"pi_fixture","object":"payment_intent","amount":1000,` +
			`"currency":"usd","status":"succeeded","capture_method":"automatic","confirmation_method":"automatic",` +
			`"created":1234567890,"livemode":false,"metadata":{},"payment_method_types":["card"]}}}`
		if err := os.WriteFile(fixtures, []byte(fx), 0o600); err != nil {
			t.Fatal(err)
		}
		base := startStripeMock(t, "-fixtures", fixtures)
		res, err := newTestStripe(t, base).Charge(context.Background(), testCharge("12.50", "EUR"))
		if err != nil {
			t.Fatalf("Charge against stripe-mock: %v", err)
		}
		if res.Status != StatusSettled && res.Status != StatusPending {
			t.Errorf("status = %s, want settled or pending", res.Status)
		}
		if !strings.HasPrefix(res.Reference, "pi_") {
			t.Errorf("reference = %q, want a pi_ id", res.Reference)
		}
	})

	t.Run("bundled fixtures", func(t *testing.T) {
		base := startStripeMock(t)
		for _, c := range []struct{ amount, currency string }{{"12.50", "EUR"}, {"1000", "JPY"}, {"1.234", "KWD"}} {
			req := testCharge(c.amount, c.currency)
			req.PaymentMethodRef = "pm_card_visa"
			res, err := newTestStripe(t, base).Charge(context.Background(), req)
			if err != nil {
				t.Fatalf("Charge %s %s against stripe-mock: %v", c.amount, c.currency, err)
			}
			if !strings.HasPrefix(res.Reference, "pi_") {
				t.Errorf("reference = %q, want a pi_ id", res.Reference)
			}
			switch res.Status {
			case StatusSettled, StatusPending, StatusFailed:
			default:
				t.Errorf("status = %q, not a ChargeStatus", res.Status)
			}
			t.Logf("stripe-mock bundled fixture: %s %s → %+v", c.amount, c.currency, res)
		}
	})
}
