package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/collection"
	"payorch/invoices"
	"payorch/payments"
	"payorch/portal"
)

// The portal's customer-present card steps (portal.Cards): a new card is saved through
// the provider's own form (Stripe's Payment Element on a SetupIntent), and an invoice whose
// charge needs 3-D Secure is paid on-session (Stripe.js confirmCardPayment). payorch never
// sees card data; it verifies each outcome with the provider before acting on it. With
// the simulated provider, the page shows simulated forms instead (a test card picker, an
// Approve/Decline challenge) that answer the simulator the way Stripe.js answers Stripe.

// customerCardRoutes are the JSON card steps under /v1/portal/.
func (s *Server) customerCardRoutes(g *gin.RouterGroup) {
	g.POST("/card-setups", s.portalStartSetup)
	g.POST("/card-setups/:id/complete", s.portalCompleteSetup)
	g.POST("/invoices/:id/authentications", s.portalStartAuthentication)
	g.POST("/invoices/:id/authentications/:payment_id/complete", s.portalCompleteAuthentication)
}

// PortalCardSetup is the answer of POST /v1/portal/card-setups: the setup the provider's
// form completes in the customer's browser.
type PortalCardSetup struct {
	Object string `json:"object"`
	// Provider is "stripe" (mount Stripe's Payment Element with client_secret and
	// publishable_key) or "simulated".
	Provider       string `json:"provider"`
	PublishableKey string `json:"publishable_key,omitempty"`
	payments.CardSetup
}

func (s *Server) portalStartSetup(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.cards.StartSetup(c.Request.Context(), portalCustomer(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, PortalCardSetup{Object: "card_setup", Provider: s.cards.Provider(), PublishableKey: s.stripeKey, CardSetup: out})
}

// PortalCompleteSetupInput is the body of POST /v1/portal/card-setups/{id}/complete: the
// payment method the provider's form reported (Stripe: setupIntent.payment_method).
type PortalCompleteSetupInput struct {
	PaymentMethod string `json:"payment_method"`
}

func (s *Server) portalCompleteSetup(c *gin.Context) {
	var in PortalCompleteSetupInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	pm, err := s.completeSetup(c, c.Param("id"), in.PaymentMethod)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, pm)
}

// completeSetup verifies the setup with the provider and saves its card as the default
// through the same path as PUT /v1/portal/payment-method.
func (s *Server) completeSetup(c *gin.Context, setupID, paymentMethod string) (any, error) {
	ctx := c.Request.Context()
	in, err := s.cards.VerifySetup(ctx, portalCustomer(c), setupID, paymentMethod)
	if err != nil {
		return nil, err
	}
	return s.portalReplaceCard(ctx, portalCustomer(c), PortalCardInput{ProviderID: in.ProviderID, ExpMonth: in.ExpMonth, ExpYear: in.ExpYear, Last4: in.Last4})
}

func (s *Server) portalStartAuthentication(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.cards.StartAuthentication(c.Request.Context(), portalCustomer(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, PortalAuthentication{Authentication: out, PublishableKey: s.stripeKey})
}

// PortalAuthentication is the answer of POST /v1/portal/invoices/{id}/authentications:
// the on-session payment the customer confirms (Stripe: stripe.confirmCardPayment with
// client_secret).
type PortalAuthentication struct {
	portal.Authentication
	PublishableKey string `json:"publishable_key,omitempty"`
}

func (s *Server) portalCompleteAuthentication(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.cards.CompleteAuthentication(c.Request.Context(), portalCustomer(c), c.Param("id"), c.Param("payment_id"))
	if err != nil && !errors.Is(err, collection.ErrStillRunning) {
		s.fail(c, err)
		return
	}
	s.respondUpdate(c, out, err)
}

// simulator is the simulated provider's browser side, when it is the configured one.
func (s *Server) simulator() *payments.Simulated {
	if !s.cards.Enabled() {
		return nil
	}
	sim, _ := s.cards.Steps.(*payments.Simulated)
	return sim
}

// pageStartSetup shows the card form: Stripe's Payment Element on a new SetupIntent, or
// the simulated test-card picker.
func (s *Server) pageStartSetup(c *gin.Context) {
	setup, err := s.cards.StartSetup(c.Request.Context(), portalCustomer(c))
	if err != nil {
		status, msg := s.plainError(c, err)
		s.renderPortal(c, status, "", msg, "")
		return
	}
	c.Set(ctxPageSetup, &setup)
	s.renderPortal(c, http.StatusOK, "", "", "")
}

// pageCompleteSetup receives the payment method Stripe.js reported and saves it once the
// provider confirms the setup.
func (s *Server) pageCompleteSetup(c *gin.Context) {
	s.finishSetup(c, c.PostForm("setup_id"), c.PostForm("payment_method"))
}

func (s *Server) finishSetup(c *gin.Context, setupID, pm string) {
	if _, err := s.completeSetup(c, setupID, pm); err != nil {
		status, msg := s.plainError(c, err)
		s.renderPortal(c, status, "", msg, "")
		return
	}
	s.doneRedirect(c, "Your new card is saved as your default payment method. Invoices waiting for a card are being charged now.")
}

// pageSimSetup is the simulated provider's card form: it saves the chosen test card on
// the simulated setup (what Stripe.js does with Stripe), then payorch verifies and saves it
// as for Stripe.
func (s *Server) pageSimSetup(c *gin.Context) {
	sim := s.simulator()
	if sim == nil {
		s.pageError(c, http.StatusNotFound, "This page is not available.")
		return
	}
	setupID, pm := c.PostForm("setup_id"), strings.TrimSpace(c.PostForm("payment_method"))
	if err := sim.SubmitSimulatedSetup(c.Request.Context(), setupID, c.PostForm("client_secret"), pm); err != nil {
		status, msg := s.plainError(c, portalStepError(err))
		s.renderPortal(c, status, "", msg, "")
		return
	}
	s.finishSetup(c, setupID, pm)
}

// portalStepError says what a failed provider step means to the customer.
func portalStepError(err error) error {
	switch {
	case errors.Is(err, payments.ErrStepNotSucceeded):
		return apperr.New(apperr.Rule, "card_step_not_succeeded", "your card could not be saved; nothing was changed, please choose another card")
	case errors.Is(err, payments.ErrNoSuchStep), errors.Is(err, payments.ErrStepMismatch):
		return apperr.New(apperr.Invalid, "card_step_mismatch", "this form has expired; please start again")
	}
	return err
}

// pageStartAuthentication shows the authentication step of an invoice: Stripe.js's
// confirmCardPayment, or the simulated challenge.
func (s *Server) pageStartAuthentication(c *gin.Context) {
	auth, err := s.cards.StartAuthentication(c.Request.Context(), portalCustomer(c), c.Param("id"))
	if err != nil {
		status, msg := s.plainError(c, err)
		s.renderPortal(c, status, "", msg, "")
		return
	}
	c.Set(ctxPageAuth, &auth)
	s.renderPortal(c, http.StatusOK, "", "", "")
}

// pageCompleteAuthentication receives the payment Stripe.js confirmed and applies it once
// the provider says it succeeded.
func (s *Server) pageCompleteAuthentication(c *gin.Context) {
	s.finishAuthentication(c, c.Param("id"), c.PostForm("payment_id"))
}

func (s *Server) finishAuthentication(c *gin.Context, invoiceID, paymentID string) {
	out, err := s.cards.CompleteAuthentication(c.Request.Context(), portalCustomer(c), invoiceID, paymentID)
	switch {
	case errors.Is(err, collection.ErrStillRunning):
		s.doneRedirect(c, "Your payment is confirmed; the invoice will show as paid in a moment.")
	case err != nil:
		status, msg := s.plainError(c, err)
		s.renderPortal(c, status, "", msg, "")
	case out.InvoiceStatus == "paid":
		s.doneRedirect(c, "Thank you: your payment is confirmed and the invoice is paid.")
	default:
		s.doneRedirect(c, "Thank you: your payment is confirmed. Still due on this invoice: "+out.AmountDue+".")
	}
}

// pageSimChallenge is the simulated 3-D Secure challenge's answer (what the issuer's page
// does under Stripe.js): approved, payorch then verifies and applies the payment as for
// Stripe; declined, nothing is charged.
func (s *Server) pageSimChallenge(c *gin.Context) {
	sim := s.simulator()
	if sim == nil {
		s.pageError(c, http.StatusNotFound, "This page is not available.")
		return
	}
	invoiceID, paymentID := c.PostForm("invoice_id"), c.Param("id")
	p, err := sim.SubmitSimulatedChallenge(c.Request.Context(), paymentID, c.PostForm("client_secret"), c.PostForm("decision") == "approve")
	if err != nil {
		status, msg := s.plainError(c, portalStepError(err))
		s.renderPortal(c, status, "", msg, "")
		return
	}
	if p.Status != payments.OnSessionSucceeded {
		msg := "Your payment was not confirmed, so nothing was charged"
		if p.Message != "" {
			msg += ": " + strings.TrimSuffix(p.Message, ".")
		}
		s.doneRedirect(c, msg+". You can try again.", true)
		return
	}
	s.finishAuthentication(c, invoiceID, paymentID)
}

// Keys of the page step being shown (set by the start handlers, read by renderPortal).
const (
	ctxPageSetup = "payorch.portal_setup"
	ctxPageAuth  = "payorch.portal_auth"
)

// pageSteps fills the card steps of the page data from the request.
func (s *Server) pageSteps(c *gin.Context, d *portalPageData) {
	d.CardSteps, d.Provider = s.cards.Enabled(), s.cards.Provider()
	if d.Provider == payments.StripeProviderName {
		d.StripeKey = s.stripeKey
	}
	if v, ok := c.Get(ctxPageSetup); ok {
		d.Setup, _ = v.(*payments.CardSetup)
	}
	if v, ok := c.Get(ctxPageAuth); ok {
		d.Auth, _ = v.(*portal.Authentication)
	}
	if d.Provider == payments.SimulatedProviderName {
		d.TestCards = payments.SimulatedTestCards
	}
	d.NeedsAuth = map[string]bool{}
	if !d.CardSteps {
		return
	}
	for _, inv := range d.Invoices {
		if inv.Status != invoices.StatusToPay && inv.Status != invoices.StatusError {
			continue
		}
		// The list leaves the transactions out: read the open invoice whole.
		full, err := s.invoices.Get(c.Request.Context(), inv.ID)
		if err == nil && portal.NeedsAuthentication(full) {
			d.NeedsAuth[inv.ID] = true
		}
	}
}
