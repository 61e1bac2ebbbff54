package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

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

// createInvoice stores the invoice (to_pay) and starts its payment workflow in the same
// request; if the workflow cannot be started the invoice is removed again (503).
func (s *Server) createInvoice(c *gin.Context) {
	var in invoices.CreateInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	inv, err := s.invoices.Create(ctx, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.collect.StartInvoice(ctx, inv); err != nil {
		if derr := s.invoices.DeleteUnstarted(ctx, inv.ID); derr != nil {
			s.log.ErrorContext(ctx, "invoice left without a workflow", "invoice_id", inv.ID, "error", derr)
		}
		s.fail(c, err)
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
	limit, before, err := listPage(c, "customer_id", "subscription_id", "status")
	if err != nil {
		s.fail(c, err)
		return
	}
	p := invoices.ListParams{Limit: limit, BeforeSeq: before}
	if v := c.Query("customer_id"); v != "" {
		p.CustomerID = &v
	}
	if v := c.Query("subscription_id"); v != "" {
		p.SubscriptionID = &v
	}
	if v := c.Query("status"); v != "" {
		p.Status = &v
	}
	items, next, err := s.invoices.List(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

// getInvoicePayment returns the payment workflow's live state (its query).
func (s *Server) getInvoicePayment(c *gin.Context) {
	if _, err := s.invoices.Get(c.Request.Context(), c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
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

func (s *Server) respondUpdate(c *gin.Context, out contracts.UpdateOutcome, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	inv, err := s.invoices.Get(c.Request.Context(), c.Param("id"))
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
	amount, method, err := s.invoices.ValidateReconcile(c.Request.Context(), c.Param("id"), body)
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
