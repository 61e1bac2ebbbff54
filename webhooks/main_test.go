package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"payorch/internal/testenv"
	"payorch/outbox"
	"payorch/store"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{}) }

func newClock() *testenv.Clock { return testenv.NewClock(time.Now().UTC().Truncate(time.Second)) }

// fixture is a fresh database, a service and a dispatcher sharing a test clock.
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	clock *testenv.Clock
	svc   *Service
	disp  *Dispatcher
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, _ := env.Postgres.NewPool(t)
	f := &fixture{t: t, pool: pool, clock: newClock()}
	f.svc = NewService(pool)
	f.svc.Now = f.clock.Now
	f.svc.AllowPrivateNetworks = true // the receivers listen on 127.0.0.1
	f.disp = f.newDispatcher()
	return f
}

// newDispatcher returns a dispatcher as a freshly started worker process would have it.
func (f *fixture) newDispatcher() *Dispatcher {
	d := NewDispatcher(f.pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.Now = f.clock.Now
	d.Jitter = func() float64 { return 0.5 }    // factor 1: exact doubling
	d.HTTP = NewHTTPClient(2*time.Second, true) // the receivers listen on 127.0.0.1
	return d
}

func (f *fixture) runOnce() Stats {
	f.t.Helper()
	st, err := f.disp.RunOnce(context.Background())
	if err != nil {
		f.t.Fatalf("RunOnce: %v", err)
	}
	return st
}

// endpoint registers an endpoint for url with the given event types (nil: all).
func (f *fixture) endpoint(url string, events []string) Endpoint {
	f.t.Helper()
	ep, err := f.svc.Create(context.Background(), CreateInput{URL: url, Events: events})
	if err != nil {
		f.t.Fatalf("create endpoint: %v", err)
	}
	return ep
}

// emit writes an outbox event about a resource and returns its id.
func (f *fixture) emit(typ, resourceID string, data any) string {
	f.t.Helper()
	var id string
	err := store.InTx(context.Background(), f.pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		id, err = outbox.Emit(context.Background(), q, outbox.Event{
			Type: typ, ResourceType: strings.SplitN(resourceID, "_", 2)[0], ResourceID: resourceID, Data: data,
		})
		return err
	})
	if err != nil {
		f.t.Fatalf("emit: %v", err)
	}
	return id
}

func (f *fixture) deliveries(endpointID string) []Delivery {
	f.t.Helper()
	out, _, err := f.svc.ListDeliveries(context.Background(), endpointID, DeliveryListParams{Limit: 100})
	if err != nil {
		f.t.Fatalf("list deliveries: %v", err)
	}
	return out
}

func (f *fixture) delivery(endpointID, eventID string) Delivery {
	f.t.Helper()
	for _, d := range f.deliveries(endpointID) {
		if d.EventID == eventID {
			return d
		}
	}
	f.t.Fatalf("no delivery of %s to %s", eventID, endpointID)
	return Delivery{}
}

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
	Msg    Message
}

// receiver is a real HTTP server on 127.0.0.1 that records what it gets and answers
// with respond (200 when nil).
type receiver struct {
	t       *testing.T
	srv     *http.Server
	ln      net.Listener
	URL     string
	mu      sync.Mutex
	got     []received
	respond func(r received, n int) int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startReceiver(t, ln)
}

// startReceiver serves on ln.
func startReceiver(t *testing.T, ln net.Listener) *receiver {
	rc := &receiver{t: t, ln: ln, URL: "http://" + ln.Addr().String() + "/hooks"}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = rc.srv.Serve(ln) }()
	t.Cleanup(func() { _ = rc.srv.Close() })
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := received{Header: r.Header.Clone(), Body: body}
	_ = json.Unmarshal(body, &rec.Msg)
	rc.mu.Lock()
	rc.got = append(rc.got, rec)
	n := len(rc.got)
	respond := rc.respond
	rc.mu.Unlock()
	status := http.StatusOK
	if respond != nil {
		status = respond(rec, n)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte("thanks"))
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// ids returns the webhook-id of every request, in arrival order.
func (rc *receiver) ids() []string {
	var out []string
	for _, r := range rc.requests() {
		out = append(out, r.Header.Get(HeaderID))
	}
	return out
}

// verifyHMAC checks a request's signature header with the public algorithm, written out
// here independently of the package: base64(HMAC-SHA256(key, id.timestamp.body)) where
// key is the base64 after whsec_. It reports which of the header's signatures match.
func verifyHMAC(t *testing.T, r received, secret string) []bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get(HeaderID) + "." + r.Header.Get(HeaderTimestamp) + "." + string(r.Body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	var out []bool
	for _, sig := range strings.Split(r.Header.Get(HeaderSignature), " ") {
		out = append(out, hmac.Equal([]byte(sig), []byte(want)))
	}
	return out
}

// verifyLib checks a request with the Standard Webhooks reference library (timestamp
// tolerance included).
func verifyLib(r received, secret string) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	return wh.Verify(r.Body, r.Header)
}
