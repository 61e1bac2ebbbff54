package collection

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/ledger"
)

// CreateWallet opens a wallet (ledger.CreateWallet) and, when its auto top-up has a
// monthly_on, creates its monthly Temporal Schedule (SyncAutoTopUpSchedule).
func (c *Client) CreateWallet(ctx context.Context, in ledger.CreateWalletInput) (ledger.Wallet, error) {
	w, err := c.Ledger.CreateWallet(ctx, in)
	if err != nil {
		return ledger.Wallet{}, err
	}
	return w, c.SyncAutoTopUpSchedule(ctx, w)
}

// UpdateWallet changes a wallet's settings (ledger.UpdateWallet) and makes its monthly
// auto top-up schedule follow them: created, updated or deleted with the setting.
func (c *Client) UpdateWallet(ctx context.Context, id string, in ledger.UpdateWalletInput) (ledger.Wallet, error) {
	w, err := c.Ledger.UpdateWallet(ctx, id, in)
	if err != nil {
		return ledger.Wallet{}, err
	}
	if in.Settings == nil || !in.Settings.AutoTopUp.Set {
		return w, nil
	}
	return w, c.SyncAutoTopUpSchedule(ctx, w)
}

// autoTopUpScheduleDay is the day of the month w's schedule runs on (0: w needs none: no
// auto top-up, no monthly_on, or switched off).
func autoTopUpScheduleDay(w ledger.Wallet) int {
	a := w.Settings.AutoTopUp
	if a == nil || a.MonthlyOn == nil || a.Status != ledger.AutoTopUpActive {
		return 0
	}
	return *a.MonthlyOn
}

// autoTopUpSchedule is the schedule of a wallet's monthly auto top-up: on day at 00:00
// UTC of every month, start WalletAutoTopUp (a run still going skips the next).
func (c *Client) autoTopUpSchedule(walletID string, day int) (client.ScheduleSpec, *client.ScheduleWorkflowAction) {
	spec := client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
		DayOfMonth: []client.ScheduleRange{{Start: day}},
		Comment:    "monthly auto top-up of wallet " + walletID + " on day " + strconv.Itoa(day),
	}}}
	action := &client.ScheduleWorkflowAction{
		ID:                       contracts.WalletAutoTopUpScheduleID(walletID),
		Workflow:                 contracts.WalletAutoTopUpWorkflow,
		Args:                     []any{contracts.WalletAutoTopUpInput{WalletID: walletID}},
		TaskQueue:                c.TaskQueue,
		WorkflowExecutionTimeout: 7 * 24 * time.Hour,
		TypedSearchAttributes:    temporal.NewSearchAttributes(contracts.SearchWalletID.ValueSet(walletID)),
		StaticSummary:            "monthly auto top-up of wallet " + walletID,
	}
	return spec, action
}

// SyncAutoTopUpSchedule makes the Temporal Schedule wallet-auto-top-up/<wallet_id> match
// the wallet's auto top-up: it exists, on the setting's day, while the auto top-up is
// active with a monthly_on; otherwise there is none. Calling it again is harmless (a
// request retried after a lost answer repairs a schedule it left behind). The schedule's
// runs read the setting again, so one left over by a failure here loads nothing.
func (c *Client) SyncAutoTopUpSchedule(ctx context.Context, w ledger.Wallet) error {
	if c.Temporal == nil {
		if autoTopUpScheduleDay(w) == 0 {
			return nil
		}
		return apperr.New(apperr.Unavailable, "workflows_unavailable", "a monthly auto top-up needs the workflow service, which is not connected")
	}
	id := contracts.WalletAutoTopUpScheduleID(w.ID)
	sc := c.Temporal.ScheduleClient()
	day := autoTopUpScheduleDay(w)
	if day == 0 {
		err := sc.GetHandle(ctx, id).Delete(ctx)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return scheduleError("delete", id, err)
		}
		return nil
	}
	spec, action := c.autoTopUpSchedule(w.ID, day)
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: 24 * time.Hour,
		Note:          "auto top-up of wallet " + w.ID + " (payorch keeps it in step with the wallet's settings)",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return scheduleError("create", id, err)
	}
	err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			if s.State != nil {
				s.State.Paused = false
			}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return scheduleError("update", id, err)
	}
	return nil
}

func scheduleError(op, id string, err error) error {
	return &apperr.Error{Kind: apperr.Unavailable, Code: "schedule_sync_failed",
		Message: fmt.Sprintf("the wallet's settings are saved but its monthly auto top-up schedule could not be %sd; send the same settings again", op),
		Err:     fmt.Errorf("%s schedule %s: %w", op, id, err)}
}

// StartAutoLoads starts the WalletLoad workflow of auto loads that have none yet: every
// load a debit requested (below), and monthly loads older than grace whose schedule's
// run did not get to it. Starting one twice is harmless (the workflow id is the load's).
// It returns how many it started.
func (c *Client) StartAutoLoads(ctx context.Context, grace time.Duration, limit int) (int, error) {
	loads, err := c.Ledger.UnstartedAutoLoads(ctx, grace, limit)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, ld := range loads {
		_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       contracts.WalletLoadWorkflowID(ld.ID),
			TaskQueue:                c.TaskQueue,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				contracts.SearchCustomerID.ValueSet(ld.CustomerID),
				contracts.SearchWalletID.ValueSet(ld.WalletID),
				contracts.SearchPaymentStatus.ValueSet(ld.Status),
			),
			StaticSummary: "auto top-up load " + ld.ID + ": " + ld.Amount + " " + ld.Currency + " for " + ld.CustomerID,
		}, contracts.WalletLoadWorkflow, contracts.WalletLoadInput{LoadID: ld.ID})
		var ended *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &ended) {
			// Its workflow ended without claiming it: it can never be charged now, and it
			// would hold the wallet's one auto load slot. Fail it.
			if _, aerr := c.Ledger.AbandonLoad(ctx, ld.ID, "the auto load's workflow ended before charging it"); aerr != nil {
				errs = append(errs, aerr)
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("start auto load %s: %w", ld.ID, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
