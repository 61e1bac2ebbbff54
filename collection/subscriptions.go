package collection

import (
	"context"

	"payorch/contracts"
)

// SubscriptionReactivated tells every open invoice of a reactivated subscription that it
// may be collected again: the invoices held while the subscription was errored (DESIGN.md
// "An errored subscription is not collected") charge at once. Call it after
// subscriptions.Service.Reactivate succeeded. A workflow that no longer runs is skipped;
// a workflow that is not held ignores the signal. It returns how many were signalled.
func (c *Client) SubscriptionReactivated(ctx context.Context, subscriptionID string) (int, error) {
	ids, err := c.Invoices.OpenSubscriptionInvoiceIDs(ctx, subscriptionID)
	if err != nil {
		return 0, err
	}
	return c.signalAll(ctx, ids, contracts.SignalSubscriptionReactivated, contracts.SubscriptionReactivated{SubscriptionID: subscriptionID})
}
