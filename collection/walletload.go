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

// RunWalletLoad starts a paid load's workflow (WalletLoad) and waits up to wait for its
// outcome; a retry of the same request attaches to the workflow already started. It
// reports done when the workflow finished; the load is then re-read from the ledger.
func (c *Client) RunWalletLoad(ctx context.Context, load ledger.Load, wait time.Duration) (ledger.Load, bool, error) {
	// A retry of the request finds the load's workflow running (it is reused) or ended
	// (the load is then read as it is).
	run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       contracts.WalletLoadWorkflowID(load.ID),
		TaskQueue:                c.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// An operator finds a customer's top-ups in the Web UI (CustomerId, WalletId);
		// the workflow sets PaymentStatus to the load's outcome when it ends.
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contracts.SearchCustomerID.ValueSet(load.CustomerID),
			contracts.SearchWalletID.ValueSet(load.WalletID),
			contracts.SearchPaymentStatus.ValueSet(load.Status),
		),
		StaticSummary: "wallet load " + load.ID + ": " + load.Amount + " " + load.Currency + " (" + load.Source + ") for " + load.CustomerID,
	}, contracts.WalletLoadWorkflow, contracts.WalletLoadInput{LoadID: load.ID})
	var ended *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &ended) {
		out, err := c.Ledger.GetLoad(ctx, load.WalletID, load.ID)
		return out, err == nil, err
	}
	if err != nil {
		// Nothing was charged: the workflow's first step claims the load, and a load it
		// has not claimed is failed here so it cannot be charged later.
		// But the start may have happened with its answer lost: a load the workflow has
		// claimed is not abandoned, and is answered 202 (it is being charged).
		c.log().ErrorContext(ctx, "start wallet load workflow", "load_id", load.ID, "error", err)
		if _, aerr := c.Ledger.AbandonLoad(ctx, load.ID, "the load could not be started"); aerr != nil {
			c.log().ErrorContext(ctx, "abandon wallet load", "load_id", load.ID, "error", aerr)
		}
		if cur, gerr := c.Ledger.GetLoad(ctx, load.WalletID, load.ID); gerr == nil && cur.Status != ledger.LoadFailed {
			return cur, cur.Status == ledger.LoadSettled, nil
		}
		return ledger.Load{}, false, &apperr.Error{Kind: apperr.Unavailable, Code: "workflow_start_failed",
			Message: "the load could not be started; nothing was charged: try again with a new Idempotency-Key", Err: err}
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var res contracts.WalletLoadResult
	werr := run.Get(waitCtx, &res)
	if werr != nil && !errors.Is(werr, context.DeadlineExceeded) && !errors.Is(werr, context.Canceled) {
		c.log().WarnContext(ctx, "wallet load workflow failed", "load_id", load.ID, "error", werr)
	}
	out, err := c.Ledger.GetLoad(ctx, load.WalletID, load.ID)
	if err != nil {
		return ledger.Load{}, false, err
	}
	return out, werr == nil, nil
}
