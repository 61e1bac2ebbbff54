package invoices

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"payorch/ledger"
	"payorch/payments"
	"payorch/store"
)

// AttemptStart is what the first step of collection attempt n did, in one transaction.
// One of these holds: the invoice was already closed (Closed; Paid too when it is paid);
// it is held and nothing was done (Hold); the wallet paid the rest and the invoice is paid (Paid); a
// bank-transfer invoice's instructions were queued (BankTransfer); or Charge says what is
// to be charged (a pending charge to send, a charge decided locally, nothing due, or a
// hold for a missing payment method).
type AttemptStart struct {
	// Snapshot is the invoice after the step.
	Snapshot Snapshot
	// Closed is true when the invoice was paid or voided before the attempt.
	Closed bool
	// Hold is set (HoldSubscriptionErrored) when an automatic attempt must not collect the
	// invoice now; HoldReason says why.
	Hold       string
	HoldReason string
	// Wallet is what the wallet paid (zero and Skipped when nothing).
	Wallet ledger.DebitResult
	// Paid is set when the wallet covered what was due and the invoice was marked paid.
	Paid *Closing
	// BankTransfer is true for a bank-transfer invoice: the payment instructions are
	// queued (once per invoice) and the invoice waits for a reconciliation. With
	// Service.ProviderBankTransfers the instructions are the provider's and are queued by
	// the caller (BankTransferRequest, then RecordBankTransfer).
	BankTransfer bool
	// Charge is the charge of the rest on the invoice's payment method.
	Charge ChargeStart
}

// BeginAttempt runs the first step of collection attempt n of an invoice — the wallet
// first, then what follows from it — in one transaction, so a collection costs one
// database round of work before the provider is called and a crash leaves nothing half
// done: with the invoice row locked, an automatic attempt (manual false) of a held invoice
// stops (DESIGN.md "An errored subscription is not collected"); otherwise the wallet pays
// what it can (ledger.DebitTx); a fully paid invoice is marked paid (MarkPaid); a
// bank-transfer invoice gets its instructions queued; a card or direct-debit invoice gets
// the pending transaction of charge n (StartCharge). Every part is idempotent per (invoice,
// n): calling it again returns the same charge, and never debits twice.
func (s *Service) BeginAttempt(ctx context.Context, invoiceID string, n int, manual bool) (AttemptStart, error) {
	out, err := s.beginAttempt(ctx, invoiceID, n, manual)
	if store.IsUniqueViolation(err, "") {
		// A concurrent call recorded this attempt first: its outcome stands.
		out, err = s.beginAttempt(ctx, invoiceID, n, manual)
	}
	return out, err
}

func (s *Service) beginAttempt(ctx context.Context, invoiceID string, n int, manual bool) (AttemptStart, error) {
	var out AttemptStart
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		inv, err := lockInvoice(ctx, q, invoiceID)
		if err != nil {
			return err
		}
		if inv.Status == StatusPaid || inv.Status == StatusVoided {
			out.Closed = true
			if inv.Status == StatusPaid {
				// Paid before — perhaps by an earlier run of this very step whose answer was
				// lost: answer as MarkPaid would, so the subscription's held invoices are told.
				paid := Closing{InvoiceStatus: StatusPaid}
				if err := s.paidSubscription(ctx, q, inv, &paid); err != nil {
					return err
				}
				out.Paid = &paid
			}
			out.Snapshot, err = snapshotTx(ctx, q, invoiceID)
			return err
		}
		if !manual {
			snap, err := snapshotTx(ctx, q, invoiceID)
			if err != nil {
				return err
			}
			if snap.Hold != "" {
				out.Snapshot, out.Hold, out.HoldReason = snap, snap.Hold, snap.HoldReason
				return nil
			}
		}
		l := ledger.New(s.pool)
		l.Now = s.Now
		if out.Wallet, err = l.DebitTx(ctx, q, invoiceID, n); err != nil {
			return err
		}
		if inv, err = q.GetInvoice(ctx, invoiceID); err != nil {
			return fmt.Errorf("get invoice: %w", err)
		}
		switch {
		case !amountDue(inv).IsPositive():
			closing, err := s.markPaidTx(ctx, q, invoiceID, s.Now())
			if err != nil {
				return err
			}
			out.Paid = &closing
		case inv.PaymentMethod == "bank_transfer":
			if !s.ProviderBankTransfers {
				if _, err := queueBankTransferEmailTx(ctx, q, invoiceID); err != nil {
					return err
				}
			}
			out.BankTransfer = true
		default:
			if out.Charge, err = s.startChargeTx(ctx, q, invoiceID, n); err != nil {
				return err
			}
		}
		out.Snapshot, err = snapshotTx(ctx, q, invoiceID)
		return err
	})
	return out, err
}

// ChargeRecorded is a charge's answer as recorded, with the invoice afterwards.
type ChargeRecorded struct {
	Transaction Transaction
	Snapshot    Snapshot
	// Paid is set when the charge paid what was due and the invoice was marked paid.
	Paid *Closing
}

// RecordChargeOutcome records a provider's answer to a pending transaction
// (RecordChargeResult) and, when it paid what was due, marks the invoice paid (MarkPaid),
// in one transaction: a settled charge and the invoice's paid status are never apart.
func (s *Service) RecordChargeOutcome(ctx context.Context, invoiceID, txnID string, res payments.ChargeResult) (ChargeRecorded, error) {
	var out ChargeRecorded
	err := store.InTx(ctx, s.pool, func(q *store.Queries, tx pgx.Tx) error {
		var err error
		if out.Transaction, err = s.recordChargeResultTx(ctx, q, txnID, res); err != nil {
			return err
		}
		inv, err := q.GetInvoice(ctx, invoiceID)
		if err != nil {
			return fmt.Errorf("get invoice: %w", err)
		}
		if out.Transaction.Status == "settled" && !amountDue(inv).IsPositive() && (inv.Status == StatusToPay || inv.Status == StatusError) {
			// The provider holds the money: its record must not depend on the paid status.
			// Marking paid runs in a savepoint; if it fails, the recorded charge is committed
			// alone and the workflow marks the invoice paid as a step of its own.
			out.Paid, err = s.markPaidInSavepoint(ctx, tx, inv.ID)
			if err != nil {
				return err
			}
		}
		out.Snapshot, err = snapshotTx(ctx, q, inv.ID)
		return err
	})
	return out, err
}

// markPaidInSavepoint runs markPaidTx in a savepoint of tx: nil (and no error) when it
// failed and was rolled back; an error only when the transaction itself is lost.
func (s *Service) markPaidInSavepoint(ctx context.Context, tx pgx.Tx, invoiceID string) (*Closing, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	closing, err := s.markPaidTx(ctx, store.New(sp), invoiceID, s.Now())
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return nil, fmt.Errorf("mark paid: %w (rollback to savepoint: %v)", err, rerr)
		}
		return nil, nil
	}
	if err := sp.Commit(ctx); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", err)
	}
	return &closing, nil
}
