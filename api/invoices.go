package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"payorch/collection"
	"payorch/contracts"
	"payorch/invoices"
)

func (s *Server) invoiceRoutes() {
	s.get("/v1/invoices", anyRole, s.listInvoices)
	s.post("/v1/invoices", backendOnly, s.createInvoice)
	s.get("/v1/invoices/:id", anyRole, s.getInvoice)
	s.get("/v1/invoices/:id/payment", anyRole, s.getInvoicePayment)
	s.post("/v1/invoices/:id/retry", anyRole, s.retryInvoice)
	s.post("/v1/invoices/:id/reconcile", anyRole, s.reconcileInvoice)
	s.post("/v1/invoices/:id/void", backendOnly, s.voidInvoice)
}

// createInvoice stores the invoice (to_pay) and starts its payment workflow: one effect.
// Both run to the end whether or not the client is still there (a context detached from
// the client, bounded by workTimeout). If the workflow cannot be started now, the answer is
// 202 with the invoice: the worker's sweeper starts its collection, and a retry of the
// request (same Idempotency-Key) starts it too and answers 201 with the same invoice.
func (s *Server) createInvoice(c *gin.Context) {
	var in invoices.CreateInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ctx, cancel := detached(c)
	defer cancel()
	inv, err := s.invoices.Create(ctx, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.collect.StartInvoice(ctx, inv); err != nil {
		s.log.WarnContext(ctx, "invoice stored, collection not started yet (the sweeper will start it)", "invoice_id", inv.ID, "error", err)
		c.Header("Retry-After", "5")
		c.JSON(http.StatusAccepted, inv)
		return
	}
	c.JSON(http.StatusCreated, inv)
}

func (s *Server) getInvoice(c *gin.Context) {
	inv, err := s.invoices.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, inv)
}

func (s *Server) listInvoices(c *gin.Context) {
	limit, before, err := listPage(c, "customer_id", "subscription_id", "status", "external_id", "created_from", "created_to")
	if err != nil {
		s.fail(c, err)
		return
	}
	p := invoices.ListParams{Limit: limit, BeforeSeq: before, CustomerID: queryOpt(c, "customer_id"),
		SubscriptionID: queryOpt(c, "subscription_id"), Status: queryOpt(c, "status"), ExternalID: queryOpt(c, "external_id")}
	if p.CreatedFrom, err = queryTime(c, "created_from"); err != nil {
		s.fail(c, err)
		return
	}
	if p.CreatedTo, err = queryTime(c, "created_to"); err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.invoices.List(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

// getInvoicePayment returns the payment workflow's live state (its query), or what the
// database knows when the workflow does not answer (ended, never started, a wallet load's
// invoice, a backlogged worker): "source" says which.
func (s *Server) getInvoicePayment(c *gin.Context) {
	st, err := s.collect.State(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// updateResponse is the answer of retry, reconcile and void: the Update's outcome and the
// invoice as it now stands.
type updateResponse struct {
	contracts.UpdateOutcome
	Invoice invoices.Invoice `json:"invoice"`
}

// inProgressResponse is the 202 answer of an Update whose outcome was not known in time.
type inProgressResponse struct {
	Status  string           `json:"status"`
	Message string           `json:"message"`
	Invoice invoices.Invoice `json:"invoice"`
}

// respondUpdate answers an Update: its outcome with the invoice, or 202 when the outcome
// was not known in time (it may still happen; a retry with the same Idempotency-Key
// attaches to the same Update), or the error.
func (s *Server) respondUpdate(c *gin.Context, out contracts.UpdateOutcome, err error) {
	// The answer is read even if the client went away: it is the key's answer too.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
	defer cancel()
	if errors.Is(err, collection.ErrStillRunning) {
		inv, gerr := s.invoices.Get(ctx, c.Param("id"))
		if gerr != nil {
			s.fail(c, gerr)
			return
		}
		c.Header("Location", "/v1/invoices/"+inv.ID)
		c.Header("Retry-After", "5")
		c.JSON(http.StatusAccepted, inProgressResponse{Status: "in_progress", Invoice: inv,
			Message: "the request was admitted and its outcome is not known yet; send it again with the same Idempotency-Key for the outcome, or read the invoice"})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	inv, err := s.invoices.Get(ctx, c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, updateResponse{UpdateOutcome: out, Invoice: inv})
}

func (s *Server) retryInvoice(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.collect.Retry(c.Request.Context(), c.Param("id"), principal(c).Fingerprint())
	s.respondUpdate(c, out, err)
}

func (s *Server) reconcileInvoice(c *gin.Context) {
	var body invoices.ReconcileBody
	if err := decode(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	amount, method, err := s.invoices.ValidateReconcile(c.Request.Context(), c.Param("id"), &body)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.collect.Reconcile(c.Request.Context(), c.Param("id"), contracts.ReconcileRequest{
		Amount: amount.String(), Reference: body.Reference, PaidAt: body.PaidAt.UTC(), Method: method})
	s.respondUpdate(c, out, err)
}

func (s *Server) voidInvoice(c *gin.Context) {
	var body contracts.VoidRequest
	if err := decodeOptional(c, &body); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.collect.Void(c.Request.Context(), c.Param("id"), body)
	s.respondUpdate(c, out, err)
}
