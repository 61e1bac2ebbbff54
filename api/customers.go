package api

import (
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
	limit, before, err := listPage(c, "email")
	if err != nil {
		s.fail(c, err)
		return
	}
	p := customers.ListParams{Limit: limit, BeforeSeq: before}
	if e := c.Query("email"); e != "" {
		p.Email = &e
	}
	items, next, err := s.customers.List(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

func (s *Server) addPaymentMethod(c *gin.Context) {
	var in customers.PaymentMethodInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.customers.AddPaymentMethod(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Workflows waiting for a new payment method (and errored invoices) charge at once.
	if n, err := s.collect.PaymentMethodSaved(c.Request.Context(), out); err != nil {
		s.log.ErrorContext(c.Request.Context(), "payment method saved, but open invoices not signalled", "customer_id", out.CustomerID, "error", err)
	} else if n > 0 {
		s.log.InfoContext(c.Request.Context(), "open invoices signalled of the new payment method", "customer_id", out.CustomerID, "invoices", n)
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) listPaymentMethods(c *gin.Context) {
	items, err := s.customers.ListPaymentMethods(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, nil))
}
