package payments

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func btReq(key, pm string) BankTransferRequest {
	return BankTransferRequest{IdempotencyKey: key, PaymentMethodRef: pm, Amount: decimal.RequireFromString("100.01"), Currency: "EUR",
		Metadata: map[string]string{"invoice_id": "inv_" + key, "customer_id": "cus_bt"}}
}

// TestSimulatedBankTransfers: a virtual IBAN per customer, instructions replayed per key,
// and the incoming transfers reported after the delay — one for the full amount, or two
// partial ones whose running totals reach the amount — each delivered once.
func TestSimulatedBankTransfers(t *testing.T) {
	f := newSimFixture(t)
	ctx := context.Background()
	const delay = 10 * time.Second
	f.sim.opts.BankTransferDelay = delay
	full, err := f.sim.RequestBankTransfer(ctx, btReq("full", SimBankTransferFull))
	if err != nil {
		t.Fatal(err)
	}
	split, err := f.sim.RequestBankTransfer(ctx, btReq("split", SimBankTransferSplit))
	if err != nil {
		t.Fatal(err)
	}
	idle, err := f.sim.RequestBankTransfer(ctx, btReq("idle", ""))
	if err != nil {
		t.Fatal(err)
	}
	if full.IBAN != SimVirtualIBAN("cus_bt") || split.IBAN != full.IBAN || full.AccountHolder != SimAccountHolder ||
		full.Reference == "" || full.Reference == split.Reference || full.ProviderReference == split.ProviderReference {
		t.Fatalf("instructions %+v / %+v: want the customer's virtual IBAN and a reference per transfer", full, split)
	}
	if again, err := f.sim.RequestBankTransfer(ctx, btReq("full", SimBankTransferFull)); err != nil || again.ProviderReference != full.ProviderReference {
		t.Fatalf("replay = %+v, %v; want the first transfer", again, err)
	}
	other := btReq("full", SimBankTransferFull)
	other.Amount = decimal.NewFromInt(5)
	if _, err := f.sim.RequestBankTransfer(ctx, other); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("key reused with another amount: %v", err)
	}
	usd := btReq("usd", SimBankTransferFull)
	usd.Currency = "USD"
	if _, err := f.sim.RequestBankTransfer(ctx, usd); !errors.Is(err, ErrBankTransferUnsupported) {
		t.Fatalf("USD: %v, want ErrBankTransferUnsupported", err)
	}

	h := &recorder{}
	f.clock.Add(delay - time.Second)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 0 || err != nil {
		t.Fatalf("before the delay: %d delivered, %v", n, err)
	}
	f.clock.Add(time.Second)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 2 || err != nil {
		t.Fatalf("after the delay: %d delivered, %v; want the full transfer and the first half", n, err)
	}
	f.clock.Add(delay)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 1 || err != nil {
		t.Fatalf("one delay later: %d delivered, %v; want the second half", n, err)
	}
	f.clock.Add(time.Hour)
	if n, err := f.sim.DeliverDueEvents(ctx, h); n != 0 || err != nil {
		t.Fatalf("delivered events came again: %d, %v", n, err)
	}
	got := map[string][]Event{}
	for _, ev := range h.calls() {
		got[ev.Reference] = append(got[ev.Reference], ev)
	}
	want := map[string][]string{full.ProviderReference: {"100.01"}, split.ProviderReference: {"50", "100.01"}, idle.ProviderReference: nil}
	for ref, totals := range want {
		evs := got[ref]
		if len(evs) != len(totals) {
			t.Fatalf("%s: %d events, want %d", ref, len(evs), len(totals))
		}
		for i, ev := range evs {
			last := i == len(evs)-1
			if ev.Funding == nil || !ev.Funding.Known || !ev.Funding.Received.Equal(decimal.RequireFromString(totals[i])) ||
				ev.Funding.Complete != last || ev.Funding.Currency != "EUR" || ev.Provider != SimulatedProviderName ||
				ev.Metadata["invoice_id"] == "" || (ev.Status == StatusSettled) != last {
				t.Errorf("%s event %d = %+v (funding %+v), want running total %s", ref, i, ev, ev.Funding, totals[i])
			}
		}
	}
	rec, err := f.sim.BankTransferReceived(ctx, split.ProviderReference)
	if err != nil || !rec.Received.Equal(decimal.RequireFromString("100.01")) || !rec.Complete {
		t.Fatalf("BankTransferReceived = %+v, %v", rec, err)
	}

	// A failing handler: the transfer is reported again after the retry delay.
	if _, err := f.sim.RequestBankTransfer(ctx, btReq("retry", SimBankTransferFull)); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(delay)
	h2 := &recorder{failing: true}
	if n, err := f.sim.DeliverDueEvents(ctx, h2); n != 0 || err == nil || len(h2.calls()) != 1 {
		t.Fatalf("failing handler: %d delivered, %v, %d calls", n, err, len(h2.calls()))
	}
	f.clock.Add(testRetryDelay)
	h3 := &recorder{}
	if n, err := f.sim.DeliverDueEvents(ctx, h3); n != 1 || err != nil || len(h3.calls()) != 1 {
		t.Fatalf("after the retry delay: %d delivered, %v", n, err)
	}
}
