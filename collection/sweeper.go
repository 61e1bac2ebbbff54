package collection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"payorch/contracts"
)

// sweeperActions counts what the sweeper repaired, by action.
var sweeperActions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payorch_sweeper_actions_total",
	Help: "Repairs made by the collection sweeper: collection started for an invoice that had no workflow (start_collection), a missed new-payment-method signal sent again (resend_payment_method), an invoice of a reactivated subscription told again (resume_held_invoice), an auto top-up load's workflow started (start_auto_load), the expiry of an expiring credit scheduled (schedule_credit_expiry).",
}, []string{"action"})

// sweeperErrors counts sweeps that failed.
var sweeperErrors = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "payorch_sweeper_errors_total",
	Help: "Collection sweeps that failed (database or Temporal unavailable); the next sweep tries again.",
})

func init() { prometheus.MustRegister(sweeperActions, sweeperErrors) }

// Sweeper does what a lost request left undone: it starts the collection of collectable
// invoices that have no payment workflow (the API stored the invoice, then the start
// failed or the process died), and sends again the "payment method updated" signal that
// an invoice waiting for a new card may have missed and the "subscription reactivated"
// signal that an invoice held by its errored subscription may have missed; it also starts
// the WalletLoad workflow of the auto top-up loads that debits requested (ledger.AfterDebitTx
// writes them in the debit's transaction, so none is lost if a process dies after the
// commit), and the expiry workflow of expiring credits that have none. Every action is harmless when
// repeated, so several workers may sweep at once.
type Sweeper struct {
	// Collection starts workflows and sends the signals.
	Collection *Client
	// Log receives a line for every repair.
	Log *slog.Logger
	// Grace leaves alone what the request that made it may still be finishing.
	Grace time.Duration
	// Batch bounds the invoices looked at per sweep and action.
	Batch int

	// reactivatedSince is where the next sweep looks for subscription reactivations
	// (zero: a day back, for a worker that just started).
	reactivatedSince time.Time
}

// SweepResult says what one sweep did.
type SweepResult struct {
	// Started is how many invoices had their collection started.
	Started int
	// Resent is how many invoices were sent a missed payment-method signal again.
	Resent int
	// Resumed is how many invoices of a reactivated subscription were told again.
	Resumed int
	// AutoLoads is how many auto top-up loads had their WalletLoad workflow started.
	AutoLoads int
	// Scheduled is how many expiring credits had their expiry workflow started.
	Scheduled int
}

// Sweep runs once.
func (s *Sweeper) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	batch := s.Batch
	if batch <= 0 {
		batch = 100
	}
	unstarted, err := s.Collection.Invoices.Unstarted(ctx, s.Grace, batch)
	if err != nil {
		return res, err
	}
	var errs []error
	for _, inv := range unstarted {
		if err := s.Collection.StartInvoice(ctx, inv); err != nil {
			errs = append(errs, fmt.Errorf("start collection of %s: %w", inv.ID, err))
			continue
		}
		res.Started++
		sweeperActions.WithLabelValues("start_collection").Inc()
		s.Log.WarnContext(ctx, "sweeper: started the collection of an invoice that had no payment workflow", "invoice_id", inv.ID)
	}
	missed, err := s.Collection.Invoices.MissedPaymentMethods(ctx, s.Grace, batch)
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	for _, m := range missed {
		sent, err := s.Collection.tellPaymentMethod(ctx, m.InvoiceID, m.PaymentMethodID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !sent {
			continue // the workflow has ended
		}
		res.Resent++
		sweeperActions.WithLabelValues("resend_payment_method").Inc()
		s.Log.InfoContext(ctx, "sweeper: told a waiting invoice of its customer's new payment method", "invoice_id", m.InvoiceID, "payment_method_id", m.PaymentMethodID)
	}
	// Invoices held while their subscription was errored: tell them again that it is
	// active (a workflow that is not held ignores it). Each reactivation is told about
	// once per worker: the window moves on with every sweep that succeeds.
	since := s.reactivatedSince
	if since.IsZero() {
		since = time.Now().Add(-24 * time.Hour)
	}
	// A minute of overlap: the database's clock decides what is older than the grace, the
	// worker's where the next window starts; a signal told twice is harmless.
	next := time.Now().Add(-s.Grace - time.Minute)
	reactivated, err := s.Collection.Invoices.RecentlyReactivated(ctx, since, s.Grace, batch)
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	resumeFailed := false
	for _, r := range reactivated {
		sent, err := s.Collection.signal(ctx, r.InvoiceID, contracts.SignalSubscriptionReactivated,
			contracts.SubscriptionReactivated{SubscriptionID: r.SubscriptionID})
		if err != nil {
			resumeFailed = true
			errs = append(errs, err)
			continue
		}
		if !sent {
			continue
		}
		res.Resumed++
		sweeperActions.WithLabelValues("resume_held_invoice").Inc()
		s.Log.InfoContext(ctx, "sweeper: told an invoice that its subscription is active again", "invoice_id", r.InvoiceID, "subscription_id", r.SubscriptionID)
	}
	if !resumeFailed && len(reactivated) < batch {
		s.reactivatedSince = next
	}
	// Auto top-up loads a debit requested (in its own transaction): their workflow starts here.
	if s.Collection.Ledger != nil {
		n, err := s.Collection.StartAutoLoads(ctx, s.Grace, batch)
		res.AutoLoads = n
		sweeperActions.WithLabelValues("start_auto_load").Add(float64(n))
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Expiring credits whose expiry workflow was not started (the process died after the
	// load was committed, or Temporal was unreachable).
	if s.Collection.Ledger != nil {
		credits, err := s.Collection.Ledger.UnscheduledExpiries(ctx, s.Grace, batch)
		if err != nil {
			return res, errors.Join(append(errs, err)...)
		}
		for _, cr := range credits {
			if err := s.Collection.StartCreditExpiry(ctx, cr); err != nil {
				errs = append(errs, fmt.Errorf("schedule expiry of %s: %w", cr.TransactionID, err))
				continue
			}
			res.Scheduled++
			sweeperActions.WithLabelValues("schedule_credit_expiry").Inc()
			s.Log.WarnContext(ctx, "sweeper: scheduled the expiry of a credit that had no expiry workflow", "transaction_id", cr.TransactionID, "expires_at", cr.ExpiresAt)
		}
	}
	return res, errors.Join(errs...)
}

// Run sweeps every interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			sweeperErrors.Inc()
			s.Log.ErrorContext(ctx, "sweeper: sweep failed; trying again at the next tick", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
