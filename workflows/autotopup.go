package workflows

import (
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"payorch/contracts"
	"payorch/steps"
)

// WalletAutoTopUp is the run a wallet's monthly auto top-up schedule starts (schedule id
// wallet-auto-top-up/<wallet_id>, DESIGN.md "Wallet automation"):
//
//  1. RequestMonthlyTopUp makes the month's auto load (a pending paid load of the auto
//     top-up's amount, portal limits not applied), once per wallet and month: a repeated
//     run of the same month finds the same load. A wallet whose auto top-up was removed,
//     has no monthly_on or was switched off gets none, and the run ends;
//  2. the load is charged by its own WalletLoad workflow (wallet-load/<load_id>), run as a
//     child that outlives this run; if the worker's sweeper started it first, this run
//     leaves it to that workflow.
//
// Failures are counted by the ledger when the load completes (3 in a row switch the auto
// top-up off), as for a load started by a debit.
func WalletAutoTopUp(ctx workflow.Context, in contracts.WalletAutoTopUpInput) (contracts.WalletAutoTopUpResult, error) {
	var out contracts.WalletAutoTopUpResult
	db := workflow.WithActivityOptions(ctx, walletLoadDB)
	var made steps.MonthlyTopUp
	req := steps.MonthlyTopUpInput{WalletID: in.WalletID, At: workflow.Now(ctx)}
	if err := workflow.ExecuteActivity(db, a.RequestMonthlyTopUp, req).Get(ctx, &made); err != nil {
		return out, err
	}
	if made.LoadID == "" {
		out.Skipped = made.Skipped
		workflow.SetCurrentDetails(ctx, "no monthly load: "+made.Skipped)
		return out, nil
	}
	out.Load = contracts.WalletLoadResult{ID: made.LoadID, Status: made.Status}
	if made.Status != "pending" {
		return out, nil // this month's load was made and charged by an earlier run
	}
	workflow.SetCurrentDetails(ctx, "charging monthly load "+made.LoadID)
	child := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            contracts.WalletLoadWorkflowID(made.LoadID),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contracts.SearchCustomerID.ValueSet(made.CustomerID),
			contracts.SearchWalletID.ValueSet(in.WalletID),
			contracts.SearchPaymentStatus.ValueSet(made.Status),
		),
		StaticSummary: "monthly auto top-up load " + made.LoadID + " of wallet " + in.WalletID,
	})
	err := workflow.ExecuteChildWorkflow(child, contracts.WalletLoadWorkflow, contracts.WalletLoadInput{LoadID: made.LoadID}).Get(ctx, &out.Load)
	var started *temporal.ChildWorkflowExecutionAlreadyStartedError
	if errors.As(err, &started) {
		return out, nil // the sweeper started it: that workflow charges it
	}
	return out, err
}
