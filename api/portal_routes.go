package api

import (
	"context"
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
	s.customerCardRoutes(g)
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
	out, err := s.portalWalletView(c.Request.Context(), portalCustomer(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// portalWalletView is the customer's wallet with its limits and latest transactions.
func (s *Server) portalWalletView(ctx context.Context, customerID string) (PortalWallet, error) {
	w, err := s.ledger.CustomerWallet(ctx, customerID)
	if err != nil {
		return PortalWallet{}, err
	}
	txs, _, err := s.ledger.ListTransactions(ctx, w.ID, 20, nil)
	if err != nil {
		return PortalWallet{}, err
	}
	if txs == nil {
		txs = []ledger.Transaction{}
	}
	return PortalWallet{Object: "portal_wallet", Wallet: w, Limits: s.ledger.PortalLimitsFor(w), Transactions: txs}, nil
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
// 201 settled (the balance includes it), 402 payment_failed with the failed load and the
// wallet (as POST /v1/wallets/{id}/load), 202 when it is still pending.
func (s *Server) portalTopUp(c *gin.Context) {
	var in PortalTopUpInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, done, err := s.portalTopUpRun(c.Request.Context(), portalCustomer(c), in.Amount)
	if err != nil {
		s.fail(c, err)
		return
	}
	switch {
	case done && out.Load.Status == ledger.LoadFailed:
		c.JSON(http.StatusPaymentRequired, PortalTopUpFailed{LoadFailedBody: loadFailedBody(out.Load), Wallet: out.Wallet})
	case done:
		c.JSON(http.StatusCreated, out)
	default:
		c.JSON(http.StatusAccepted, out)
	}
}

// PortalTopUpFailed is the answer to a portal top-up whose charge failed (402): the error
// envelope (payment_error, payment_failed), the failed load and the wallet, unchanged.
type PortalTopUpFailed struct {
	LoadFailedBody
	Wallet ledger.Wallet `json:"wallet"`
}

// portalTopUpRun records a portal load of amount for the customer's wallet (the portal
// rules apply in the ledger), runs its charge and returns the outcome with the wallet
// after it; done is false while the charge is still pending.
func (s *Server) portalTopUpRun(ctx context.Context, customerID, amount string) (PortalTopUp, bool, error) {
	if s.temporal == nil {
		return PortalTopUp{}, false, apperr.New(apperr.Unavailable, "workflows_unavailable", "top-ups are unavailable right now; try again later")
	}
	w, err := s.ledger.CustomerWallet(ctx, customerID)
	if err != nil {
		return PortalTopUp{}, false, err
	}
	load, err := s.ledger.RequestPortalLoad(ctx, w.ID, amount)
	if err != nil {
		return PortalTopUp{}, false, err
	}
	load, done, err := s.runWalletLoad(ctx, load)
	if err != nil {
		return PortalTopUp{}, false, err
	}
	if w, err = s.ledger.GetWallet(ctx, w.ID); err != nil {
		return PortalTopUp{}, false, err
	}
	return PortalTopUp{Object: "portal_top_up", Load: load, Wallet: w}, done, nil
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
	out, err := s.portalDocumentsView(c.Request.Context(), portalCustomer(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// portalDocumentsView lists the customer's latest 100 receipts and credit notes.
func (s *Server) portalDocumentsView(ctx context.Context, customerID string) (PortalDocuments, error) {
	p := ledger.DocumentListParams{CustomerID: &customerID, Limit: 100}
	rcs, _, err := s.ledger.ListReceipts(ctx, p)
	if err != nil {
		return PortalDocuments{}, err
	}
	cns, _, err := s.ledger.ListCreditNotes(ctx, p)
	if err != nil {
		return PortalDocuments{}, err
	}
	out := PortalDocuments{Object: "portal_documents", Receipts: rcs, CreditNotes: cns}
	if out.Receipts == nil {
		out.Receipts = []ledger.Receipt{}
	}
	if out.CreditNotes == nil {
		out.CreditNotes = []ledger.CreditNote{}
	}
	return out, nil
}

// portalPaymentMethod answers the customer's default payment method (404 when none).
func (s *Server) portalPaymentMethod(c *gin.Context) {
	pm, err := s.portalDefaultCard(c.Request.Context(), portalCustomer(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, pm)
}

// portalDefaultCard is the customer's default payment method (404 when none).
func (s *Server) portalDefaultCard(ctx context.Context, customerID string) (customers.PaymentMethod, error) {
	items, err := s.customers.ListPaymentMethods(ctx, customerID, nil)
	if err != nil {
		return customers.PaymentMethod{}, err
	}
	for _, pm := range items {
		if pm.Default {
			return pm, nil
		}
	}
	return customers.PaymentMethod{}, apperr.New(apperr.NotFound, "payment_method_missing", "you have no saved card yet")
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
	out, err := s.portalReplaceCard(c.Request.Context(), portalCustomer(c), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// portalReplaceCard saves a new default card and signals the invoices waiting for one.
func (s *Server) portalReplaceCard(ctx context.Context, customerID string, in PortalCardInput) (customers.PaymentMethod, error) {
	def := true
	out, err := s.customers.AddPaymentMethod(ctx, customerID, customers.PaymentMethodInput{
		Type: customers.TypeCard, ProviderID: in.ProviderID, ExpMonth: in.ExpMonth, ExpYear: in.ExpYear, Last4: in.Last4, Default: &def,
	})
	if err != nil {
		return customers.PaymentMethod{}, err
	}
	if n, err := s.collect.PaymentMethodSaved(ctx, out); err != nil {
		s.log.ErrorContext(ctx, "portal card saved, but open invoices not signalled", "customer_id", out.CustomerID, "error", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "open invoices signalled of the portal's new card", "customer_id", out.CustomerID, "invoices", n)
	}
	return out, nil
}
