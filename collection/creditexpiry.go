package collection

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/ledger"
)

// StartCreditExpiry starts the expiry workflow of an expiring credit (CreditExpiry, id
// credit-expiry/<transaction id>), which debits what is left of it at its expires_at, and
// records that it is started. Starting it again is harmless (the same workflow, or one that
// already ended, is kept); a start lost to a crash after the load was committed is made by
// the sweeper.
func (c *Client) StartCreditExpiry(ctx context.Context, credit ledger.ExpiringCredit) error {
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       contracts.CreditExpiryWorkflowID(credit.TransactionID),
		TaskQueue:                c.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contracts.SearchCustomerID.ValueSet(credit.CustomerID),
			contracts.SearchWalletID.ValueSet(credit.WalletID),
		),
		StaticSummary: "credit " + credit.TransactionID + " of wallet " + credit.WalletID + " expires at " + credit.ExpiresAt.UTC().Format(time.RFC3339),
	}, contracts.CreditExpiryWorkflow, contracts.CreditExpiryInput{TransactionID: credit.TransactionID, ExpiresAt: credit.ExpiresAt})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return apperr.New(apperr.Unavailable, "temporal_unavailable", "the credit's expiry could not be scheduled: "+err.Error())
	}
	return c.Ledger.MarkExpiryScheduled(ctx, credit.TransactionID)
}

// ScheduleLoadExpiry starts the expiry of a free load that carries expires_at (nothing for
// any other load). An error is logged, not returned: the load is committed, and the
// sweeper schedules its expiry.
func (c *Client) ScheduleLoadExpiry(ctx context.Context, load ledger.Load) {
	if load.ExpiresAt == nil || load.WalletTransactionID == nil {
		return
	}
	credit := ledger.ExpiringCredit{TransactionID: *load.WalletTransactionID, WalletID: load.WalletID,
		CustomerID: load.CustomerID, ExpiresAt: *load.ExpiresAt}
	if err := c.StartCreditExpiry(ctx, credit); err != nil {
		c.log().WarnContext(ctx, "credit expiry not scheduled; the sweeper will", "load_id", load.ID, "transaction_id", credit.TransactionID, "error", err)
	}
}
