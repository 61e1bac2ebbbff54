package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/customers"
	"payorch/invoices"
	"payorch/payments"
	"payorch/portal"
)

//go:embed templates/portal.html templates/portal-stripe.js
var portalTemplates embed.FS

// portalCookie holds the portal token once the link was opened (HttpOnly, SameSite=Strict).
const portalCookie = "payorch_portal"

// flashCookie carries the outcome of a form across its redirect (post/redirect/get), so
// reloading the page never submits a top-up twice.
const flashCookie = "payorch_portal_flash"

// portalPageRoutes serve the customer portal page: server-rendered HTML over the same
// helpers as the JSON routes, plain forms (no script), a session cookie set from the
// link's token.
func (s *Server) portalPageRoutes() {
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{
		"day": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"txLabel": func(typ string) string {
			switch typ {
			case "credit_paid":
				return "Top-up"
			case "credit_free":
				return "Credit offered"
			case "debit":
				return "Paid from wallet"
			case "expiry":
				return "Credit expired"
			}
			return typ
		},
		"invoiceStatus": func(st string) string {
			switch st {
			case invoices.StatusToPay:
				return "to pay"
			case invoices.StatusError:
				return "payment failed"
			}
			return st
		},
	}).ParseFS(portalTemplates, "templates/portal.html"))
	s.engine.SetHTMLTemplate(tmpl)
	g := s.engine.Group("/portal", s.pageHeaders)
	g.GET("", s.portalPage)
	g.POST("/top-up", s.pageAuth, s.pageTopUp)
	g.POST("/card-setup", s.pageAuth, s.pageStartSetup)
	g.POST("/card-setup/complete", s.pageAuth, s.pageCompleteSetup)
	g.POST("/sim/card-setup", s.pageAuth, s.pageSimSetup)
	g.POST("/invoices/:id/authenticate", s.pageAuth, s.pageStartAuthentication)
	g.POST("/invoices/:id/authenticate/complete", s.pageAuth, s.pageCompleteAuthentication)
	g.POST("/sim/payments/:id", s.pageAuth, s.pageSimChallenge)
	g.GET("/assets/portal-stripe.js", s.portalStripeJS)
	g.POST("/logout", s.pageAuth, s.pageLogout)
	g.GET("/invoices/:id/pdf", s.pageAuth, s.portalInvoicePDF)
	g.GET("/receipts/:id/pdf", s.pageAuth, s.portalReceiptPDF)
	g.GET("/credit-notes/:id/pdf", s.pageAuth, s.portalCreditNotePDF)
}

// portalPageData fills templates/portal.html.
type portalPageData struct {
	Merchant  string
	Customer  customers.Customer
	Wallet    *PortalWallet
	Invoices  []invoices.Invoice
	Docs      PortalDocuments
	Card      *customers.PaymentMethod
	Notice    string
	Error     string
	Amount    string
	CSRF      string
	ExpiresAt string
	// CardSteps is true when a provider with card steps is configured; Provider names it.
	CardSteps bool
	Provider  string
	// StripeKey is Stripe.js's publishable key (set only with Stripe: the page then loads
	// Stripe.js from js.stripe.com, and only then).
	StripeKey string
	// Setup is the card setup being shown (the provider's form), Auth the payment being
	// authenticated; TestCards are the simulated provider's cards.
	Setup     *payments.CardSetup
	Auth      *portal.Authentication
	TestCards []payments.SimulatedTestCard
	// NeedsAuth holds the invoices the customer can pay by authenticating their card.
	NeedsAuth map[string]bool
}

func (s *Server) pageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", s.pageCSP())
	c.Next()
}

// pageCSP is the page's Content-Security-Policy: no script at all, except with Stripe,
// where the page runs its own small script and Stripe.js from js.stripe.com (whose
// frames and API calls go to Stripe only).
func (s *Server) pageCSP() string {
	csp := "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if s.cards.Provider() == payments.StripeProviderName {
		csp += "; script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; connect-src https://api.stripe.com; img-src https://*.stripe.com"
	}
	return csp
}

// portalStripeJS serves the page's script that drives Stripe.js (only with Stripe).
func (s *Server) portalStripeJS(c *gin.Context) {
	if s.cards.Provider() != payments.StripeProviderName {
		c.Status(http.StatusNotFound)
		return
	}
	b, err := portalTemplates.ReadFile("templates/portal-stripe.js")
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", b)
}

// csrfToken binds the page's forms to the session's token.
func csrfToken(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("payorch-portal-csrf"))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// pageError renders the page with only a message (no session, or a refused one).
func (s *Server) pageError(c *gin.Context, status int, msg string) {
	c.HTML(status, "portal.html", portalPageData{Merchant: s.docs.Merchant.Name, Error: msg})
	c.Abort()
}

// pageAuth admits a page request whose cookie holds a valid token, and a form post whose
// csrf field matches it.
func (s *Server) pageAuth(c *gin.Context) {
	token, err := c.Cookie(portalCookie)
	if err != nil || token == "" {
		s.pageError(c, http.StatusUnauthorized, "Your session has ended. Open the link from your latest email again, or ask us for a new one.")
		return
	}
	p, err := s.portal.Authenticate(c.Request.Context(), token)
	if err != nil {
		s.clearPortalCookie(c)
		s.pageError(c, http.StatusUnauthorized, authMessage(err))
		return
	}
	if c.Request.Method == http.MethodPost && !hmac.Equal([]byte(c.PostForm("csrf")), []byte(csrfToken(token))) {
		s.pageError(c, http.StatusForbidden, "This form has expired. Reload the page and try again.")
		return
	}
	c.Set(ctxPortal, p)
	c.Set("payorch.portal_token", token)
	c.Next()
}

func authMessage(err error) string {
	if e, ok := apperr.As(err); ok {
		switch e.Code {
		case "portal_token_expired":
			return "This link has expired. Ask us for a new one."
		case "portal_token_revoked":
			return "This link was revoked. Ask us for a new one."
		case "portal_token_invalid":
			return "This link is not valid. Open the link from your latest email again, or ask us for a new one."
		}
	}
	return "We could not open your portal right now. Please try again in a moment."
}

func (s *Server) setPortalCookie(c *gin.Context, token string, expires time.Time) {
	secure := strings.HasPrefix(s.portal.BaseURL, "https://")
	http.SetCookie(c.Writer, &http.Cookie{Name: portalCookie, Value: token, Path: "/portal", Expires: expires,
		MaxAge: int(time.Until(expires).Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearPortalCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: portalCookie, Value: "", Path: "/portal", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// portalPage opens the portal: with ?token= (the link) it checks the token, keeps it in a
// cookie and redirects to the bare page, so the token leaves the address bar and history.
func (s *Server) portalPage(c *gin.Context) {
	if token := c.Query("token"); token != "" {
		p, err := s.portal.Authenticate(c.Request.Context(), token)
		if err != nil {
			s.pageError(c, http.StatusUnauthorized, authMessage(err))
			return
		}
		s.setPortalCookie(c, token, p.ExpiresAt)
		c.Redirect(http.StatusSeeOther, "/portal")
		return
	}
	s.pageAuth(c)
	if c.IsAborted() {
		return
	}
	notice, errMsg := "", ""
	if v, err := c.Cookie(flashCookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(v); err == nil {
			if m, ok := strings.CutPrefix(string(b), "e|"); ok {
				errMsg = m
			} else {
				notice = strings.TrimPrefix(string(b), "n|")
			}
		}
		http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: "", Path: "/portal", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	s.renderPortal(c, http.StatusOK, notice, errMsg, "")
}

// doneRedirect ends a form that charged or saved something: the outcome (a notice, or an
// error when isError) goes in a one-minute cookie and the browser is sent back to the page
// (303), so a reload shows the page and never submits the form again.
func (s *Server) doneRedirect(c *gin.Context, msg string, isError ...bool) {
	v := "n|" + msg
	if len(isError) > 0 && isError[0] {
		v = "e|" + msg
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(v)), Path: "/portal",
		MaxAge: 60, HttpOnly: true, Secure: strings.HasPrefix(s.portal.BaseURL, "https://"), SameSite: http.SameSiteStrictMode})
	c.Redirect(http.StatusSeeOther, "/portal")
}

// renderPortal renders the customer's page with an optional notice or error.
func (s *Server) renderPortal(c *gin.Context, status int, notice, errMsg, amount string) {
	ctx := c.Request.Context()
	cust := portalCustomer(c)
	token := c.GetString("payorch.portal_token")
	d, err := s.portalPageFor(ctx, cust)
	if err != nil {
		s.log.ErrorContext(ctx, "portal page", "customer_id", cust, "error", err)
		s.pageError(c, http.StatusInternalServerError, "We could not load your portal right now. Please try again in a moment.")
		return
	}
	v, _ := c.Get(ctxPortal)
	p, _ := v.(portal.Principal)
	d.Notice, d.Error, d.Amount, d.CSRF = notice, errMsg, amount, csrfToken(token)
	d.ExpiresAt = p.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	s.pageSteps(c, &d)
	c.HTML(status, "portal.html", d)
}

func (s *Server) portalPageFor(ctx context.Context, customerID string) (portalPageData, error) {
	d := portalPageData{Merchant: s.docs.Merchant.Name}
	var err error
	if d.Customer, err = s.customers.Get(ctx, customerID); err != nil {
		return d, err
	}
	if w, err := s.portalWalletView(ctx, customerID); err == nil {
		d.Wallet = &w
	} else if !apperr.IsKind(err, apperr.NotFound) {
		return d, err
	}
	if d.Invoices, _, err = s.invoices.List(ctx, invoices.ListParams{Limit: 50, CustomerID: &customerID}); err != nil {
		return d, err
	}
	if d.Docs, err = s.portalDocumentsView(ctx, customerID); err != nil {
		return d, err
	}
	if pm, err := s.portalDefaultCard(ctx, customerID); err == nil {
		d.Card = &pm
	} else if !apperr.IsKind(err, apperr.NotFound) {
		return d, err
	}
	return d, nil
}

// plainError is what the page says about a refused action: the typed error's own message
// (written for people), never an internal one.
func (s *Server) plainError(c *gin.Context, err error) (int, string) {
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal {
		msg := e.Message
		if len(msg) > 0 {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return statusByKind[e.Kind], msg + "."
	}
	s.log.ErrorContext(c.Request.Context(), "portal page action", "error", err)
	return http.StatusInternalServerError, "Something went wrong on our side; nothing was charged twice. Please try again in a moment."
}

func (s *Server) pageTopUp(c *gin.Context) {
	amount := strings.TrimSpace(c.PostForm("amount"))
	out, done, err := s.portalTopUpRun(c.Request.Context(), portalCustomer(c), amount)
	if err != nil {
		status, msg := s.plainError(c, err)
		s.renderPortal(c, status, "", msg, amount)
		return
	}
	ld := out.Load
	switch {
	case !done || ld.Pending():
		s.doneRedirect(c, "Your top-up of "+ld.Amount+" "+ld.Currency+" is being processed; it will show here once your bank confirms it.")
	case ld.Status == "failed":
		msg := "Your card was not charged"
		if ld.ErrorMessage != nil && *ld.ErrorMessage != "" {
			msg += ": " + strings.TrimSuffix(*ld.ErrorMessage, ".")
		}
		s.doneRedirect(c, msg+". Nothing was added to your wallet.", true)
	default:
		s.doneRedirect(c, "Your wallet was topped up with "+ld.Amount+" "+ld.Currency+". New balance: "+out.Wallet.Balance+" "+out.Wallet.Currency+".")
	}
}

func (s *Server) pageLogout(c *gin.Context) {
	v, _ := c.Get(ctxPortal)
	p, _ := v.(portal.Principal)
	if _, err := s.portal.Revoke(c.Request.Context(), p.SessionID); err != nil {
		s.log.ErrorContext(c.Request.Context(), "portal sign-out", "error", err)
	}
	s.clearPortalCookie(c)
	c.HTML(http.StatusOK, "portal.html", portalPageData{Merchant: s.docs.Merchant.Name, Notice: "You are signed out."})
}
