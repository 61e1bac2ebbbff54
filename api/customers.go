package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"payorch/customers"
)

func (s *Server) createCustomer(c *gin.Context) {
	var in customers.CreateInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.customers.Create(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) getCustomer(c *gin.Context) {
	out, err := s.customers.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listCustomers(c *gin.Context) {
	limit, before, err := listPage(c, "email", "external_id")
	if err != nil {
		s.fail(c, err)
		return
	}
	p := customers.ListParams{Limit: limit, BeforeSeq: before, Email: queryOpt(c, "email"), ExternalID: queryOpt(c, "external_id")}
	items, next, err := s.customers.List(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

// addPaymentMethod saves a payment method and wakes the customer's open invoices that
// wait for one; both run to the end if the client hangs up. If the invoices cannot be told
// now, the answer is 202 with the payment method: a retry (same Idempotency-Key) tells
// them again, and the worker's sweeper does it anyway.
func (s *Server) addPaymentMethod(c *gin.Context) {
	var in customers.PaymentMethodInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ctx, cancel := detached(c)
	defer cancel()
	out, err := s.customers.AddPaymentMethod(ctx, c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Workflows waiting for a new payment method (and errored invoices) charge at once.
	n, err := s.collect.PaymentMethodSaved(ctx, out)
	if err != nil {
		s.log.WarnContext(ctx, "payment method saved, open invoices not told yet (the sweeper will)", "customer_id", out.CustomerID, "error", err)
		c.Header("Retry-After", "5")
		c.JSON(http.StatusAccepted, out)
		return
	}
	if n > 0 {
		s.log.InfoContext(ctx, "open invoices signalled of the new payment method", "customer_id", out.CustomerID, "invoices", n)
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) listPaymentMethods(c *gin.Context) {
	if _, _, err := listPage(c, "external_id"); err != nil {
		s.fail(c, err)
		return
	}
	items, err := s.customers.ListPaymentMethods(c.Request.Context(), c.Param("id"), queryOpt(c, "external_id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, nil))
}

// updateCustomer changes a customer's name, email or language (backend).
func (s *Server) updateCustomer(c *gin.Context) {
	var in customers.UpdateInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.customers.Update(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// setDefaultPaymentMethod makes one of the customer's active payment methods its default.
func (s *Server) setDefaultPaymentMethod(c *gin.Context) {
	s.paymentMethodAction(c, s.customers.SetDefaultPaymentMethod)
}

// detachPaymentMethod detaches a payment method: it is never charged again.
func (s *Server) detachPaymentMethod(c *gin.Context) {
	s.paymentMethodAction(c, s.customers.DetachPaymentMethod)
}

func (s *Server) paymentMethodAction(c *gin.Context, do func(ctx context.Context, customerID, pmID string) (customers.PaymentMethod, error)) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := do(c.Request.Context(), c.Param("id"), c.Param("pm_id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
