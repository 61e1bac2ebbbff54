package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/customers"
	"payorch/invoices"
	"payorch/ledger"
)

// customerPortalRoutes are the JSON routes under /v1/portal/, for the customer of the
// request's portal token only: every read and write is scoped to that customer, so another
// customer's resource is a 404.
func (s *Server) customerPortalRoutes() {
	g := s.engine.Group("/v1/portal", s.portalAuth)
	g.GET("/session", s.portalSession)
	g.GET("/wallet", s.portalWallet)
	g.POST("/wallet/top-ups", s.portalTopUp)
	g.GET("/invoices", s.portalInvoices)
	g.GET("/invoices/:id/pdf", s.portalInvoicePDF)
	g.GET("/documents", s.portalDocuments)
	g.GET("/receipts/:id/pdf", s.portalReceiptPDF)
	g.GET("/credit-notes/:id/pdf", s.portalCreditNotePDF)
	g.GET("/payment-method", s.portalPaymentMethod)
	g.PUT("/payment-method", s.replacePortalPaymentMethod)
}

// PortalWallet is what GET /v1/portal/wallet answers.
type PortalWallet struct {
	Object string        `json:"object"`
	Wallet ledger.Wallet `json:"wallet"`
	// Limits are the portal top-up limits.
	Limits ledger.PortalLimitsView `json:"limits"`
	// Transactions are the latest wallet transactions, newest first.
	Transactions []ledger.Transaction `json:"transactions"`
}

func (s *Server) portalWallet(c *gin.Context) {
	ctx := c.Request.Context()
	w, err := s.ledger.CustomerWallet(ctx, portalCustomer(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	txs, _, err := s.ledger.ListTransactions(ctx, w.ID, 20, nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	if txs == nil {
		txs = []ledger.Transaction{}
	}
	c.JSON(http.StatusOK, PortalWallet{Object: "portal_wallet", Wallet: w, Limits: s.ledger.PortalLimitsFor(w), Transactions: txs})
}

// PortalTopUpInput is the body of POST /v1/portal/wallet/top-ups.
type PortalTopUpInput struct {
	// Amount is a decimal string in the wallet's currency.
	Amount string `json:"amount"`
}

// PortalTopUp is the answer of a portal top-up: the load with its outcome and the wallet after it.
type PortalTopUp struct {
	Object string        `json:"object"`
	Load   ledger.Load   `json:"load"`
	Wallet ledger.Wallet `json:"wallet"`
}

// portalTopUp charges the customer's card at once within the portal limits (checked with
// the wallet row locked, counting loads in flight) and answers after the charge's outcome:
// 201 settled (the balance includes it) or failed, 202 when it is still pending.
func (s *Server) portalTopUp(c *gin.Context) {
	var in PortalTopUpInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if s.temporal == nil {
		s.fail(c, apperr.New(apperr.Unavailable, "workflows_unavailable", "top-ups are unavailable right now; try again later"))
		return
	}
	ctx := c.Request.Context()
	w, err := s.ledger.CustomerWallet(ctx, portalCustomer(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	load, err := s.ledger.RequestPortalLoad(ctx, w.ID, in.Amount)
	if err != nil {
		s.fail(c, err)
		return
	}
	load, done, err := s.runWalletLoad(ctx, load)
	if err != nil {
		s.fail(c, err)
		return
	}
	if w, err = s.ledger.GetWallet(ctx, w.ID); err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusAccepted
	if done {
		status = http.StatusCreated
	}
	c.JSON(status, PortalTopUp{Object: "portal_top_up", Load: load, Wallet: w})
}

func (s *Server) portalInvoices(c *gin.Context) {
	limit, before, err := page(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cust := portalCustomer(c)
	items, next, err := s.invoices.List(c.Request.Context(), invoices.ListParams{Limit: limit, BeforeSeq: before, CustomerID: &cust})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

func (s *Server) portalInvoicePDF(c *gin.Context) {
	cust := portalCustomer(c)
	f, err := s.docs.Invoice(c.Request.Context(), c.Param("id"), &cust)
	s.sendPDF(c, f, err)
}

func (s *Server) portalReceiptPDF(c *gin.Context) {
	cust := portalCustomer(c)
	f, err := s.docs.Receipt(c.Request.Context(), c.Param("id"), &cust)
	s.sendPDF(c, f, err)
}

func (s *Server) portalCreditNotePDF(c *gin.Context) {
	cust := portalCustomer(c)
	f, err := s.docs.CreditNote(c.Request.Context(), c.Param("id"), &cust)
	s.sendPDF(c, f, err)
}

// PortalDocuments is what GET /v1/portal/documents answers: the customer's latest
// receipts and credit notes, newest first.
type PortalDocuments struct {
	Object      string              `json:"object"`
	Receipts    []ledger.Receipt    `json:"receipts"`
	CreditNotes []ledger.CreditNote `json:"credit_notes"`
}

func (s *Server) portalDocuments(c *gin.Context) {
	ctx := c.Request.Context()
	cust := portalCustomer(c)
	p := ledger.DocumentListParams{CustomerID: &cust, Limit: 100}
	rcs, _, err := s.ledger.ListReceipts(ctx, p)
	if err != nil {
		s.fail(c, err)
		return
	}
	cns, _, err := s.ledger.ListCreditNotes(ctx, p)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := PortalDocuments{Object: "portal_documents", Receipts: rcs, CreditNotes: cns}
	if out.Receipts == nil {
		out.Receipts = []ledger.Receipt{}
	}
	if out.CreditNotes == nil {
		out.CreditNotes = []ledger.CreditNote{}
	}
	c.JSON(http.StatusOK, out)
}

// portalPaymentMethod answers the customer's default payment method (404 when none).
func (s *Server) portalPaymentMethod(c *gin.Context) {
	items, err := s.customers.ListPaymentMethods(c.Request.Context(), portalCustomer(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	for _, pm := range items {
		if pm.Default {
			c.JSON(http.StatusOK, pm)
			return
		}
	}
	s.fail(c, apperr.New(apperr.NotFound, "payment_method_missing", "you have no saved card yet"))
}

// PortalCardInput is the body of PUT /v1/portal/payment-method: the card the customer
// saved with the provider (in dev, a Stripe test id such as pm_card_visa).
type PortalCardInput struct {
	ProviderID *string `json:"provider_id"`
	ExpMonth   *int32  `json:"exp_month"`
	ExpYear    *int32  `json:"exp_year"`
	Last4      *string `json:"last4"`
}

// replacePortalPaymentMethod saves a new default card for the customer; the invoices that
// wait for one (and errored ones) are signalled through collection, as for the backend route.
func (s *Server) replacePortalPaymentMethod(c *gin.Context) {
	var in PortalCardInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	def := true
	out, err := s.customers.AddPaymentMethod(ctx, portalCustomer(c), customers.PaymentMethodInput{
		Type: customers.TypeCard, ProviderID: in.ProviderID, ExpMonth: in.ExpMonth, ExpYear: in.ExpYear, Last4: in.Last4, Default: &def,
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	if n, err := s.collect.PaymentMethodSaved(ctx, out); err != nil {
		s.log.ErrorContext(ctx, "portal card saved, but open invoices not signalled", "customer_id", out.CustomerID, "error", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "open invoices signalled of the portal's new card", "customer_id", out.CustomerID, "invoices", n)
	}
	c.JSON(http.StatusOK, out)
}
