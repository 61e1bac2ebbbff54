package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/ledger"
)

// loadWait is how long POST /v1/wallets/{id}/load waits for a paid load's outcome before
// answering 202 with the load to poll.
const loadWait = 5 * time.Second

func (s *Server) walletRoutes() {
	s.post("/v1/wallets", backendOnly, s.createWallet)
	s.get("/v1/wallets", anyRole, s.listWallets)
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
	out, err := s.collect.CreateWallet(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// listWallets lists wallets, newest first; ?customer_id= finds a customer's wallet.
func (s *Server) listWallets(c *gin.Context) {
	limit, before, err := listPage(c, "customer_id")
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.ledger.ListWallets(c.Request.Context(), ledger.ListParams{Limit: limit, BeforeSeq: before, CustomerID: queryOpt(c, "customer_id")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
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
	out, err := s.collect.UpdateWallet(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// loadWallet records the load (a free one with expires_at gets its CreditExpiry
// workflow); a paid one is then charged by its WalletLoad workflow,
// whose outcome is awaited for loadWait: 201 with a settled load; 402 payment_failed with
// a failed one (in "load"); 202 with a load still pending (a direct debit awaiting its
// outcome, or a charge not answered within loadWait) to poll at
// GET /v1/wallets/{id}/loads/{load_id}.
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
	// An expiring free load's expiry is scheduled now (the sweeper does it if this fails or
	// the process dies here; without the workflow service, once the worker sweeps).
	if load.ExpiresAt != nil && s.temporal != nil {
		s.collect.ScheduleLoadExpiry(ctx, load)
	}
	done := !load.Pending()
	if !done {
		if load, done, err = s.runWalletLoad(ctx, load); err != nil {
			s.fail(c, err)
			return
		}
	}
	switch {
	case done && load.Status == ledger.LoadFailed:
		c.JSON(http.StatusPaymentRequired, loadFailedBody(load))
	case done && load.Status == ledger.LoadSettled:
		c.JSON(http.StatusCreated, load)
	default:
		c.JSON(http.StatusAccepted, load)
	}
}

// LoadFailedBody is the answer to a paid load whose charge failed (402): the error
// envelope (type payment_error, code payment_failed) and the failed load, whose
// error_type, decline_code and error_message say why.
type LoadFailedBody struct {
	Error ErrorDetail `json:"error"`
	Load  ledger.Load `json:"load"`
}

func loadFailedBody(load ledger.Load) LoadFailedBody {
	msg := "the charge of load " + load.ID + " failed; nothing was credited"
	if load.ErrorMessage != nil && *load.ErrorMessage != "" {
		msg += ": " + *load.ErrorMessage
	}
	return LoadFailedBody{Error: ErrorDetail{Type: string(apperr.PaymentFailed), Code: "payment_failed", Message: msg}, Load: load}
}

// runWalletLoad starts the load's workflow and waits up to loadWait for its outcome
// (collection.Client.RunWalletLoad).
func (s *Server) runWalletLoad(ctx context.Context, load ledger.Load) (ledger.Load, bool, error) {
	return s.collect.RunWalletLoad(ctx, load, loadWait)
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
