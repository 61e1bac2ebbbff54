package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"payorch/internal/testenv/poll"
	"payorch/outbox"
	"payorch/store"
)

func TestDeliversSignedEvent(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	ep := f.endpoint(rc.URL, nil)
	data := map[string]any{"id": "inv_1", "object": "invoice", "status": "paid", "amount_paid": "12.50"}
	evt := f.emit(outbox.InvoiceSettled, "inv_1", data)
	f.emit(outbox.EmailPaymentFailed, "inv_1", map[string]any{"error_type": "fraud"}) // internal: never sent

	st := f.runOnce()
	if st.Queued != 1 || st.Delivered != 1 {
		t.Fatalf("stats %+v, want 1 queued and delivered", st)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Header.Get(HeaderID) != evt || r.Msg.ID != evt || r.Msg.Type != outbox.InvoiceSettled {
		t.Fatalf("webhook-id %q, body id %q type %q; want %s", r.Header.Get(HeaderID), r.Msg.ID, r.Msg.Type, evt)
	}
	if r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", r.Header.Get("Content-Type"))
	}
	if err := verifyLib(r, ep.Secret); err != nil {
		t.Fatalf("reference library rejects the signature: %v", err)
	}
	if ok := verifyHMAC(t, r, ep.Secret); len(ok) != 1 || !ok[0] {
		t.Fatalf("independent HMAC check: %v (header %q)", ok, r.Header.Get(HeaderSignature))
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "created_at,data,id,type" {
		t.Fatalf("body keys %v", keys)
	}
	var gotData map[string]any
	_ = json.Unmarshal(body["data"], &gotData)
	if gotData["id"] != "inv_1" || gotData["amount_paid"] != "12.50" || gotData["status"] != "paid" {
		t.Fatalf("data %v", gotData)
	}
	if _, err := time.Parse(time.RFC3339, r.Msg.CreatedAt.Format(time.RFC3339)); err != nil || r.Msg.CreatedAt.IsZero() {
		t.Fatalf("created_at %v", r.Msg.CreatedAt)
	}
	d := f.delivery(ep.ID, evt)
	if d.Status != DeliveryDelivered || d.Attempts != 1 || d.LastStatusCode == nil || *d.LastStatusCode != 200 || d.NextAttemptAt != nil || d.DeliveredAt == nil {
		t.Fatalf("delivery %+v", d)
	}
	if n := len(f.deliveries(ep.ID)); n != 1 {
		t.Fatalf("%d deliveries, want 1 (email.* events are internal)", n)
	}
	// Nothing more to do: nothing is sent twice.
	f.clock.Add(time.Hour)
	if st := f.runOnce(); st != (Stats{}) {
		t.Fatalf("second run did %+v", st)
	}
	if len(rc.requests()) != 1 {
		t.Fatal("event sent twice")
	}
}

func TestOnlyMatchingEnabledEndpointsReceive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	all, errOnly, disabled := newReceiver(t), newReceiver(t), newReceiver(t)
	epAll := f.endpoint(all.URL, nil)
	epErr := f.endpoint(errOnly.URL, []string{outbox.InvoiceErrored, outbox.SubscriptionErrored})
	epOff := f.endpoint(disabled.URL, nil)
	off := false
	if _, err := f.svc.Update(ctx, epOff.ID, UpdateInput{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	settled := f.emit(outbox.InvoiceSettled, "inv_a", map[string]any{"id": "inv_a"})
	errored := f.emit(outbox.InvoiceErrored, "inv_b", map[string]any{"id": "inv_b"})
	f.emit(outbox.EmailLoadReceipt, "wal_c", map[string]any{"id": "wal_c"})
	f.emit("internal.something", "inv_d", map[string]any{}) // not in the catalog
	f.runOnce()

	if got, want := sorted(all.ids()), sorted([]string{settled, errored}); !slices.Equal(got, want) {
		t.Fatalf("all-events endpoint got %v, want %v", got, want)
	}
	if got := errOnly.ids(); !slices.Equal(got, []string{errored}) {
		t.Fatalf("filtered endpoint got %v, want [%s]", got, errored)
	}
	if got := disabled.ids(); len(got) != 0 {
		t.Fatalf("disabled endpoint got %v", got)
	}
	if n := len(f.deliveries(epOff.ID)); n != 0 {
		t.Fatalf("disabled endpoint has %d deliveries", n)
	}
	if n := len(f.deliveries(epErr.ID)); n != 1 {
		t.Fatalf("filtered endpoint has %d deliveries", n)
	}
	_ = epAll

	// Enabled again, it receives what happens from then on, not what it missed.
	on := true
	if _, err := f.svc.Update(ctx, epOff.ID, UpdateInput{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	later := f.emit(outbox.WalletCredited, "wal_e", map[string]any{"id": "wal_e"})
	f.runOnce()
	if got := disabled.ids(); !slices.Equal(got, []string{later}) {
		t.Fatalf("re-enabled endpoint got %v, want [%s]", got, later)
	}
	if got := errOnly.ids(); len(got) != 1 {
		t.Fatalf("filtered endpoint got %v", got)
	}
}

func TestDisabledEndpointPausesQueuedDeliveries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rc := newReceiver(t)
	rc.respond = func(_ received, n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	ep := f.endpoint(rc.URL, nil)
	evt := f.emit(outbox.WalletDebited, "wal_1", map[string]any{"id": "wal_1"})
	f.runOnce() // first attempt fails
	off := false
	if _, err := f.svc.Update(ctx, ep.ID, UpdateInput{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Hour)
	f.runOnce()
	if len(rc.requests()) != 1 {
		t.Fatalf("a disabled endpoint was called: %d requests", len(rc.requests()))
	}
	on := true
	if _, err := f.svc.Update(ctx, ep.ID, UpdateInput{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	f.runOnce()
	if got := rc.ids(); !slices.Equal(got, []string{evt, evt}) {
		t.Fatalf("got %v", got)
	}
	if d := f.delivery(ep.ID, evt); d.Status != DeliveryDelivered || d.Attempts != 2 {
		t.Fatalf("delivery %+v", d)
	}
}

func TestReceiverDownThenUpGetsEventOnce(t *testing.T) {
	f := newFixture(t)
	// A port with nothing listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ep := f.endpoint("http://"+addr+"/hooks", nil)
	evt := f.emit(outbox.InvoiceTransactionFailed, "inv_1", map[string]any{"id": "inv_1"})

	if st := f.runOnce(); st.Retrying != 1 {
		t.Fatalf("stats %+v, want one retrying", st)
	}
	d := f.delivery(ep.ID, evt)
	if d.Status != DeliveryPending || d.Attempts != 1 || d.LastStatusCode != nil || d.LastError == nil ||
		!strings.Contains(*d.LastError, "refused") || d.NextAttemptAt == nil {
		t.Fatalf("after a refused connection: %+v", d)
	}
	if got, want := d.NextAttemptAt.Sub(*d.LastAttemptAt), DefaultFirstRetry; got != want {
		t.Fatalf("next attempt in %s, want %s", got, want)
	}

	// The receiver comes back on the same address; the worker restarts (a new dispatcher:
	// everything it needs is in the database).
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	rc := startReceiver(t, ln2)
	f.disp = f.newDispatcher()
	if st := f.runOnce(); st.Delivered != 0 || len(rc.requests()) != 0 {
		t.Fatalf("sent before the retry was due: %+v", st)
	}
	f.clock.Add(DefaultFirstRetry)
	if st := f.runOnce(); st.Delivered != 1 {
		t.Fatalf("stats %+v, want delivered", st)
	}
	f.clock.Add(24 * time.Hour)
	f.runOnce()
	reqs := rc.requests()
	if len(reqs) != 1 || reqs[0].Header.Get(HeaderID) != evt {
		t.Fatalf("receiver got %v, want %s once", rc.ids(), evt)
	}
	if err := verifyLib(reqs[0], ep.Secret); err != nil {
		t.Fatal(err)
	}
	if d := f.delivery(ep.ID, evt); d.Status != DeliveryDelivered || d.Attempts != 2 || d.LastError != nil {
		t.Fatalf("delivery %+v", d)
	}
}

func TestNon2xxTimeoutAndRedirectAreRetried(t *testing.T) {
	f := newFixture(t)
	f.disp.HTTP = NewHTTPClient(300*time.Millisecond, true)

	// 500 with a body: retried, the body's start is kept.
	failing := newReceiver(t)
	failing.respond = func(received, int) int { return http.StatusInternalServerError }
	// Slow: no answer within the timeout.
	slow := newReceiver(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow.respond = func(received, int) int {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return http.StatusOK
	}
	// Redirect to another receiver, which must never be called.
	target := newReceiver(t)
	redirect := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = redirect.Serve(rl) }()
	t.Cleanup(func() { _ = redirect.Close() })

	epFail := f.endpoint(failing.URL, nil)
	epSlow := f.endpoint(slow.URL, nil)
	epRedir := f.endpoint("http://"+rl.Addr().String()+"/hooks", nil)
	evt := f.emit(outbox.SubscriptionErrored, "sub_1", map[string]any{"id": "sub_1"})
	if st := f.runOnce(); st.Retrying != 3 || st.Delivered != 0 {
		t.Fatalf("stats %+v, want 3 retrying", st)
	}
	check := func(epID string, code int32, errPart string) {
		t.Helper()
		d := f.delivery(epID, evt)
		if d.Status != DeliveryPending || d.NextAttemptAt == nil || d.LastError == nil || !strings.Contains(*d.LastError, errPart) {
			t.Fatalf("delivery %+v, want pending with error containing %q", d, errPart)
		}
		if (code == 0) != (d.LastStatusCode == nil) || (code != 0 && *d.LastStatusCode != code) {
			t.Fatalf("last status code %v, want %d", d.LastStatusCode, code)
		}
	}
	check(epFail.ID, 500, "HTTP 500: thanks")
	check(epSlow.ID, 0, "no answer within 300ms")
	check(epRedir.ID, 307, "redirects are not followed")
	if n := len(target.requests()); n != 0 {
		t.Fatalf("the redirect was followed: target got %d requests", n)
	}
}

func TestRetriesBackOffThenFailAndFlagEndpoint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rc := newReceiver(t)
	var mu sync.Mutex
	down := true
	rc.respond = func(received, int) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusBadGateway
		}
		return http.StatusNoContent
	}
	ep := f.endpoint(rc.URL, nil)
	evt := f.emit(outbox.InvoiceErrored, "inv_1", map[string]any{"id": "inv_1"})
	start := f.clock.Now()
	var delays []time.Duration
	for i := 0; i < 60; i++ {
		f.runOnce()
		d := f.delivery(ep.ID, evt)
		if d.Status != DeliveryPending {
			break
		}
		delay := d.NextAttemptAt.Sub(f.clock.Now())
		delays = append(delays, delay)
		f.clock.Add(delay)
	}
	d := f.delivery(ep.ID, evt)
	if d.Status != DeliveryFailed || d.FailedAt == nil || d.NextAttemptAt != nil || d.LastStatusCode == nil || *d.LastStatusCode != 502 {
		t.Fatalf("after the retry window: %+v", d)
	}
	if elapsed := f.clock.Now().Sub(start); elapsed > DefaultRetryWindow || elapsed < DefaultRetryWindow-DefaultMaxRetryDelay {
		t.Fatalf("gave up after %s, want about %s", elapsed, DefaultRetryWindow)
	}
	for i := 1; i < len(delays); i++ {
		if want := min(delays[i-1]*2, DefaultMaxRetryDelay); delays[i] != want {
			t.Fatalf("delay %d is %s after %s, want %s (all: %v)", i, delays[i], delays[i-1], want, delays)
		}
	}
	if int(d.Attempts) != len(rc.requests()) || d.Attempts < 10 {
		t.Fatalf("%d attempts, %d requests", d.Attempts, len(rc.requests()))
	}
	got, err := f.svc.Get(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusFailing || got.FailingSince == nil {
		t.Fatalf("endpoint not flagged: %+v", got)
	}
	// No more attempts once failed.
	n := len(rc.requests())
	f.clock.Add(48 * time.Hour)
	f.runOnce()
	if len(rc.requests()) != n {
		t.Fatal("a failed delivery was attempted again")
	}
	// The receiver recovers: the next event is delivered and the flag clears.
	mu.Lock()
	down = false
	mu.Unlock()
	next := f.emit(outbox.InvoiceSettled, "inv_2", map[string]any{"id": "inv_2"})
	f.runOnce()
	if d := f.delivery(ep.ID, next); d.Status != DeliveryDelivered || *d.LastStatusCode != 204 {
		t.Fatalf("delivery %+v", d)
	}
	if got, _ := f.svc.Get(ctx, ep.ID); got.Status != StatusActive || got.FailingSince != nil {
		t.Fatalf("endpoint still flagged: %+v", got)
	}
	// A manual retry redelivers the failed one now.
	if _, err := f.svc.RetryDelivery(ctx, f.delivery(ep.ID, evt).ID); err != nil {
		t.Fatal(err)
	}
	f.runOnce()
	if d := f.delivery(ep.ID, evt); d.Status != DeliveryDelivered || int(d.Attempts) != n+1 {
		t.Fatalf("after manual retry: %+v", d)
	}
}

func TestInOrderPerResource(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	var first string
	var mu sync.Mutex
	failedOnce := false
	rc.respond = func(r received, _ int) int {
		mu.Lock()
		defer mu.Unlock()
		if r.Msg.ID == first && !failedOnce {
			failedOnce = true
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	ep := f.endpoint(rc.URL, nil)
	mu.Lock()
	first = f.emit(outbox.InvoiceTransactionFailed, "inv_r", map[string]any{"n": 1})
	mu.Unlock()
	second := f.emit(outbox.InvoiceErrored, "inv_r", map[string]any{"n": 2})
	other := f.emit(outbox.InvoiceSettled, "inv_s", map[string]any{"n": 3})
	third := f.emit(outbox.InvoiceSettled, "inv_r", map[string]any{"n": 4})

	f.runOnce()
	if got := rc.ids(); !slices.Equal(sorted(got), sorted([]string{first, other})) {
		t.Fatalf("first run sent %v, want [%s %s]: later events of inv_r wait for the first", got, first, other)
	}
	if d := f.delivery(ep.ID, second); d.Status != DeliveryPending || d.Attempts != 0 {
		t.Fatalf("second event: %+v", d)
	}
	f.clock.Add(DefaultFirstRetry)
	f.runOnce()
	if got := rc.ids(); len(got) != 5 || !slices.Equal(got[2:], []string{first, second, third}) {
		t.Fatalf("sent %v, want inv_r's events in order", got)
	}
}

func TestSecretRotationSignsWithBothDuringOverlap(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rc := newReceiver(t)
	ep := f.endpoint(rc.URL, nil)
	oldSecret := ep.Secret
	rotated, err := f.svc.RotateSecret(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == "" || rotated.Secret == oldSecret || rotated.PreviousSecretExpiresAt == nil ||
		!rotated.PreviousSecretExpiresAt.Equal(f.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("rotated endpoint %+v", rotated)
	}
	if got, _ := f.svc.Get(ctx, ep.ID); got.Secret != "" {
		t.Fatal("GET shows the secret")
	}
	f.emit(outbox.WalletCredited, "wal_1", map[string]any{"id": "wal_1"})
	f.runOnce()
	r := rc.requests()[0]
	sigs := strings.Split(r.Header.Get(HeaderSignature), " ")
	if len(sigs) != 2 {
		t.Fatalf("signature header %q: want two signatures during the overlap", r.Header.Get(HeaderSignature))
	}
	if ok := verifyHMAC(t, r, rotated.Secret); !slices.Equal(ok, []bool{true, false}) {
		t.Fatalf("new secret matches %v, want the first signature", ok)
	}
	if ok := verifyHMAC(t, r, oldSecret); !slices.Equal(ok, []bool{false, true}) {
		t.Fatalf("old secret matches %v, want the second signature", ok)
	}
	if verifyLib(r, oldSecret) != nil || verifyLib(r, rotated.Secret) != nil {
		t.Fatal("a receiver on either secret must accept the message")
	}

	// After 24 h only the new secret signs.
	f.clock.Add(24*time.Hour + time.Second)
	if got, _ := f.svc.Get(ctx, ep.ID); got.PreviousSecretExpiresAt != nil {
		t.Fatalf("overlap still shown: %+v", got)
	}
	f.emit(outbox.WalletCredited, "wal_1", map[string]any{"id": "wal_1"})
	f.runOnce()
	r = rc.requests()[1]
	if ok := verifyHMAC(t, r, rotated.Secret); !slices.Equal(ok, []bool{true}) {
		t.Fatalf("after the overlap: %q", r.Header.Get(HeaderSignature))
	}
	if verifyLib(r, oldSecret) == nil {
		t.Fatal("the old secret still verifies after the overlap")
	}
}

func TestConcurrentDispatchersDeliverEachEventOnce(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.endpoint(rc.URL, nil)
	want := map[string]bool{}
	for i := range 30 {
		want[f.emit(outbox.WalletDebited, "wal_"+string(rune('a'+i%5)), map[string]any{"i": i})] = true
	}
	var wg sync.WaitGroup
	for range 3 {
		d := f.newDispatcher()
		d.BatchSize = 4
		wg.Go(func() {
			if _, err := d.RunOnce(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f.runOnce() // whatever a dispatcher skipped while another held the fan-out lock
	got := map[string]int{}
	for _, id := range rc.ids() {
		got[id]++
	}
	if len(got) != len(want) {
		t.Fatalf("%d distinct events received, want %d", len(got), len(want))
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Fatalf("event %s received %d times", id, n)
		}
	}
}

func TestCrashedSenderIsTakenOverAfterLease(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	ep := f.endpoint(rc.URL, nil)
	evt := f.emit(outbox.PaymentMethodErrored, "pmt_1", map[string]any{"id": "pmt_1"})
	if _, err := f.disp.FanOut(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A sender claims the delivery and dies before sending.
	now := f.clock.Now()
	claimed, err := store.New(f.pool).ClaimDueWebhookDeliveries(context.Background(), store.ClaimDueWebhookDeliveriesParams{
		Now: now, LockedUntil: now.Add(DefaultLease), BatchSize: 10,
	})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %d", err, len(claimed))
	}
	f.disp = f.newDispatcher()
	f.runOnce()
	if len(rc.requests()) != 0 {
		t.Fatal("sent while another sender held the lease")
	}
	f.clock.Add(DefaultLease)
	f.runOnce()
	if got := rc.ids(); !slices.Equal(got, []string{evt}) {
		t.Fatalf("got %v", got)
	}
	if d := f.delivery(ep.ID, evt); d.Status != DeliveryDelivered || d.Attempts != 2 {
		t.Fatalf("delivery %+v", d)
	}
}

func TestDeletedEndpointGetsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rc := newReceiver(t)
	ep := f.endpoint(rc.URL, nil)
	f.emit(outbox.SubscriptionCancelled, "sub_1", map[string]any{"id": "sub_1"})
	if _, err := f.disp.FanOut(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	f.runOnce()
	if len(rc.requests()) != 0 {
		t.Fatal("a deleted endpoint was called")
	}
	if _, err := f.svc.Get(ctx, ep.ID); err == nil {
		t.Fatal("deleted endpoint still readable")
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestRunLoopDeliversAndStops(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.endpoint(rc.URL, nil)
	f.disp.Now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.disp.Run(ctx, 20*time.Millisecond); close(done) }()
	evt := f.emit(outbox.WalletCredited, "wal_1", map[string]any{"id": "wal_1"})
	poll.Until(t, 10*time.Second, "the Run loop to deliver the event", func() (bool, string) { return len(rc.requests()) > 0, "" })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	if got := rc.ids(); !slices.Equal(got, []string{evt}) {
		t.Fatalf("got %v", got)
	}
}

// TestBatchOutlivingItsLeaseSendsEachOnce: a sender whose batch takes longer than its lease
// (a slow endpoint) loses the rest of the batch to another sender, which sends it; the
// first sender must then skip what it lost rather than send it a second time.
func TestBatchOutlivingItsLeaseSendsEachOnce(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.endpoint(rc.URL, nil)
	var events []string
	for i := range 6 {
		events = append(events, f.emit(outbox.InvoiceSettled, fmt.Sprintf("inv_%d", i), map[string]any{"id": i}))
	}
	f.disp.Concurrency = 1
	other := f.newDispatcher()
	rc.respond = func(r received, n int) int {
		switch n {
		case 1: // the endpoint is slow: half the lease goes by
			f.clock.Add(DefaultLease / 2)
		case 2:
			// During the second request the batch's lease runs out (the delivery in
			// flight was held afresh when its sending began); another worker takes over
			// the deliveries the first has not sent yet.
			f.clock.Add(DefaultLease/2 + time.Second)
			if _, err := other.RunOnce(context.Background()); err != nil {
				t.Errorf("second sender: %v", err)
			}
		}
		return http.StatusOK
	}
	f.runOnce()
	got := rc.ids()
	sort.Strings(got)
	want := append([]string(nil), events...)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("received %v, want each of %v once", got, want)
	}
}

// TestPrivateAddressesRefusedByDefault: without PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS a
// delivery never connects to a loopback (or other non-public) address: the attempt fails
// with a message saying why, and is retried like any failure.
func TestPrivateAddressesRefusedByDefault(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	ep := f.endpoint(rc.URL, nil)
	evt := f.emit(outbox.InvoiceSettled, "inv_1", map[string]any{"id": "inv_1"})
	f.disp.HTTP = NewHTTPClient(2*time.Second, false)
	if st := f.runOnce(); st.Retrying != 1 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	d := f.delivery(ep.ID, evt)
	if d.Status != DeliveryPending || d.LastError == nil || !strings.Contains(*d.LastError, "PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS") {
		t.Fatalf("delivery %+v", d)
	}
}

func TestPublicAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true, "8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "255.255.255.255": false, "::ffff:127.0.0.1": false, "::ffff:8.8.8.8": true,
	} {
		if got := PublicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}
