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
	out, err := s.ledger.CreateWallet(c.Request.Context(), in)
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
