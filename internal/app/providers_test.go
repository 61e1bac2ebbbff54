package app

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"payorch/config"
	"payorch/customers"
	"payorch/internal/testenv"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{Temporal: true}) }

// TestProviderEventsResolveSimulatedSEPALoad: a paid wallet load charged to a simulated
// SEPA mandate stays pending; the simulator's event, delivered to the process's provider
// event handler, settles the load and credits the wallet once.
func TestProviderEventsResolveSimulatedSEPALoad(t *testing.T) {
	ctx := context.Background()
	pool, _ := env.Postgres.NewPool(t)
	a := &App{Config: config.Config{TaskQueue: "payorch"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Pool: pool}

	cust := ledgertest.Customer(t, pool, "EUR")
	pmRef := "pm_sim_sepa_settle"
	if _, err := customers.NewService(pool).AddPaymentMethod(ctx, cust, customers.PaymentMethodInput{
		Type: customers.TypeDirectDebit, ProviderID: &pmRef, Default: new(true)}); err != nil {
		t.Fatal(err)
	}
	l := ledger.New(pool)
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		t.Fatal(err)
	}
	ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "30.00", Type: "paid"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.PrepareLoad(ctx, ld.ID); err != nil {
		t.Fatal(err)
	}
	req, err := l.LoadChargeRequest(ctx, ld.ID)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sim := payments.NewSimulated(pool, payments.SimulatedOptions{SEPADelay: time.Minute, Now: clock})
	res, err := sim.Charge(ctx, req)
	if err != nil || res.Status != payments.StatusPending {
		t.Fatalf("charge: %+v, %v", res, err)
	}
	// The outcome overtakes the load's workflow (its charge is not recorded yet): the
	// handler fails so the provider delivers it again, and nothing is credited.
	early := payments.Event{ID: "evt_early", Provider: payments.SimulatedProviderName, Reference: res.Reference,
		Status: payments.StatusSettled, Metadata: req.Metadata}
	if err := a.ProviderEvents().HandleProviderEvent(ctx, early); err == nil {
		t.Fatal("an event before the load recorded its charge was acknowledged (and lost)")
	}
	if b := ledgertest.Balance(t, pool, w.ID); !b.IsZero() {
		t.Fatalf("balance %s after the early event, want 0", b)
	}
	if got, err := l.CompleteLoad(ctx, ld.ID, res); err != nil || got.Status != "pending" {
		t.Fatalf("complete pending: %+v, %v", got, err)
	}

	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	handler := a.ProviderEvents()
	if n, err := sim.DeliverDueEvents(ctx, handler); n != 1 || err != nil {
		t.Fatalf("delivered %d, %v", n, err)
	}
	got, err := l.LoadByID(ctx, ld.ID)
	if err != nil || got.Status != "settled" {
		t.Fatalf("load after the event: %+v, %v", got, err)
	}
	if b := ledgertest.Balance(t, pool, w.ID); b.String() != "30" {
		t.Fatalf("balance %s, want 30", b)
	}
	// The same event again (at-least-once delivery) changes nothing.
	ev := payments.Event{ID: "evt_" + res.Reference, Provider: payments.SimulatedProviderName, Reference: res.Reference, Status: payments.StatusSettled}
	if err := handler.HandleProviderEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if b := ledgertest.Balance(t, pool, w.ID); b.String() != "30" {
		t.Fatalf("balance %s after a duplicate event, want 30", b)
	}
	// An event about a charge nobody knows is acknowledged (nothing waits for it).
	if err := handler.HandleProviderEvent(ctx, payments.Event{ID: "evt_x", Reference: "pi_nobody", Status: payments.StatusSettled}); err != nil {
		t.Fatalf("unknown charge: %v", err)
	}
}
