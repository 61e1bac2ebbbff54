// Package outbox writes the events merchants care about into the events table, inside the
// caller's database transaction, so an event exists if and only if its state change does.
// Delivery (webhooks, email) reads the table in seq order.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"payorch/ids"
	"payorch/store"
)

// Event types of the catalog (DESIGN.md "Events out").
const (
	InvoiceSettled            = "invoice.settled"
	InvoiceErrored            = "invoice.errored"
	InvoiceTransactionFailed  = "invoice.transaction_failed"
	SubscriptionErrored       = "subscription.errored"
	SubscriptionActivated     = "subscription.activated"
	SubscriptionReactivated   = "subscription.reactivated"
	SubscriptionCancelled     = "subscription.cancelled"
	WalletCredited            = "wallet.credited"
	WalletDebited             = "wallet.debited"
	WalletTransactionReverted = "wallet.transaction_reverted"
	PaymentMethodErrored      = "payment_method.errored"
	// WalletBalanceLow: the wallet's projected balance went under its alert_below (once
	// until it climbs back above).
	WalletBalanceLow = "wallet.balance_low"
	// WalletCreditExpired: an expiring credit's unused rest was debited (data: the expiry
	// transaction, whose original_transaction_id is the credit).
	WalletCreditExpired = "wallet.credit_expired"
	// WalletLoadReversed: the provider reversed a settled paid load's charge (data: the
	// load reversal: what the wallet gave back and the invoice opened for the rest).
	WalletLoadReversed = "wallet.load_reversed"
)

// Catalog lists every public event type.
var Catalog = []string{
	InvoiceSettled, InvoiceErrored, InvoiceTransactionFailed, SubscriptionErrored,
	SubscriptionActivated, SubscriptionReactivated, SubscriptionCancelled, WalletCredited,
	WalletDebited, WalletTransactionReverted, PaymentMethodErrored, WalletBalanceLow, WalletCreditExpired, WalletLoadReversed,
}

// Internal event types: they drive customer email, and are never sent to webhook endpoints.
const (
	// EmailPaymentFailed asks for the "your payment failed, fix it in your portal" email.
	EmailPaymentFailed = "email.payment_failed"
	// EmailBankTransferInstructions asks for the invoice email with payment instructions.
	EmailBankTransferInstructions = "email.bank_transfer_instructions"
	// EmailLoadReceipt asks for the receipt email of a paid wallet load.
	EmailLoadReceipt = "email.load_receipt"
	// EmailAutoTopUpDisabled tells the customer their wallet's auto top-up switched itself
	// off after failed loads.
	EmailAutoTopUpDisabled = "email.auto_top_up_disabled"
)

// Event is one outbox row to write.
type Event struct {
	// Type is one of the constants above.
	Type string
	// ResourceType and ResourceID name the resource the event is about ("invoice", "inv_…").
	ResourceType string
	ResourceID   string
	// CustomerID is the customer concerned, when there is one.
	CustomerID string
	// Data is the resource as the API returns it (marshalled to JSON).
	Data any
}

// Emit writes the event with q, which must belong to the transaction of the state change.
// It returns the event id (evt_…).
func Emit(ctx context.Context, q *store.Queries, ev Event) (string, error) {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return "", fmt.Errorf("outbox: marshal %s: %w", ev.Type, err)
	}
	var cust *string
	if ev.CustomerID != "" {
		cust = &ev.CustomerID
	}
	row, err := q.InsertEvent(ctx, store.InsertEventParams{
		ID: ids.New(ids.Event), Type: ev.Type, ResourceType: ev.ResourceType,
		ResourceID: ev.ResourceID, CustomerID: cust, Data: data,
	})
	if err != nil {
		return "", fmt.Errorf("outbox: insert %s: %w", ev.Type, err)
	}
	return row.ID, nil
}
