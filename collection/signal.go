package collection

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"

	"payorch/contracts"
)

// signal sends a signal to an invoice's payment workflow. sent is false, without an
// error, when no workflow runs for the invoice (its collection has ended: nothing waits).
func (c *Client) signal(ctx context.Context, invoiceID, name string, arg any) (sent bool, err error) {
	err = c.Temporal.SignalWorkflow(ctx, contracts.InvoicePaymentWorkflowID(invoiceID), "", name, arg)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("signal %s to %s: %w", name, invoiceID, err)
	}
	return true, nil
}

// signalAll sends the signal to each invoice's workflow and returns how many received it;
// it stops at the first failure.
func (c *Client) signalAll(ctx context.Context, invoiceIDs []string, name string, arg any) (int, error) {
	n := 0
	for _, id := range invoiceIDs {
		sent, err := c.signal(ctx, id, name, arg)
		if err != nil {
			return n, err
		}
		if sent {
			n++
		}
	}
	return n, nil
}
