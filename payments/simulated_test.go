package payments

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"payorch/config"
	"payorch/internal/testenv"
	"payorch/money"
	"payorch/store"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{}) }

const (
	testSEPADelay  = 10 * time.Second
	testRetryDelay = 2 * time.Second
)

// simFixture is a simulated provider on a fresh database, with a fake clock.
type simFixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	clock *testenv.Clock
	sim   *Simulated
}

func newSimFixture(t *testing.T) *simFixture {
	t.Helper()
	_, url := env.Postgres.NewPool(t)
	// A pool large enough for the concurrency tests to really run side by side.
	pool, err := store.Open(context.Background(), url+"&pool_max_conns=24")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	clock := testenv.NewClock(time.Date(2030, 1, 15, 9, 0, 0, 0, time.UTC))
	return &simFixture{t: t, pool: pool, clock: clock, sim: NewSimulated(pool, SimulatedOptions{
		SEPADelay: testSEPADelay, EventRetryDelay: testRetryDelay, Now: clock.Now})}
}

// req is a 12.50 EUR charge of pm with the given key.
func req(key, pm string) ChargeRequest {
	return ChargeRequest{IdempotencyKey: key, CustomerRef: "cus_sim_test", PaymentMethodRef: pm,
		Amount: decimal.RequireFromString("12.50"), Currency: "EUR", Description: "test charge",
		Metadata: map[string]string{"invoice_id": "inv_test", "attempt": "1"}}
}

// rows counts sim_charges rows (where is an optional SQL condition on $1).
func (f *simFixture) rows(where string, args ...any) int {
	f.t.Helper()
	q := "SELECT count(*) FROM sim_charges"
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *simFixture) charge(r ChargeRequest) ChargeResult {
	f.t.Helper()
	res, err := f.sim.Charge(context.Background(), r)
	if err != nil {
		f.t.Fatalf("charge %s with %s: %v", r.IdempotencyKey, r.PaymentMethodRef, err)
	}
	return res
}

// TestSimulatedPaymentMethods charges every documented id once and checks the result
// against the behaviour the README documents.
func TestSimulatedPaymentMethods(t *testing.T) {
	f := newSimFixture(t)
	cases := []struct {
		pm          string
		status      ChargeStatus
		errType     ErrorType
		hard        bool
		code        string
		declineCode string
	}{
		{"pm_card_visa", StatusSettled, "", false, "", ""},
		{"pm_card_mastercard", StatusSettled, "", false, "", ""},
		{"pm_card_amex", StatusSettled, "", false, "", ""},
		{"pm_card_visa_debit", StatusSettled, "", false, "", ""},
		{"pm_card_chargeDeclinedInsufficientFunds", StatusFailed, ErrPaymentMethodDeclined, false, "card_declined", "insufficient_funds"},
		{"pm_card_chargeDeclinedLostCard", StatusFailed, ErrPaymentMethodDeclined, true, "card_declined", "lost_card"},
		{"pm_card_chargeDeclinedStolenCard", StatusFailed, ErrPaymentMethodDeclined, true, "card_declined", "stolen_card"},
		{"pm_card_chargeDeclinedExpiredCard", StatusFailed, ErrPaymentMethodExpired, true, "expired_card", ""},
		{"pm_card_chargeDeclinedIncorrectCvc", StatusFailed, ErrPaymentMethodInvalid, true, "incorrect_cvc", ""},
		{"pm_card_authenticationRequired", StatusFailed, ErrAuthenticationRequired, true, "card_declined", "authentication_required"},
		{"pm_card_chargeDeclinedFraudulent", StatusFailed, ErrFraud, true, "card_declined", "fraudulent"},
		{"pm_card_chargeDeclinedProcessingError", StatusFailed, ErrProcessingError, false, "processing_error", ""},
		{"pm_card_chargeDeclined", StatusFailed, ErrDeclined, false, "card_declined", "generic_decline"},
		{"pm_card_chargeCustomerFail", StatusFailed, ErrDeclined, false, "card_declined", "generic_decline"},
		{"pm_sim_authorization_error", StatusFailed, ErrPaymentMethodAuthorizationError, false, "card_declined", "issuer_not_available"},
		{"pm_sim_not_supported", StatusFailed, ErrPaymentMethodNotSupported, true, "card_declined", "card_not_supported"},
		{"pm_sim_invalid", StatusFailed, ErrPaymentMethodInvalid, true, "incorrect_number", "incorrect_number"},
		{"pm_sim_do_not_try_again", StatusFailed, ErrDeclined, true, "card_declined", "do_not_try_again"},
		{"pm_sim_unknown", StatusFailed, ErrUnknown, false, "sim_unknown_error", ""},
		{"pm_sim_fail1_then_settle", StatusFailed, ErrProcessingError, false, "processing_error", ""},
		{"pm_sim_fail0_then_settle", StatusSettled, "", false, "", ""},
		{"pm_sim_outage0_then_settle", StatusSettled, "", false, "", ""},
		{"pm_sim_sepa_settle", StatusPending, "", false, "", ""},
		{"pm_sim_sepa_fail", StatusPending, "", false, "", ""},
		{"pm_sim_sepa_return", StatusPending, "", false, "", ""},
		{"pm_nope", StatusFailed, ErrPaymentMethodInvalid, true, "resource_missing", ""},
		{"pm_sim_fail_then_settle", StatusFailed, ErrPaymentMethodInvalid, true, "resource_missing", ""},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.pm, func(t *testing.T) {
			key := "key_" + c.pm
			res, err := f.sim.Charge(context.Background(), req(key, c.pm))
			if err != nil {
				t.Fatalf("charge: %v", err)
			}
			if res.Status != c.status || res.ErrorType != c.errType || res.HardDecline != c.hard ||
				res.ProviderCode != c.code || res.DeclineCode != c.declineCode {
				t.Fatalf("got %+v, want status %s type %q hard %v code %q decline %q", res, c.status, c.errType, c.hard, c.code, c.declineCode)
			}
			if (res.Status == StatusFailed) != (res.Message != "") {
				t.Fatalf("message %q for status %s", res.Message, res.Status)
			}
			if !strings.HasPrefix(res.Reference, "sim_") || seen[res.Reference] {
				t.Fatalf("reference %q is not a fresh sim_ id", res.Reference)
			}
			seen[res.Reference] = true
			if res.ErrorType != "" && res.HardDecline != IsHardDeclineType(res.ErrorType, res.DeclineCode) {
				t.Fatalf("hard decline %v disagrees with IsHardDeclineType", res.HardDecline)
			}
			if n := f.rows("idempotency_key = $1 AND id = $2 AND status = $3", key, res.Reference, string(res.Status)); n != 1 {
				t.Fatalf("%d stored rows for the charge, want 1", n)
			}
		})
	}
	// Every documented fixed id is exercised above.
	// (pm_sim_bad_credentials and the outage are TestSimulatedOutage's.)
	for _, d := range SimulatedPaymentMethods() {
		if !strings.HasPrefix(d.ID, "pm_") || strings.Contains(d.ID, "<") || d.ID == "pm_sim_bad_credentials" {
			continue
		}
		found := false
		for _, c := range cases {
			if c.pm == d.ID {
				found = true
				if c.errType != d.ErrorType && d.Status != StatusPending {
					t.Errorf("%s: documented as %q, behaves as %q", d.ID, d.ErrorType, c.errType)
				}
			}
		}
		if !found {
			t.Errorf("documented id %s has no test case", d.ID)
		}
	}
}

// TestSimulatedIdempotentReplay: the same key returns the first result and stores one row;
// the same key with other parameters is a non-retryable idempotency error.
func TestSimulatedIdempotentReplay(t *testing.T) {
	f := newSimFixture(t)
	for _, pm := range []string{"pm_card_visa", "pm_card_chargeDeclinedInsufficientFunds", "pm_sim_sepa_settle", "pm_sim_fail1_then_settle"} {
		key := "replay_" + pm
		first := f.charge(req(key, pm))
		for i := range 3 {
			r := req(key, pm)
			r.Description = fmt.Sprintf("retry %d", i) // description and metadata are not compared
			r.Metadata = map[string]string{"attempt": fmt.Sprint(i)}
			if again := f.charge(r); again != first {
				t.Fatalf("%s replay %d: %+v, first %+v", pm, i, again, first)
			}
		}
		if n := f.rows("idempotency_key = $1", key); n != 1 {
			t.Fatalf("%s: %d rows for one key", pm, n)
		}
	}
	// A restarted process (a new provider on the same database) replays too.
	restarted := NewSimulated(f.pool, SimulatedOptions{})
	again, err := restarted.Charge(context.Background(), req("replay_pm_card_visa", "pm_card_visa"))
	if err != nil || again.Status != StatusSettled {
		t.Fatalf("after restart: %+v, %v", again, err)
	}
	if n := f.rows("payment_method_ref = 'pm_card_visa'"); n != 1 {
		t.Fatalf("%d visa rows after a replay by another instance", n)
	}

	mismatches := map[string]func(*ChargeRequest){
		"amount":         func(r *ChargeRequest) { r.Amount = decimal.RequireFromString("12.51") },
		"currency":       func(r *ChargeRequest) { r.Currency = "USD" },
		"payment method": func(r *ChargeRequest) { r.PaymentMethodRef = "pm_card_mastercard" },
		"customer":       func(r *ChargeRequest) { r.CustomerRef = "cus_other" },
	}
	for name, mutate := range mismatches {
		r := req("replay_pm_card_visa", "pm_card_visa")
		mutate(&r)
		_, err := f.sim.Charge(context.Background(), r)
		var pe *ProviderError
		if !errors.As(err, &pe) || pe.Retryable || pe.Code != "idempotency_error" || !errors.Is(err, ErrIdempotencyMismatch) {
			t.Fatalf("%s mismatch: %v, want a non-retryable idempotency error", name, err)
		}
	}
	// The same amount written differently is the same amount.
	r := req("replay_pm_card_visa", "pm_card_visa")
	r.Amount = decimal.RequireFromString("12.500")
	r.Currency = "eur"
	if _, err := f.sim.Charge(context.Background(), r); err != nil {
		t.Fatalf("12.500 eur vs 12.50 EUR: %v", err)
	}
	if n := f.rows(""); n != 4 {
		t.Fatalf("%d rows in all, want 4", n)
	}
}

// TestSimulatedConcurrentSameKey: 20 concurrent calls with one key make one charge and
// all get its result.
func TestSimulatedConcurrentSameKey(t *testing.T) {
	f := newSimFixture(t)
	for _, pm := range []string{"pm_card_visa", "pm_sim_fail2_then_settle", "pm_sim_sepa_fail"} {
		key := "concurrent_" + pm
		results := make([]ChargeResult, 20)
		errs := make([]error, 20)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = f.sim.Charge(context.Background(), req(key, pm))
			}()
		}
		close(start)
		wg.Wait()
		for i := range results {
			if errs[i] != nil {
				t.Fatalf("%s call %d: %v", pm, i, errs[i])
			}
			if results[i] != results[0] {
				t.Fatalf("%s call %d got %+v, call 0 got %+v", pm, i, results[i], results[0])
			}
		}
		if n := f.rows("idempotency_key = $1", key); n != 1 {
			t.Fatalf("%s: %d rows for one key", pm, n)
		}
	}
}

// TestSimulatedFailNThenSettle: the first N distinct keys of a payment method and customer
// fail with processing_error, later ones settle, also when they race.
func TestSimulatedFailNThenSettle(t *testing.T) {
	f := newSimFixture(t)
	pm := "pm_sim_fail2_then_settle"
	want := []ChargeStatus{StatusFailed, StatusFailed, StatusSettled, StatusSettled}
	for i, w := range want {
		res := f.charge(req(fmt.Sprintf("inv_1:attempt:%d", i+1), pm))
		if res.Status != w {
			t.Fatalf("attempt %d: %s, want %s", i+1, res.Status, w)
		}
		if w == StatusFailed && (res.ErrorType != ErrProcessingError || res.HardDecline) {
			t.Fatalf("attempt %d: %+v, want a soft processing_error", i+1, res)
		}
	}
	// Replaying the first attempt still fails: the key's result never changes.
	if res := f.charge(req("inv_1:attempt:1", pm)); res.Status != StatusFailed {
		t.Fatalf("replay of attempt 1: %s", res.Status)
	}
	// Another customer has its own count.
	other := req("inv_2:attempt:1", pm)
	other.CustomerRef = "cus_other"
	if res := f.charge(other); res.Status != StatusFailed {
		t.Fatalf("other customer's first charge: %s", res.Status)
	}
	if n := f.rows("payment_method_ref = $1", pm); n != 5 {
		t.Fatalf("%d rows, want 5", n)
	}

	// Ten distinct keys at once: exactly three of them fail.
	race := "pm_sim_fail3_then_settle"
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[ChargeStatus]int{}
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.sim.Charge(context.Background(), req(fmt.Sprintf("race_%d", i), race))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			count[res.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if count[StatusFailed] != 3 || count[StatusSettled] != 7 {
		t.Fatalf("racing charges: %v, want 3 failed and 7 settled", count)
	}
	if n := f.rows("payment_method_ref = $1 AND status = 'failed'", race); n != 3 {
		t.Fatalf("%d failed rows stored, want 3", n)
	}
}

// TestSimulatedOutage: pm_sim_outage2_then_settle answers two retryable provider errors
// per key, charging nothing, then settles once.
func TestSimulatedOutage(t *testing.T) {
	f := newSimFixture(t)
	pm := "pm_sim_outage2_then_settle"
	for _, key := range []string{"outage_a", "outage_b"} {
		for call := 1; call <= 2; call++ {
			_, err := f.sim.Charge(context.Background(), req(key, pm))
			var pe *ProviderError
			if !errors.As(err, &pe) || !pe.Retryable || pe.HTTPStatus != 503 || pe.Provider != SimulatedProviderName {
				t.Fatalf("%s call %d: %v, want a retryable provider error", key, call, err)
			}
			if n := f.rows("idempotency_key = $1", key); n != 0 {
				t.Fatalf("%s call %d stored a charge during the outage", key, call)
			}
		}
		first := f.charge(req(key, pm))
		if first.Status != StatusSettled {
			t.Fatalf("%s call 3: %+v", key, first)
		}
		if again := f.charge(req(key, pm)); again != first {
			t.Fatalf("%s call 4: %+v, want the replay %+v", key, again, first)
		}
		if n := f.rows("idempotency_key = $1", key); n != 1 {
			t.Fatalf("%s: %d rows", key, n)
		}
	}

	// Bad credentials: never retryable, never a charge.
	for range 2 {
		_, err := f.sim.Charge(context.Background(), req("creds", "pm_sim_bad_credentials"))
		var pe *ProviderError
		if !errors.As(err, &pe) || pe.Retryable || pe.HTTPStatus != 401 {
			t.Fatalf("bad credentials: %v, want a non-retryable provider error", err)
		}
	}
	if n := f.rows("idempotency_key = 'creds'"); n != 0 {
		t.Fatalf("bad credentials stored %d charges", n)
	}
}

// TestSimulatedRejectsInvalidRequests: requests Stripe would refuse fail with
// ErrInvalidChargeRequest (not a provider error, not a decline) and store nothing.
func TestSimulatedRejectsInvalidRequests(t *testing.T) {
	f := newSimFixture(t)
	cases := map[string]func(*ChargeRequest){
		"no key":           func(r *ChargeRequest) { r.IdempotencyKey = "" },
		"long key":         func(r *ChargeRequest) { r.IdempotencyKey = strings.Repeat("k", 256) },
		"no method":        func(r *ChargeRequest) { r.PaymentMethodRef = " " },
		"zero amount":      func(r *ChargeRequest) { r.Amount = decimal.Zero },
		"negative amount":  func(r *ChargeRequest) { r.Amount = decimal.RequireFromString("-1") },
		"unknown currency": func(r *ChargeRequest) { r.Currency = "XXX" },
		"sub-cent EUR":     func(r *ChargeRequest) { r.Amount = decimal.RequireFromString("12.505") },
		"fractional JPY": func(r *ChargeRequest) {
			r.Currency, r.Amount = "JPY", decimal.RequireFromString("100.5")
		},
	}
	for name, mutate := range cases {
		r := req("invalid", "pm_card_visa")
		mutate(&r)
		_, err := f.sim.Charge(context.Background(), r)
		if !errors.Is(err, ErrInvalidChargeRequest) || IsProviderError(err) {
			t.Errorf("%s: %v, want ErrInvalidChargeRequest", name, err)
		}
		if name == "fractional JPY" && !errors.Is(err, money.ErrNotExact) {
			t.Errorf("%s: %v, want money.ErrNotExact", name, err)
		}
	}
	if n := f.rows(""); n != 0 {
		t.Fatalf("%d rows stored for invalid requests", n)
	}
}

// recorder is an EventHandler that records events and fails while failing is set.
type recorder struct {
	mu      sync.Mutex
	events  []Event
	failing bool
}

func (r *recorder) HandleProviderEvent(_ context.Context, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.failing {
		return errors.New("handler down")
	}
	return nil
}

func (r *recorder) calls() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// TestSimulatedSEPAEvents: a SEPA charge is pending; after the delay its outcome event is
// delivered once; a failing handler gets it again after the retry delay, then never again.
func TestSimulatedSEPAEvents(t *testing.T) {
	f := newSimFixture(t)
	ctx := context.Background()
	settle := f.charge(req("sepa_settle", "pm_sim_sepa_settle"))
	fail := f.charge(req("sepa_fail", "pm_sim_sepa_fail"))
	if settle.Status != StatusPending || fail.Status != StatusPending {
		t.Fatalf("SEPA charges %s / %s, want pending", settle.Status, fail.Status)
	}

	h := &recorder{}
	f.clock.Add(testSEPADelay - time.Second)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 0 || err != nil || len(h.calls()) != 0 {
		t.Fatalf("before the delay: %d delivered, %v, %d calls", n, err, len(h.calls()))
	}

	f.clock.Add(time.Second)
	n, err := f.sim.DeliverDueEvents(ctx, h)
	if n != 2 || err != nil {
		t.Fatalf("after the delay: %d delivered, %v", n, err)
	}
	byRef := map[string]Event{}
	for _, ev := range h.calls() {
		byRef[ev.Reference] = ev
	}
	s, fl := byRef[settle.Reference], byRef[fail.Reference]
	if s.ID != "evt_"+settle.Reference || s.Provider != SimulatedProviderName || s.Status != StatusSettled || s.ErrorType != "" ||
		s.Metadata["invoice_id"] != "inv_test" {
		t.Fatalf("settle event %+v", s)
	}
	if !strings.HasPrefix(fl.ID, "evt_sim_") || fl.Status != StatusFailed || fl.ErrorType != ErrPaymentMethodDeclined ||
		fl.DeclineCode != "insufficient_funds" || fl.HardDecline || fl.Message == "" {
		t.Fatalf("fail event %+v", fl)
	}
	f.clock.Add(time.Hour)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 0 || err != nil || len(h.calls()) != 2 {
		t.Fatalf("delivered events came again: %d, %v, %d calls", n, err, len(h.calls()))
	}
	// The charge itself still replays as pending, like a Stripe idempotent replay.
	if again := f.charge(req("sepa_settle", "pm_sim_sepa_settle")); again != settle {
		t.Fatalf("replay after the event: %+v", again)
	}

	// A failing handler: the event is retried after the retry delay, doubling.
	third := f.charge(req("sepa_retry", "pm_sim_sepa_settle"))
	f.clock.Add(testSEPADelay)
	h2 := &recorder{failing: true}
	n, err = f.sim.DeliverDueEvents(ctx, h2)
	if n != 0 || err == nil || !strings.Contains(err.Error(), "handler down") || len(h2.calls()) != 1 {
		t.Fatalf("failing handler: %d delivered, %v, %d calls", n, err, len(h2.calls()))
	}
	if n, _ := f.sim.DeliverDueEvents(ctx, h2); n != 0 || len(h2.calls()) != 1 {
		t.Fatalf("redelivered before the retry delay: %d calls", len(h2.calls()))
	}
	f.clock.Add(testRetryDelay)
	if _, err := f.sim.DeliverDueEvents(ctx, h2); err == nil || len(h2.calls()) != 2 {
		t.Fatalf("second failure: %v, %d calls", err, len(h2.calls()))
	}
	f.clock.Add(testRetryDelay) // the second retry waits twice as long
	if n, _ := f.sim.DeliverDueEvents(ctx, h2); n != 0 || len(h2.calls()) != 2 {
		t.Fatalf("backoff not doubled: %d calls", len(h2.calls()))
	}
	var attempts int
	var lastErr string
	if err := f.pool.QueryRow(ctx, "SELECT event_attempts, event_last_error FROM sim_charges WHERE id = $1", third.Reference).
		Scan(&attempts, &lastErr); err != nil || attempts != 2 || lastErr != "handler down" {
		t.Fatalf("recorded attempts %d, last error %q, %v", attempts, lastErr, err)
	}
	f.clock.Add(testRetryDelay)
	h2.mu.Lock()
	h2.failing = false
	h2.mu.Unlock()
	// A restarted process delivers it: the pending event lives in the database.
	restarted := NewSimulated(f.pool, SimulatedOptions{Now: f.clock.Now})
	if n, err := restarted.DeliverDueEvents(ctx, h2); n != 1 || err != nil || len(h2.calls()) != 3 {
		t.Fatalf("after the handler recovered: %d delivered, %v, %d calls", n, err, len(h2.calls()))
	}
	got := h2.calls()
	if got[0].ID != got[2].ID || got[2].Reference != third.Reference {
		t.Fatalf("redelivered a different event: %+v vs %+v", got[0], got[2])
	}
	f.clock.Add(24 * time.Hour)
	if n, err := f.sim.DeliverDueEvents(ctx, h2); n != 0 || err != nil || len(h2.calls()) != 3 {
		t.Fatalf("delivered again after success: %d, %v, %d calls", n, err, len(h2.calls()))
	}
	if n := f.rows("event_delivered_at IS NOT NULL"); n != 3 {
		t.Fatalf("%d events marked delivered, want 3", n)
	}
}

// TestSimulatedConcurrentPollers: several pollers at once deliver each event exactly once.
func TestSimulatedConcurrentPollers(t *testing.T) {
	f := newSimFixture(t)
	const events = 12
	for i := range events {
		f.charge(req(fmt.Sprintf("sepa_%d", i), "pm_sim_sepa_settle"))
	}
	f.clock.Add(testSEPADelay)
	h := &recorder{}
	var wg sync.WaitGroup
	total := make([]int, 4)
	for p := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := f.sim.DeliverDueEvents(context.Background(), h)
			if err != nil {
				t.Error(err)
			}
			total[p] = n
		}()
	}
	wg.Wait()
	sum := 0
	for _, n := range total {
		sum += n
	}
	ids := map[string]int{}
	for _, ev := range h.calls() {
		ids[ev.ID]++
	}
	if sum != events || len(ids) != events || len(h.calls()) != events {
		t.Fatalf("delivered %d (counted %v), %d distinct events in %d calls; want %d once each", sum, total, len(ids), len(h.calls()), events)
	}
}

// TestSimulatedRunEventLoop: the worker's loop delivers a SEPA outcome on the real clock
// and stops with its context.
func TestSimulatedRunEventLoop(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	sim := NewSimulated(pool, SimulatedOptions{SEPADelay: 50 * time.Millisecond})
	res, err := sim.Charge(context.Background(), req("loop", "pm_sim_sepa_fail"))
	if err != nil || res.Status != StatusPending {
		t.Fatalf("charge: %+v, %v", res, err)
	}
	got := make(chan Event, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sim.RunEventLoop(ctx, EventHandlerFunc(func(_ context.Context, ev Event) error {
			got <- ev
			return nil
		}), 10*time.Millisecond)
	}()
	select {
	case ev := <-got:
		if ev.Reference != res.Reference || ev.Status != StatusFailed {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Error("no event within 10s")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunEventLoop did not stop with its context")
	}
	if len(got) != 0 {
		t.Fatalf("event delivered %d more times", len(got))
	}
}

// TestFromConfig: Stripe when STRIPE_SECRET_KEY is set, else the simulated provider.
func TestFromConfig(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	p, err := FromConfig(config.Config{SimSEPADelay: time.Minute}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim, ok := p.(*Simulated)
	if !ok || p.Name() != SimulatedProviderName || sim.opts.SEPADelay != time.Minute {
		t.Fatalf("without a Stripe key: %T %s", p, p.Name())
	}
	p, err = FromConfig(config.Config{StripeSecretKey: "sk_test_123"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*Stripe); !ok || p.Name() != StripeProviderName {
		t.Fatalf("with a Stripe key: %T", p)
	}
	if _, err := FromConfig(config.Config{}, nil, nil); err == nil {
		t.Fatal("a simulated provider without a database was accepted")
	}
}

// TestREADMEDocumentsSimulatedIDs: every id the simulator knows is in the README's table.
func TestREADMEDocumentsSimulatedIDs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(env.RepoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	rows := map[string]string{}
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "| `") {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			rows[id] = line
		}
	}
	for _, d := range SimulatedPaymentMethods() {
		row, ok := rows[d.ID]
		if !ok {
			t.Errorf("README.md has no table row | `%s` | …", d.ID)
			continue
		}
		if d.ErrorType != "" && !strings.Contains(row, "`"+string(d.ErrorType)+"`") {
			t.Errorf("README.md row of %s does not name its error type %s: %s", d.ID, d.ErrorType, row)
		}
	}
}

// TestSimulatedSEPAReturn: pm_sim_sepa_return settles after the SEPA delay and is returned
// (a reversed event) after as long again, each event delivered once; a failing handler
// gets the return again later.
func TestSimulatedSEPAReturn(t *testing.T) {
	f := newSimFixture(t)
	ctx := context.Background()
	ch := f.charge(req("sepa_return", "pm_sim_sepa_return"))
	if ch.Status != StatusPending {
		t.Fatalf("charge %+v, want pending", ch)
	}
	h := &recorder{}
	f.clock.Add(testSEPADelay)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 1 || err != nil {
		t.Fatalf("settlement: %d delivered, %v", n, err)
	}
	if evs := h.calls(); len(evs) != 1 || evs[0].Status != StatusSettled || evs[0].Reference != ch.Reference {
		t.Fatalf("first event %+v, want the settlement", evs)
	}
	f.clock.Add(testSEPADelay - time.Second)
	if n, _ := f.sim.DeliverDueEvents(ctx, h); n != 0 {
		t.Fatalf("the return came before its delay")
	}
	f.clock.Add(time.Second)
	failing := &recorder{failing: true}
	if _, err := f.sim.DeliverDueEvents(ctx, failing); err == nil || len(failing.calls()) != 1 {
		t.Fatalf("failing handler: %v, %d calls", err, len(failing.calls()))
	}
	f.clock.Add(testRetryDelay)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 1 || err != nil {
		t.Fatalf("return: %d delivered, %v", n, err)
	}
	evs := h.calls()
	if len(evs) != 2 || evs[1].Status != StatusReversed || evs[1].Reference != ch.Reference || evs[1].ID == evs[0].ID ||
		evs[1].ProviderCode != "MD06" || evs[1].Metadata["invoice_id"] != "inv_test" {
		t.Fatalf("events %+v, want the settlement then the return", evs)
	}
	f.clock.Add(time.Hour)
	if n, _ := f.sim.DeliverDueEvents(ctx, h); n != 0 || len(h.calls()) != 2 {
		t.Fatalf("an event came again: %d calls", len(h.calls()))
	}
}
