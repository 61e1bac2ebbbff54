package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
)

// step runs one step of the main loop. A failure that is not a cancellation parks the
// workflow (see parkFor) instead of failing it.
func (p *payment) step(ctx workflow.Context, what string, fn func() error) error {
	err := fn()
	if err == nil {
		return nil
	}
	return p.parkFor(ctx, what, err, fn)
}

// parkFor parks (see park); when the failure may heal by itself (an infrastructure error
// whose retries ran out, not a non-retryable one), the step runs again at ResumeStepAt,
// with a doubling delay, at most maxStepResumes times.
func (p *payment) parkFor(ctx workflow.Context, what string, err error, fn func() error) error {
	if perr := p.park(ctx, what, err); perr != nil {
		return perr
	}
	var appErr *temporal.ApplicationError
	if (errors.As(err, &appErr) && appErr.NonRetryable()) || p.s.StepResumes >= maxStepResumes {
		return nil
	}
	at := workflow.Now(ctx).Add(stepResumeDelay << p.s.StepResumes)
	p.s.ResumeStepAt = &at
	p.resume, p.resumeWhat = fn, what
	p.s.HoldReason += fmt.Sprintf("; it runs again by itself at %s", at.UTC().Format(time.RFC3339))
	p.setStatus(ctx, c.PaymentAwaitingAction, "an operator's retry: "+p.s.HoldReason)
	return nil
}

// resumeStep runs a parked step again by itself (see parkFor).
func (p *payment) resumeStep(ctx workflow.Context) error {
	fn, what := p.resume, p.resumeWhat
	p.resume, p.resumeWhat = nil, ""
	p.s.ResumeStepAt = nil
	if fn == nil {
		return nil // lost with a continue-as-new: an operator's retry resumes it
	}
	p.s.StepResumes++
	p.clearHold()
	if p.s.InFlight != "" || len(p.s.PendingEvents) > 0 {
		// A charge is pending, or its outcome is queued: that decides what comes next;
		// never a second charge meanwhile.
		p.setStatus(ctx, c.PaymentProcessing, "the provider's outcome of the pending charge")
		return nil
	}
	if err := p.step(ctx, what, fn); err != nil {
		return err
	}
	if p.s.Hold != c.HoldStepFailed {
		p.s.StepResumes = 0 // healed: the next outage gets the whole budget again
	}
	return nil
}

// park stops automatic collection after a step failed for good (an activity's
// non-retryable error, or its bounded retries ran out): the workflow neither dies nor
// spins; it waits in awaiting_action with the reason (query, current details, search
// attribute) for an operator's manual retry, which runs the step again. Updates
// (reconcile, void) still work meanwhile. A cancellation is returned as it is.
func (p *payment) park(ctx workflow.Context, what string, err error) error {
	if temporal.IsCanceledError(err) || ctx.Err() != nil {
		return err
	}
	p.clearHold()
	workflow.GetLogger(ctx).Error("step failed: waiting for an operator's retry", "step", what, "error", err)
	p.s.NextRetryAt = nil
	p.s.Hold = c.HoldStepFailed
	p.s.HoldReason = fmt.Sprintf("%s failed (%s): %s", what, failureType(err), failureMessage(err))
	p.setStatus(ctx, c.PaymentAwaitingAction, "an operator's retry: "+p.s.HoldReason)
	return nil
}

// clearHold ends a hold (and a parked step's pending resume).
func (p *payment) clearHold() {
	p.s.Hold, p.s.HoldReason = "", ""
	p.s.ResumeStepAt, p.resume, p.resumeWhat = nil, nil, ""
}

// hold waits in awaiting_action for a person, with the reason (see contracts.Hold*).
func (p *payment) hold(ctx workflow.Context, kind, reason string) error {
	p.clearHold()
	p.s.NextRetryAt = nil
	p.s.Hold, p.s.HoldReason = kind, reason
	p.setStatus(ctx, c.PaymentAwaitingAction, reason)
	return p.saveSchedule(ctx)
}

// failureType is the type of an activity's failure (its ApplicationError type, or
// timeout), for the reasons operators read.
func failureType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	if temporal.IsTimeoutError(err) {
		return "timeout"
	}
	return "error"
}

func failureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// updateError is what an Update's caller gets when a step of its command failed: the
// typed ApplicationError of the activity (e.g. invalid_data), or
// temporarily_unavailable when the step ran out of retries.
func updateError(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return temporal.NewApplicationError(appErr.Message(), appErr.Type())
	}
	if temporal.IsTimeoutError(err) {
		return temporal.NewApplicationError("the step kept failing; try again later: "+err.Error(), c.ErrTemporarilyUnavailable)
	}
	return err
}
