package payments

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"payorch/ids"
	"payorch/money"
	"payorch/store"
)

var _ BankTransfers = (*Simulated)(nil)

// DefaultSimBankTransferDelay is how long after the instructions a simulated customer's
// (first) incoming transfer is due, and the gap between two partial transfers.
const DefaultSimBankTransferDelay = 10 * time.Second

// The simulated provider's bank-transfer payment methods: save one as the provider_id of a
// customer's bank_transfer payment method to choose what the simulated customer does with
// the instructions. Any other (or none) pays nothing by itself: the invoice waits for a
// transfer, or a manual reconciliation, as with a customer who has not paid yet.
const (
	// SimBankTransferFull pays the whole amount in one transfer after the delay.
	SimBankTransferFull = "pm_sim_bank_transfer_full"
	// SimBankTransferSplit pays in two transfers: half after the delay, the rest one delay
	// later.
	SimBankTransferSplit = "pm_sim_bank_transfer_split"
)

// SimAccountHolder is the holder of every simulated virtual account: it says it is fake.
const SimAccountHolder = "Simulated PSP - FAKE account, do not pay"

// SimBIC is the BIC printed with the simulated virtual IBANs (FAKE, "Deutschland").
const SimBIC = "FAKEDEFFXXX"

// SimVirtualIBAN returns the simulated provider's virtual IBAN of a customer: a German
// IBAN with the non-existent bank code 00000000 and an account number derived from the
// customer's id, so it is the same for the customer every time, its check digits are
// valid (ISO 13616 mod 97), and no real bank holds it.
func SimVirtualIBAN(customerRef string) string {
	sum := sha256.Sum256([]byte(customerRef))
	account := fmt.Sprintf("%010d", binary.BigEndian.Uint64(sum[:8])%10_000_000_000)
	bban := "00000000" + account
	// Check digits: 98 - (BBAN + "DE00" as digits) mod 97.
	digits := bban + "1314" + "00" // D=13, E=14
	n, _ := new(big.Int).SetString(digits, 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("DE%02d%s", check, bban)
}

// RequestBankTransfer gives the customer its virtual IBAN and a reference for this
// transfer, stored under the idempotency key (the same key returns the same
// instructions; another amount or currency under it is an idempotency error). By the
// customer's bank-transfer payment method (SimBankTransferFull, SimBankTransferSplit) it
// schedules the incoming transfers, each reported as an Event with Funding set, delivered
// by DeliverDueEvents like the SEPA outcomes. Currencies other than EUR are
// ErrBankTransferUnsupported (the IBAN is a SEPA account).
func (s *Simulated) RequestBankTransfer(ctx context.Context, req BankTransferRequest) (BankTransferInstructions, error) {
	if req.CustomerRef == "" {
		req.CustomerRef = req.Metadata["customer_id"]
	}
	if strings.TrimSpace(req.IdempotencyKey) == "" || len(req.IdempotencyKey) > 255 {
		return BankTransferInstructions{}, fmt.Errorf("%w: idempotency key is required (at most 255 characters)", ErrInvalidChargeRequest)
	}
	if strings.TrimSpace(req.CustomerRef) == "" {
		return BankTransferInstructions{}, fmt.Errorf("%w: a customer is required", ErrInvalidChargeRequest)
	}
	cur, err := money.NormalizeCurrency(req.Currency)
	if err != nil {
		return BankTransferInstructions{}, fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}
	if !req.Amount.IsPositive() {
		return BankTransferInstructions{}, fmt.Errorf("%w: amount must be positive, got %s", ErrInvalidChargeRequest, req.Amount)
	}
	if err := money.CheckScale(req.Amount, cur); err != nil {
		return BankTransferInstructions{}, fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}
	if cur != "EUR" {
		return BankTransferInstructions{}, fmt.Errorf("%w: the simulated virtual IBANs take EUR, not %s", ErrBankTransferUnsupported, cur)
	}
	meta := []byte("{}")
	if len(req.Metadata) > 0 {
		if meta, err = json.Marshal(req.Metadata); err != nil {
			return BankTransferInstructions{}, fmt.Errorf("%w: metadata: %w", ErrInvalidChargeRequest, err)
		}
	}
	now := s.opts.Now().UTC()
	var row store.SimBankTransfer
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		id := ids.New("sbt")
		n, err := q.InsertSimBankTransfer(ctx, store.InsertSimBankTransferParams{
			ID: id, IdempotencyKey: req.IdempotencyKey, CustomerRef: req.CustomerRef, PaymentMethodRef: req.PaymentMethodRef,
			Amount: req.Amount, Currency: cur, Iban: SimVirtualIBAN(req.CustomerRef),
			Reference: "SIM-" + strings.ToUpper(strings.TrimPrefix(id, "sbt_")[:12]), Metadata: meta, CreatedAt: now,
		})
		if err != nil {
			return err
		}
		if n == 1 {
			for i, part := range simTransferParts(req.PaymentMethodRef, req.Amount, cur) {
				if err := q.InsertSimBankTransferEvent(ctx, store.InsertSimBankTransferEventParams{
					ID: fmt.Sprintf("evt_%s_%d", id, i+1), TransferID: id, Seq: int32(i + 1), Amount: part.amount,
					Received: part.received, DueAt: now.Add(time.Duration(i+1) * s.bankTransferDelay()),
				}); err != nil {
					return err
				}
			}
		}
		row, err = q.GetSimBankTransferByKey(ctx, req.IdempotencyKey)
		return err
	})
	if err != nil {
		return BankTransferInstructions{}, simInfraError(err)
	}
	if !row.Amount.Equal(req.Amount) || row.Currency != cur || row.CustomerRef != req.CustomerRef {
		return BankTransferInstructions{}, &ProviderError{Provider: SimulatedProviderName, HTTPStatus: http.StatusBadRequest,
			Code: "idempotency_error", Retryable: false,
			Err: fmt.Errorf("%w: key %q was first used for bank transfer %s of %s %s for %q", ErrIdempotencyMismatch,
				req.IdempotencyKey, row.ID, row.Amount, row.Currency, row.CustomerRef)}
	}
	return BankTransferInstructions{
		Provider: SimulatedProviderName, ProviderReference: row.ID, Type: "eu_bank_transfer", Amount: row.Amount,
		Currency: row.Currency, Reference: row.Reference, AccountHolder: SimAccountHolder, IBAN: row.Iban, BIC: SimBIC,
		Country: "DE", BankName: "Simulated Bank (fake)",
	}, nil
}

func (s *Simulated) bankTransferDelay() time.Duration {
	if s.opts.BankTransferDelay <= 0 {
		return DefaultSimBankTransferDelay
	}
	return s.opts.BankTransferDelay
}

// simTransferPart is one incoming transfer and the running total after it.
type simTransferPart struct{ amount, received decimal.Decimal }

// simTransferParts is what the simulated customer transfers for a payment method.
func simTransferParts(pm string, amount decimal.Decimal, currency string) []simTransferPart {
	switch pm {
	case SimBankTransferFull:
		return []simTransferPart{{amount, amount}}
	case SimBankTransferSplit:
		exp, _ := money.Exponent(currency)
		half := amount.Div(decimal.NewFromInt(2)).Truncate(exp)
		if !half.IsPositive() {
			return []simTransferPart{{amount, amount}}
		}
		return []simTransferPart{{half, half}, {amount.Sub(half), amount}}
	}
	return nil
}

// BankTransferReceived returns what the simulated customer has transferred so far (the
// transfers already reported).
func (s *Simulated) BankTransferReceived(ctx context.Context, reference string) (Funding, error) {
	row, err := s.q.GetSimBankTransfer(ctx, reference)
	if store.IsNoRows(err) {
		return Funding{}, fmt.Errorf("%w: no simulated bank transfer %q", ErrInvalidChargeRequest, reference)
	}
	if err != nil {
		return Funding{}, simInfraError(err)
	}
	received, err := s.q.SimBankTransferReceived(ctx, reference)
	if err != nil {
		return Funding{}, simInfraError(err)
	}
	return Funding{Known: true, Received: received, Currency: row.Currency, Complete: received.GreaterThanOrEqual(row.Amount)}, nil
}

// deliverNextBankTransferEvent delivers the oldest due incoming transfer, in one
// transaction holding its row (FOR UPDATE SKIP LOCKED). found is false when none is due;
// delivered is false (with herr) when the handler failed and the event was postponed.
func (s *Simulated) deliverNextBankTransferEvent(ctx context.Context, handler EventHandler, now time.Time) (found, delivered bool, herr, err error) {
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		row, err := q.NextDueSimBankTransferEvent(ctx, now)
		if store.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		tr, err := q.GetSimBankTransfer(ctx, row.TransferID)
		if err != nil {
			return err
		}
		ev := Event{ID: row.ID, Provider: SimulatedProviderName, Reference: tr.ID, Status: StatusPending,
			Funding: &Funding{Known: true, Received: row.Received, Currency: tr.Currency, Complete: row.Received.GreaterThanOrEqual(tr.Amount)}}
		if ev.Funding.Complete {
			ev.Status = StatusSettled
		}
		var meta map[string]string
		if json.Unmarshal(tr.Metadata, &meta) == nil && len(meta) > 0 {
			ev.Metadata = meta
		}
		if e := handler.HandleProviderEvent(ctx, ev); e != nil {
			herr = fmt.Errorf("simulated bank transfer event %s (%s): %w", ev.ID, ev.Reference, e)
			msg := e.Error()
			if len(msg) > 1000 {
				msg = msg[:1000]
			}
			return q.PostponeSimBankTransferEvent(ctx, store.PostponeSimBankTransferEventParams{
				ID: row.ID, LastError: msg, DueAt: now.Add(s.retryDelay(int(row.Attempts) + 1))})
		}
		delivered = true
		return q.MarkSimBankTransferEventDelivered(ctx, store.MarkSimBankTransferEventDeliveredParams{ID: row.ID, DeliveredAt: now})
	})
	return found, delivered && err == nil, herr, err
}
