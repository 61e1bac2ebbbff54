package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/ledger"
)

// loadWait is how long POST /v1/wallets/{id}/load waits for a paid load's outcome before
// answering 202 with the load to poll.
const loadWait = 5 * time.Second

func (s *Server) walletRoutes() {
	s.post("/v1/wallets", backendOnly, s.createWallet)
	s.get("/v1/wallets/:id", anyRole, s.getWallet)
	s.engine.PATCH("/v1/wallets/:id", s.authorize(backendOnly...), s.updateWallet)
	s.post("/v1/wallets/:id/load", backendOnly, s.loadWallet)
	s.get("/v1/wallets/:id/loads/:load_id", anyRole, s.getWalletLoad)
	s.get("/v1/wallets/:id/transactions", anyRole, s.listWalletTransactions)
	s.post("/v1/wallets/:id/transactions/:tx/revert", anyRole, s.revertWalletTransaction)
	s.subscriptionRoutes()
}

func (s *Server) createWallet(c *gin.Context) {
	var in ledger.CreateWalletInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.ledger.CreateWallet(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) getWallet(c *gin.Context) {
	out, err := s.ledger.GetWallet(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) updateWallet(c *gin.Context) {
	var in ledger.UpdateWalletInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.ledger.UpdateWallet(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// loadWallet records the load; a paid one is then charged by its WalletLoad workflow,
// whose outcome is awaited for loadWait: 201 with the outcome, else 202 with the pending
// load to poll at GET /v1/wallets/{id}/loads/{load_id}.
func (s *Server) loadWallet(c *gin.Context) {
	var in ledger.LoadInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	// The load and its workflow's start are one effect: they run to the end even if the
	// client hangs up (a retry with the same Idempotency-Key finds the same load).
	ctx, cancel := detached(c)
	defer cancel()
	if in.Type == ledger.LoadPaid && s.temporal == nil {
		s.fail(c, apperr.New(apperr.Unavailable, "workflows_unavailable", "paid loads need the workflow service, which is not connected"))
		return
	}
	load, err := s.ledger.RequestLoad(ctx, c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !load.Pending() {
		c.JSON(http.StatusCreated, load)
		return
	}
	load, done, err := s.runWalletLoad(ctx, load)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusAccepted
	if done {
		status = http.StatusCreated
	}
	c.JSON(status, load)
}

// runWalletLoad starts the load's workflow and waits up to loadWait for its result. It
// reports done when the workflow finished; the load is then re-read from the ledger.
func (s *Server) runWalletLoad(ctx context.Context, load ledger.Load) (ledger.Load, bool, error) {
	// A retry of the request finds the load's workflow running (it is reused) or ended
	// (the load is then read as it is).
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       contracts.WalletLoadWorkflowID(load.ID),
		TaskQueue:                s.taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "wallet load " + load.ID + ": " + load.Amount + " " + load.Currency + " (" + load.Source + ") for " + load.CustomerID,
	}, contracts.WalletLoadWorkflow, contracts.WalletLoadInput{LoadID: load.ID})
	var ended *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &ended) {
		out, err := s.ledger.GetLoad(ctx, load.WalletID, load.ID)
		return out, err == nil, err
	}
	if err != nil {
		// Nothing was charged: the workflow's first step claims the load, and a load it
		// has not claimed is failed here so it cannot be charged later.
		// But the start may have happened with its answer lost: a load the workflow has
		// claimed is not abandoned, and is answered 202 (it is being charged).
		s.log.ErrorContext(ctx, "start wallet load workflow", "load_id", load.ID, "error", err)
		if _, aerr := s.ledger.AbandonLoad(ctx, load.ID, "the load could not be started"); aerr != nil {
			s.log.ErrorContext(ctx, "abandon wallet load", "load_id", load.ID, "error", aerr)
		}
		if cur, gerr := s.ledger.GetLoad(ctx, load.WalletID, load.ID); gerr == nil && cur.Status != ledger.LoadFailed {
			return cur, cur.Status == ledger.LoadSettled, nil
		}
		return ledger.Load{}, false, &apperr.Error{Kind: apperr.Unavailable, Code: "workflow_start_failed",
			Message: "the load could not be started; nothing was charged: try again with a new Idempotency-Key", Err: err}
	}
	wait, cancel := context.WithTimeout(ctx, loadWait)
	defer cancel()
	var res contracts.WalletLoadResult
	werr := run.Get(wait, &res)
	if werr != nil && !errors.Is(werr, context.DeadlineExceeded) && !errors.Is(werr, context.Canceled) {
		s.log.WarnContext(ctx, "wallet load workflow failed", "load_id", load.ID, "error", werr)
	}
	out, err := s.ledger.GetLoad(ctx, load.WalletID, load.ID)
	if err != nil {
		return ledger.Load{}, false, err
	}
	return out, werr == nil, nil
}

func (s *Server) getWalletLoad(c *gin.Context) {
	out, err := s.ledger.GetLoad(c.Request.Context(), c.Param("id"), c.Param("load_id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listWalletTransactions(c *gin.Context) {
	limit, before, err := listPage(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.ledger.ListTransactions(c.Request.Context(), c.Param("id"), limit, before)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

// revertWalletTransaction reverts a whole transaction; its body, if any, must be empty ({}):
// a partial amount is not something a revert can do, so it is refused, not ignored.
func (s *Server) revertWalletTransaction(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.ledger.Revert(c.Request.Context(), c.Param("id"), c.Param("tx"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}
