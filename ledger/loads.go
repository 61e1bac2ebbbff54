package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/customers"
	"payorch/declines"
	"payorch/documents"
	"payorch/idempotency"
	"payorch/ids"
	"payorch/money"
	"payorch/outbox"
	"payorch/payments"
	"payorch/store"
)

// PortalLimits bound the loads a customer makes from the portal, in the wallet's currency
// units. Operator and API loads have no limit.
type PortalLimits struct {
	// MaxLoad is the largest single portal payment (default 100).
	MaxLoad decimal.Decimal
	// MaxBalance is the largest balance a portal load may lead to, counting loads still in
	// flight (default 500).
	MaxBalance decimal.Decimal
}

// DefaultPortalLimits are the limits of the billing platform: 100 per payment, 500 balance.
func DefaultPortalLimits() PortalLimits {
	return PortalLimits{MaxLoad: decimal.NewFromInt(100), MaxBalance: decimal.NewFromInt(500)}
}

// CheckPortalLoad applies the portal rules to a load of amount on a wallet whose balance
// is balance with inFlight still pending: the wallet's portal_top_up option must be on
// (422 portal_top_up_disabled), amount at most MaxLoad (422 portal_load_limit_exceeded),
// and balance + inFlight + amount at most MaxBalance (422 portal_balance_limit_exceeded).
// Call it inside the transaction that holds the wallet row lock, so concurrent loads
// cannot pass it together.
func CheckPortalLoad(portalTopUp bool, balance, inFlight, amount decimal.Decimal, currency string, limits PortalLimits) error {
	if !portalTopUp {
		return apperr.New(apperr.Rule, "portal_top_up_disabled", "this wallet cannot be loaded from the portal (settings.portal_top_up is off)")
	}
	if amount.GreaterThan(limits.MaxLoad) {
		return &apperr.Error{Kind: apperr.Rule, Code: "portal_load_limit_exceeded", Param: "amount",
			Message: fmt.Sprintf("a portal load is at most %s %s", money.Format(limits.MaxLoad, currency), currency)}
	}
	if after := balance.Add(inFlight).Add(amount); after.GreaterThan(limits.MaxBalance) {
		return &apperr.Error{Kind: apperr.Rule, Code: "portal_balance_limit_exceeded", Param: "amount",
			Message: fmt.Sprintf("after this load the balance would be %s %s (including loads in progress); the portal allows at most %s",
				money.Format(after, currency), currency, money.Format(limits.MaxBalance, currency))}
	}
	return nil
}

// LoadInput is the body of POST /v1/wallets/{id}/load.
type LoadInput struct {
	// Amount is a decimal string in the wallet's currency ("50.00").
	Amount string `json:"amount"`
	// Type is paid (charged to the customer's automated payment method) or free (an offer).
	Type string `json:"type"`
	// Source is api (default) or operator; portal loads go through RequestPortalLoad.
	Source *string `json:"source"`
	// ExpiresAt makes a free load's credit expire: at that time what is left of it is
	// debited (type expiry). Only for free loads, in the future, within 2000–2100.
	ExpiresAt *time.Time `json:"expires_at"`
}

// Load is a wallet load (top-up), as the API returns it.
type Load struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	WalletID   string `json:"wallet_id"`
	CustomerID string `json:"customer_id"`
	// Type is paid or free.
	Type string `json:"type"`
	// Source is operator, api or portal.
	Source   string `json:"source"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// Status is pending (paid load being charged, or a direct debit awaiting its outcome),
	// settled (credited) or failed (nothing credited; see error_type).
	Status          string  `json:"status"`
	ErrorType       *string `json:"error_type"`
	ErrorMessage    *string `json:"error_message"`
	ProviderCode    *string `json:"provider_code"`
	DeclineCode     *string `json:"decline_code"`
	PaymentMethodID *string `json:"payment_method_id"`
	// AutoTopUp is below or monthly for a load the wallet's auto top-up made (null: none).
	AutoTopUp           *string     `json:"auto_top_up"`
	InvoiceID           *string     `json:"invoice_id"`
	WalletTransactionID *string     `json:"wallet_transaction_id"`
	CreditNote          *CreditNote `json:"credit_note"`
	Receipt             *Receipt    `json:"receipt"`
	// ExpiresAt is when a free load's credit expires (null: never).
	ExpiresAt *time.Time `json:"expires_at"`
	// Reversal is set when the provider reversed a settled paid load's charge.
	Reversal    *LoadReversal `json:"reversal"`
	CreatedAt   time.Time     `json:"created_at"`
	CompletedAt *time.Time    `json:"completed_at"`
}

// CreditNote is the accounting document of a free load.
type CreditNote struct {
	ID         string `json:"id"`
	Number     string `json:"number"`
	CustomerID string `json:"customer_id"`
	WalletID   string `json:"wallet_id"`
	LoadID     string `json:"load_id"`
	Amount     string `json:"amount"`
	// Currency of the amount.
	Currency string `json:"currency"`
	// Status is issued, or voided when the load was reverted.
	Status   string     `json:"status"`
	IssuedAt time.Time  `json:"issued_at"`
	VoidedAt *time.Time `json:"voided_at"`
	// ExpiresAt is when the credit expires (null: never); its unused rest is then debited.
	ExpiresAt *time.Time `json:"expires_at"`
}

// Receipt is the informational document of a paid load (emailed to the customer).
type Receipt struct {
	ID                  string    `json:"id"`
	Number              string    `json:"number"`
	CustomerID          string    `json:"customer_id"`
	WalletID            string    `json:"wallet_id"`
	LoadID              string    `json:"load_id"`
	InvoiceID           string    `json:"invoice_id"`
	WalletTransactionID string    `json:"wallet_transaction_id"`
	Amount              string    `json:"amount"`
	Currency            string    `json:"currency"`
	PaymentMethod       string    `json:"payment_method"`
	IssuedAt            time.Time `json:"issued_at"`
}

// Pending reports whether the load still waits for its charge (a paid load whose workflow
// must run or is running).
func (l Load) Pending() bool { return l.Status == LoadPending }

// ChargeIdempotencyKey is the PSP idempotency key of a paid load's charge: the same load
// can never be charged twice, whatever retries or replays.
func ChargeIdempotencyKey(loadID string) string { return loadID + ":charge" }

// RequestLoad loads a wallet through the API or by an operator (no limits). A free load
// is credited at once with its credit note and returned settled. A paid load needs the
// customer's default payment method to be an active, unexpired card or a direct debit
// (422 no_automated_payment_method); it is recorded pending and returned: the caller
// starts the WalletLoad workflow, which charges and credits it.
func (l *Ledger) RequestLoad(ctx context.Context, walletID string, in LoadInput) (Load, error) {
	source := SourceAPI
	if in.Source != nil {
		switch *in.Source {
		case SourceAPI, SourceOperator:
			source = *in.Source
		default:
			return Load{}, apperr.InvalidParam("source", "parameter_invalid", "source must be api or operator")
		}
	}
	if in.Type != LoadPaid && in.Type != LoadFree {
		if in.Type == "" {
			return Load{}, apperr.InvalidParam("type", "parameter_missing", "type is required: paid or free")
		}
		return Load{}, apperr.InvalidParam("type", "parameter_invalid", "type must be paid or free")
	}
	if err := checkExpiresAt(in.ExpiresAt, in.Type, l.Now()); err != nil {
		return Load{}, err
	}
	return l.requestLoad(ctx, walletID, in.Amount, in.Type, source, in.ExpiresAt)
}

// RequestPortalLoad is a paid load asked for by the customer in the portal: the portal
// rules (CheckPortalLoad with l.PortalLimits) apply, checked with the wallet row locked.
func (l *Ledger) RequestPortalLoad(ctx context.Context, walletID, amount string) (Load, error) {
	return l.requestLoad(ctx, walletID, amount, LoadPaid, SourcePortal, nil)
}

func (l *Ledger) requestLoad(ctx context.Context, walletID, amountStr, typ, source string, expiresAt *time.Time) (Load, error) {
	var out Load
	err := l.inTx(ctx, func(q *store.Queries) error {
		// A retry of the request that made a load gets that load, not a second one.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (Load, error) {
			row, err := q.GetWalletLoad(ctx, id)
			if err != nil {
				return Load{}, err
			}
			return l.loadWithDocuments(ctx, q, row)
		})
		if err != nil || found {
			out = prev
			return err
		}
		if out, err = l.newLoad(ctx, q, walletID, amountStr, typ, source, expiresAt); err != nil {
			return err
		}
		return idempotency.Bind(ctx, q, out.ID, out)
	})
	return out, err
}

// newLoad makes a load in q's transaction: a free load credited at once, or a pending
// paid load for its workflow to charge.
func (l *Ledger) newLoad(ctx context.Context, q *store.Queries, walletID, amountStr, typ, source string, expiresAt *time.Time) (Load, error) {
	var out Load
	err := func() error {
		w, err := lockWallet(ctx, q, walletID)
		if err != nil {
			return err
		}
		amount, err := money.ParseAmountParam(amountStr, w.Currency, false)
		if err != nil {
			return err
		}
		inFlight, err := q.SumPendingWalletLoads(ctx, w.ID)
		if err != nil {
			return fmt.Errorf("sum pending loads: %w", err)
		}
		if err := checkBalanceRoom(w.Balance, inFlight, amount, w.Currency); err != nil {
			return err
		}
		if source == SourcePortal {
			if err := CheckPortalLoad(w.PortalTopUp, w.Balance, inFlight, amount, w.Currency, l.PortalLimits); err != nil {
				return err
			}
		}
		if typ == LoadFree {
			out, err = l.freeLoad(ctx, q, w, amount, source, expiresAt)
			return err
		}
		pm, err := l.automatedPaymentMethod(ctx, q, w.CustomerID)
		if err != nil {
			return err
		}
		row, err := q.CreateWalletLoad(ctx, store.CreateWalletLoadParams{
			ID: ids.New(ids.Load), WalletID: w.ID, CustomerID: w.CustomerID, Type: LoadPaid, Source: source,
			Amount: amount, Currency: w.Currency, Status: LoadPending, PaymentMethodID: &pm.ID,
		})
		if err != nil {
			return fmt.Errorf("create load: %w", err)
		}
		out = loadView(row, nil, nil)
		return nil
	}()
	return out, err
}

// checkBalanceRoom refuses a load after which the balance (counting the loads in flight)
// would reach money.MaxAmount, the bound of every stored amount: the balance column could
// not hold it, and a paid load's credit would fail after the customer was charged.
func checkBalanceRoom(balance, inFlight, amount decimal.Decimal, currency string) error {
	if balance.Add(inFlight).Add(amount).GreaterThanOrEqual(money.MaxAmount) {
		return &apperr.Error{Kind: apperr.Rule, Code: "balance_too_large", Param: "amount",
			Message: fmt.Sprintf("this load would take the wallet's balance (with loads in flight) to %s %s or more, more than a wallet can hold",
				money.MaxAmount.String(), currency)}
	}
	return nil
}

// automatedPaymentMethod returns the customer's default payment method when it can be
// charged off-session now: an active card that has not expired, or an active direct debit.
func (l *Ledger) automatedPaymentMethod(ctx context.Context, q *store.Queries, customerID string) (store.PaymentMethod, error) {
	refuse := func(why string) error {
		return apperr.New(apperr.Rule, "no_automated_payment_method",
			"a paid load needs an active automated payment method (a card that has not expired, or direct debit) as the customer's default: "+why)
	}
	pm, err := q.GetDefaultPaymentMethod(ctx, customerID)
	if store.IsNoRows(err) {
		return store.PaymentMethod{}, refuse("the customer has no default payment method")
	}
	if err != nil {
		return store.PaymentMethod{}, fmt.Errorf("get default payment method: %w", err)
	}
	switch {
	case pm.Status != "active":
		return store.PaymentMethod{}, refuse("the default payment method is " + pm.Status)
	case pm.ProviderID == nil:
		return store.PaymentMethod{}, refuse("the default payment method is a " + pm.Type)
	case pm.Type == customers.TypeCard:
		if pm.ExpMonth == nil || pm.ExpYear == nil || customers.CardExpired(*pm.ExpMonth, *pm.ExpYear, l.Now()) {
			return store.PaymentMethod{}, refuse("the default card has expired")
		}
	case pm.Type == customers.TypeDirectDebit:
	default:
		return store.PaymentMethod{}, refuse("the default payment method is a " + pm.Type)
	}
	return pm, nil
}

// freeLoad credits a free load at once: load row, credit_free transaction, credit note
// with the next gapless number, and the wallet.credited event, in the caller's transaction.
// With expiresAt, the credit is an expiring lot that debits consume first, and the credit
// note shows when it expires; the caller schedules its expiry (collection.StartCreditExpiry).
func (l *Ledger) freeLoad(ctx context.Context, q *store.Queries, w store.Wallet, amount decimal.Decimal, source string, expiresAt *time.Time) (Load, error) {
	loadID, txID := ids.New(ids.Load), ids.New(ids.WalletTx)
	// The load and its transaction reference each other: the load is inserted settled,
	// naming the credit written next (that foreign key is checked at commit).
	now := time.Now()
	row, err := q.CreateWalletLoad(ctx, store.CreateWalletLoadParams{
		ID: loadID, WalletID: w.ID, CustomerID: w.CustomerID, Type: LoadFree, Source: source,
		Amount: amount, Currency: w.Currency, Status: LoadSettled, WalletTransactionID: &txID, CompletedAt: &now,
	})
	if err != nil {
		return Load{}, fmt.Errorf("create load: %w", err)
	}
	tx, err := q.CreditWallet(ctx, store.CreditWalletParams{
		ID: txID, WalletID: w.ID, Type: TypeCreditFree, Amount: amount, Source: source, LoadID: &loadID,
	})
	if err != nil {
		return Load{}, fmt.Errorf("credit wallet: %w", err)
	}
	if expiresAt != nil {
		if _, err := q.CreateCreditLot(ctx, store.CreateCreditLotParams{
			WalletTransactionID: tx.ID, WalletID: w.ID, Amount: amount, ExpiresAt: *expiresAt,
		}); err != nil {
			return Load{}, fmt.Errorf("create credit lot: %w", err)
		}
	}
	number, err := documents.NextNumber(ctx, q, documents.KindCreditNote)
	if err != nil {
		return Load{}, err
	}
	cn, err := q.CreateCreditNote(ctx, store.CreateCreditNoteParams{
		ID: ids.New(ids.CreditNote), Number: number, CustomerID: w.CustomerID, WalletID: w.ID,
		LoadID: loadID, WalletTransactionID: tx.ID, Amount: amount, Currency: w.Currency, ExpiresAt: expiresAt,
	})
	if err != nil {
		return Load{}, fmt.Errorf("create credit note: %w", err)
	}
	if _, err := outbox.Emit(ctx, q, outbox.Event{
		Type: outbox.WalletCredited, ResourceType: "wallet_transaction", ResourceID: tx.ID,
		CustomerID: w.CustomerID, Data: TransactionView(tx),
	}); err != nil {
		return Load{}, err
	}
	if err := l.CheckBalanceAlertTx(ctx, q, w.CustomerID); err != nil {
		return Load{}, err
	}
	return loadView(row, &cn, nil), nil
}

// GetLoad returns a load of a wallet.
func (l *Ledger) GetLoad(ctx context.Context, walletID, loadID string) (Load, error) {
	q := store.New(l.pool)
	row, err := q.GetWalletLoad(ctx, loadID)
	if store.IsNoRows(err) || (err == nil && row.WalletID != walletID) {
		return Load{}, apperr.NotFoundf("wallet load", loadID)
	}
	if err != nil {
		return Load{}, fmt.Errorf("get load: %w", err)
	}
	return l.loadWithDocuments(ctx, q, row)
}

// LoadByID returns a load by id alone (for the workflow).
func (l *Ledger) LoadByID(ctx context.Context, loadID string) (Load, error) {
	q := store.New(l.pool)
	row, err := q.GetWalletLoad(ctx, loadID)
	if store.IsNoRows(err) {
		return Load{}, apperr.NotFoundf("wallet load", loadID)
	}
	if err != nil {
		return Load{}, fmt.Errorf("get load: %w", err)
	}
	return l.loadWithDocuments(ctx, q, row)
}

func (l *Ledger) loadWithDocuments(ctx context.Context, q *store.Queries, row store.WalletLoad) (Load, error) {
	var cn *store.CreditNote
	var rc *store.Receipt
	if row.Type == LoadFree {
		c, err := q.GetCreditNoteByLoad(ctx, row.ID)
		if err != nil && !store.IsNoRows(err) {
			return Load{}, fmt.Errorf("get credit note: %w", err)
		}
		if err == nil {
			cn = &c
		}
	} else if row.Status == LoadSettled {
		r, err := q.GetReceiptByLoad(ctx, row.ID)
		if err != nil && !store.IsNoRows(err) {
			return Load{}, fmt.Errorf("get receipt: %w", err)
		}
		if err == nil {
			rc = &r
		}
		rev, err := q.GetLoadReversal(ctx, row.ID)
		if err != nil && !store.IsNoRows(err) {
			return Load{}, fmt.Errorf("get reversal: %w", err)
		}
		if err == nil {
			v := loadView(row, cn, rc)
			r := reversalView(rev)
			v.Reversal = &r
			return v, nil
		}
	}
	return loadView(row, cn, rc), nil
}

// AbandonLoad fails a paid load whose workflow could not be started, unless the workflow
// has already claimed it; it returns the load as it now stands.
func (l *Ledger) AbandonLoad(ctx context.Context, loadID, reason string) (Load, error) {
	q := store.New(l.pool)
	if _, err := q.FailUnstartedWalletLoad(ctx, store.FailUnstartedWalletLoadParams{ID: loadID, ErrorMessage: &reason}); err != nil && !store.IsNoRows(err) {
		return Load{}, fmt.Errorf("abandon load: %w", err)
	}
	return l.LoadByID(ctx, loadID)
}

// PrepareLoad creates the one-off invoice (kind wallet_load, total = amount) of a pending
// paid load, once: a second call returns the same load. A load that is no longer pending
// is returned as is (the caller must not charge it).
func (l *Ledger) PrepareLoad(ctx context.Context, loadID string) (Load, error) {
	var out store.WalletLoad
	err := l.inTx(ctx, func(q *store.Queries) error {
		ld, err := q.LockWalletLoad(ctx, loadID)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("wallet load", loadID)
		}
		if err != nil {
			return fmt.Errorf("lock load: %w", err)
		}
		out = ld
		if ld.Status != LoadPending || ld.InvoiceID != nil {
			return nil
		}
		if ld.Type != LoadPaid || ld.PaymentMethodID == nil {
			return fmt.Errorf("load %s is not a paid load", ld.ID)
		}
		pm, err := q.GetPaymentMethod(ctx, *ld.PaymentMethodID)
		if err != nil {
			return fmt.Errorf("get payment method: %w", err)
		}
		inv, err := q.LedgerCreateLoadInvoice(ctx, store.LedgerCreateLoadInvoiceParams{
			ID: ids.New(ids.Invoice), CustomerID: ld.CustomerID, Currency: ld.Currency,
			PaymentMethod: pm.Type, Total: ld.Amount,
		})
		if err != nil {
			return fmt.Errorf("create load invoice: %w", err)
		}
		if err := q.LedgerCreateInvoiceLine(ctx, store.LedgerCreateInvoiceLineParams{
			InvoiceID: inv.ID, Position: 1, Description: "Wallet top-up", Amount: ld.Amount,
		}); err != nil {
			return fmt.Errorf("create load invoice line: %w", err)
		}
		out, err = q.SetWalletLoadInvoice(ctx, store.SetWalletLoadInvoiceParams{ID: ld.ID, InvoiceID: &inv.ID})
		if err != nil {
			return fmt.Errorf("set load invoice: %w", err)
		}
		return nil
	})
	if err != nil {
		return Load{}, err
	}
	return loadView(out, nil, nil), nil
}

// LoadChargeRequest builds the PSP request of a prepared paid load. Its idempotency key
// is ChargeIdempotencyKey(load id).
func (l *Ledger) LoadChargeRequest(ctx context.Context, loadID string) (payments.ChargeRequest, error) {
	d, err := store.New(l.pool).GetWalletLoadChargeDetails(ctx, loadID)
	if store.IsNoRows(err) {
		return payments.ChargeRequest{}, apperr.NotFoundf("paid wallet load", loadID)
	}
	if err != nil {
		return payments.ChargeRequest{}, fmt.Errorf("load charge details: %w", err)
	}
	if d.InvoiceID == nil {
		return payments.ChargeRequest{}, fmt.Errorf("load %s has no invoice yet: PrepareLoad first", loadID)
	}
	if d.PaymentMethodRef == nil {
		return payments.ChargeRequest{}, fmt.Errorf("load %s: payment method has no provider id", loadID)
	}
	req := payments.ChargeRequest{
		IdempotencyKey:   ChargeIdempotencyKey(loadID),
		PaymentMethodRef: *d.PaymentMethodRef,
		Amount:           d.Amount,
		Currency:         d.Currency,
		Description:      "Wallet top-up " + loadID,
		Metadata:         map[string]string{"load_id": loadID, "wallet_id": d.WalletID, "invoice_id": *d.InvoiceID, "customer_id": d.CustomerID},
	}
	if d.ProviderCustomerID != nil {
		req.CustomerRef = *d.ProviderCustomerID
	}
	return req, nil
}

// CompleteLoad records the outcome of a paid load's charge, in one database transaction,
// at most once per load (a repeated call returns the load as it stands):
//   - settled: credit_paid transaction (source = the load's source), the invoice paid with
//     its settled card/direct-debit transaction, a receipt, events wallet.credited and
//     email.load_receipt;
//   - failed: nothing credited; the failed transaction is recorded, the one-off invoice
//     voided, the load failed with the error type;
//   - pending (direct debit): the pending transaction and the charge reference are
//     recorded; ResolvePendingLoad finishes it when the provider reports the outcome.
func (l *Ledger) CompleteLoad(ctx context.Context, loadID string, res payments.ChargeResult) (Load, error) {
	var out Load
	err := l.inTx(ctx, func(q *store.Queries) error {
		ld, err := q.LockWalletLoad(ctx, loadID)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("wallet load", loadID)
		}
		if err != nil {
			return fmt.Errorf("lock load: %w", err)
		}
		out, err = l.completeLocked(ctx, q, ld, res)
		return err
	})
	return out, err
}

// ResolvePendingLoad applies a provider's asynchronous outcome (a direct debit settling or
// failing) to the pending load whose charge has that reference. It is idempotent: an
// outcome for a load that is no longer pending changes nothing. No load with that
// reference: a 404 apperr (the reference may belong to an invoice).
func (l *Ledger) ResolvePendingLoad(ctx context.Context, ev payments.Event) (Load, error) {
	if ev.Reference == "" {
		return Load{}, apperr.InvalidParam("reference", "parameter_missing", "the event has no charge reference")
	}
	var out Load
	err := l.inTx(ctx, func(q *store.Queries) error {
		ld, err := q.LockWalletLoadByChargeReference(ctx, &ev.Reference)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("wallet load with charge reference", ev.Reference)
		}
		if err != nil {
			return fmt.Errorf("lock load: %w", err)
		}
		out, err = l.completeLocked(ctx, q, ld, payments.ChargeResult{
			Status: ev.Status, Reference: ev.Reference, ErrorType: ev.ErrorType, HardDecline: ev.HardDecline,
			ProviderCode: ev.ProviderCode, DeclineCode: ev.DeclineCode, Message: ev.Message,
		})
		return err
	})
	return out, err
}

func (l *Ledger) completeLocked(ctx context.Context, q *store.Queries, ld store.WalletLoad, res payments.ChargeResult) (Load, error) {
	if ld.Status != LoadPending {
		return l.loadWithDocuments(ctx, q, ld)
	}
	if ld.InvoiceID == nil || ld.PaymentMethodID == nil {
		return Load{}, fmt.Errorf("load %s was not prepared (no invoice)", ld.ID)
	}
	pm, err := q.GetPaymentMethod(ctx, *ld.PaymentMethodID)
	if err != nil {
		return Load{}, fmt.Errorf("get payment method: %w", err)
	}
	ref := optional(res.Reference)
	key := ChargeIdempotencyKey(ld.ID)
	record := store.LedgerRecordChargeTransactionParams{
		ID: ids.New(ids.Transaction), InvoiceID: *ld.InvoiceID, Method: pm.Type, Amount: ld.Amount,
		Currency: ld.Currency, Status: string(res.Status), ProviderReference: ref,
		PaymentMethodID: &pm.ID, IdempotencyKey: &key,
	}
	switch res.Status {
	case payments.StatusSettled:
		now := time.Now()
		record.PaidAt = &now
		if _, err := q.LedgerRecordChargeTransaction(ctx, record); err != nil {
			return Load{}, fmt.Errorf("record charge: %w", err)
		}
		tx, err := q.CreditWallet(ctx, store.CreditWalletParams{
			ID: ids.New(ids.WalletTx), WalletID: ld.WalletID, Type: TypeCreditPaid, Amount: ld.Amount,
			Source: ld.Source, InvoiceID: ld.InvoiceID, LoadID: &ld.ID,
		})
		if err != nil {
			return Load{}, fmt.Errorf("credit wallet: %w", err)
		}
		// The money was captured: the credit stands even if someone closed the one-off
		// invoice meanwhile (then it is left as it is).
		if _, err := q.LedgerMarkLoadInvoicePaid(ctx, *ld.InvoiceID); err != nil && !store.IsNoRows(err) {
			return Load{}, fmt.Errorf("mark load invoice paid: %w", err)
		}
		number, err := documents.NextNumber(ctx, q, documents.KindReceipt)
		if err != nil {
			return Load{}, err
		}
		rc, err := q.CreateReceipt(ctx, store.CreateReceiptParams{
			ID: ids.New(ids.Receipt), Number: number, CustomerID: ld.CustomerID,
			WalletID: ld.WalletID, LoadID: ld.ID, InvoiceID: *ld.InvoiceID, WalletTransactionID: tx.ID,
			Amount: ld.Amount, Currency: ld.Currency, PaymentMethod: pm.Type,
		})
		if err != nil {
			return Load{}, fmt.Errorf("create receipt: %w", err)
		}
		settled, err := q.SettleWalletLoad(ctx, store.SettleWalletLoadParams{ID: ld.ID, WalletTransactionID: &tx.ID, ChargeReference: ref})
		if err != nil {
			return Load{}, fmt.Errorf("settle load: %w", err)
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.WalletCredited, ResourceType: "wallet_transaction", ResourceID: tx.ID,
			CustomerID: ld.CustomerID, Data: TransactionView(tx),
		}); err != nil {
			return Load{}, err
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.EmailLoadReceipt, ResourceType: "receipt", ResourceID: rc.ID,
			CustomerID: ld.CustomerID, Data: receiptView(rc),
		}); err != nil {
			return Load{}, err
		}
		if err := l.autoLoadOutcomeTx(ctx, q, settled, pm); err != nil {
			return Load{}, err
		}
		if err := l.CheckBalanceAlertTx(ctx, q, ld.CustomerID); err != nil {
			return Load{}, err
		}
		return loadView(settled, nil, &rc), nil
	case payments.StatusFailed:
		et := res.ErrorType
		if et == "" {
			et = payments.ErrUnknown
		}
		// Whether the method no longer works is the decline policy's call, as for an invoice.
		hard := declines.IsHard(et, res.DeclineCode, res.ProviderCode)
		record.ErrorType, record.HardDecline = strptr(string(et)), hard
		record.ProviderCode, record.DeclineCode, record.ProviderMessage = optional(res.ProviderCode), optional(res.DeclineCode), optional(res.Message)
		if _, err := q.LedgerRecordChargeTransaction(ctx, record); err != nil {
			return Load{}, fmt.Errorf("record failed charge: %w", err)
		}
		if _, err := q.LedgerVoidLoadInvoice(ctx, *ld.InvoiceID); err != nil && !store.IsNoRows(err) {
			return Load{}, fmt.Errorf("void load invoice: %w", err)
		}
		// A hard decline (an expired or blocked card…) shows the method no longer works:
		// marked errored with payment_method.errored, exactly as an invoice's charge does.
		if hard {
			if _, err := customers.MarkErrored(ctx, q, pm.ID, string(et), *ld.InvoiceID); err != nil {
				return Load{}, err
			}
		}
		failed, err := q.FailWalletLoad(ctx, store.FailWalletLoadParams{
			ID: ld.ID, ErrorType: strptr(string(et)), ProviderCode: optional(res.ProviderCode),
			DeclineCode: optional(res.DeclineCode), ErrorMessage: optional(res.Message), ChargeReference: ref,
		})
		if err != nil {
			return Load{}, fmt.Errorf("fail load: %w", err)
		}
		if err := l.autoLoadOutcomeTx(ctx, q, failed, pm); err != nil {
			return Load{}, err
		}
		return loadView(failed, nil, nil), nil
	case payments.StatusPending:
		if res.Reference == "" {
			return Load{}, fmt.Errorf("load %s: a pending charge needs a provider reference", ld.ID)
		}
		if _, err := q.LedgerRecordChargeTransaction(ctx, record); err != nil && !store.IsNoRows(err) {
			return Load{}, fmt.Errorf("record pending charge: %w", err)
		}
		pending, err := q.SetWalletLoadChargeReference(ctx, store.SetWalletLoadChargeReferenceParams{ID: ld.ID, ChargeReference: ref})
		if err != nil {
			return Load{}, fmt.Errorf("set charge reference: %w", err)
		}
		return loadView(pending, nil, nil), nil
	default:
		return Load{}, fmt.Errorf("load %s: unknown charge status %q", ld.ID, res.Status)
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func loadView(r store.WalletLoad, cn *store.CreditNote, rc *store.Receipt) Load {
	v := Load{
		ID: r.ID, Object: "wallet_load", WalletID: r.WalletID, CustomerID: r.CustomerID, Type: r.Type,
		Source: r.Source, Amount: money.Format(r.Amount, r.Currency), Currency: r.Currency, Status: r.Status,
		ErrorType: r.ErrorType, ErrorMessage: r.ErrorMessage, ProviderCode: r.ProviderCode, DeclineCode: r.DeclineCode,
		PaymentMethodID: r.PaymentMethodID, InvoiceID: r.InvoiceID, WalletTransactionID: r.WalletTransactionID,
		AutoTopUp: r.AutoTopUp, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.CompletedAt != nil {
		t := r.CompletedAt.UTC()
		v.CompletedAt = &t
	}
	if cn != nil {
		c := creditNoteView(*cn)
		v.CreditNote = &c
		v.ExpiresAt = c.ExpiresAt
	}
	if rc != nil {
		r := receiptView(*rc)
		v.Receipt = &r
	}
	return v
}

func receiptView(r store.Receipt) Receipt {
	return Receipt{
		ID: r.ID, Number: r.Number, CustomerID: r.CustomerID, WalletID: r.WalletID, LoadID: r.LoadID,
		InvoiceID: r.InvoiceID, WalletTransactionID: r.WalletTransactionID,
		Amount: money.Format(r.Amount, r.Currency), Currency: r.Currency, PaymentMethod: r.PaymentMethod,
		IssuedAt: r.IssuedAt.UTC(),
	}
}
