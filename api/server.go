// Package api is payorch's thin HTTP layer (Gin): routing, bearer-key auth with roles,
// Idempotency-Key, request validation and the mapping of errors to statuses. Business
// rules live in the domain packages it calls; workflows are reached only through the
// Temporal client.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"payorch/apperr"
	"payorch/collection"
	"payorch/config"
	"payorch/customers"
	"payorch/documents/pdf"
	"payorch/dunning"
	"payorch/ids"
	"payorch/invoices"
	"payorch/ledger"
	"payorch/payments"
	"payorch/portal"
	"payorch/settings"
	"payorch/subscriptions"
	"payorch/webhooks"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 1 << 20

// Deps are what the API needs.
type Deps struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Keys     []config.APIKey
	Logger   *slog.Logger
	// TaskQueue is where invoice payment workflows run. RetrySchedule and
	// DunningByErrorType are the configuration's dunning policy, which workflows start
	// with until one is set through PUT /v1/settings/dunning.
	TaskQueue          string
	RetrySchedule      []time.Duration
	DunningByErrorType map[string][]time.Duration
	// DunningMinDelay is the shortest delay PUT /v1/settings/dunning accepts (zero:
	// dunning.MinDelay; PAYORCH_DUNNING_MIN_DELAY lowers it for development and tests).
	DunningMinDelay time.Duration
	// PortalLimits bound portal wallet loads (zero: ledger.DefaultPortalLimits).
	PortalLimits ledger.PortalLimits
	// StripeWebhookSecret verifies POST /v1/providers/stripe/webhooks (empty: 503).
	StripeWebhookSecret string
	// ProviderEvents receives the verified provider events (nil: webhooks answer 503).
	ProviderEvents payments.EventHandler
	// UpdateWait bounds how long retry, reconcile and void wait for the workflow's outcome
	// before answering 202 (0: collection.DefaultUpdateWait).
	UpdateWait time.Duration
	// WebhookAllowPrivateNetworks lets webhook endpoint URLs name non-public addresses
	// (config.Config.WebhookAllowPrivateNetworks).
	WebhookAllowPrivateNetworks bool
	// Merchant is printed on the PDF documents.
	Merchant pdf.Merchant
	// Portal mints and checks portal tokens (nil: a random key, for tests).
	Portal *portal.Sessions
	// CardSteps are the provider's customer-present card steps the portal offers (saving
	// a card through the provider's form, authenticating a payment); nil: none.
	CardSteps payments.CardSteps
	// StripePublishableKey is handed to Stripe.js on the portal page when CardSteps is
	// Stripe (STRIPE_PUBLISHABLE_KEY).
	StripePublishableKey string
}

// Server holds the API's dependencies; Handler returns its router.
type Server struct {
	pool      *pgxpool.Pool
	temporal  client.Client
	keys      []config.APIKey
	log       *slog.Logger
	customers *customers.Service
	webhooks  *webhooks.Service
	invoices  *invoices.Service
	collect   *collection.Client
	ledger    *ledger.Ledger
	subs      *subscriptions.Service
	settings  *settings.Service
	taskQueue string
	engine    *gin.Engine
	// stripeWebhookSecret and providerEvents serve the inbound provider webhooks.
	stripeWebhookSecret string
	providerEvents      payments.EventHandler
	// docs renders the PDF documents.
	docs *pdf.Service
	// portal mints and checks portal tokens.
	portal *portal.Sessions
	// cards runs the portal's card steps; stripeKey is Stripe.js's publishable key.
	cards     *portal.Cards
	stripeKey string
}

// New builds the API server and its routes.
func New(d Deps) *Server {
	gin.SetMode(gin.ReleaseMode)
	if d.TaskQueue == "" {
		d.TaskQueue = config.DefaultTaskQueue
	}
	s := &Server{
		pool: d.Pool, temporal: d.Temporal, keys: d.Keys, log: d.Logger,
		customers: customers.NewService(d.Pool),
		webhooks:  webhooks.NewService(d.Pool),
		invoices:  invoices.NewService(d.Pool),
		ledger:    ledger.New(d.Pool), subs: subscriptions.NewService(d.Pool), taskQueue: d.TaskQueue,
		settings: settings.NewService(d.Pool, dunning.Policy{Default: d.RetrySchedule, ByErrorType: d.DunningByErrorType}),
	}
	s.settings.MinDelay, s.settings.Log = d.DunningMinDelay, d.Logger
	s.stripeWebhookSecret, s.providerEvents = d.StripeWebhookSecret, d.ProviderEvents
	s.webhooks.AllowPrivateNetworks = d.WebhookAllowPrivateNetworks
	s.docs = pdf.New(d.Pool, d.Merchant)
	s.portal = d.Portal
	if s.portal == nil {
		s.portal = portal.NewSessions(d.Pool, portal.RandomSecret(), config.DefaultPortalURL, 0, 0)
	}
	if !d.PortalLimits.MaxLoad.IsZero() {
		s.ledger.PortalLimits = d.PortalLimits
	}
	s.collect = &collection.Client{Temporal: d.Temporal, TaskQueue: d.TaskQueue, RetrySchedule: d.RetrySchedule, Settings: s.settings,
		Invoices: s.invoices, UpdateWait: d.UpdateWait, Ledger: s.ledger, Log: s.log}
	s.cards = &portal.Cards{Steps: d.CardSteps, Customers: s.customers, Invoices: s.invoices, Collect: s.collect}
	s.stripeKey = d.StripePublishableKey
	if s.log == nil {
		s.log = slog.Default()
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// guard runs before every route's own chain (authorize, idempotent, the handler): bad
	// text, blank ids, impossible dates and non-JSON bodies are refused before an
	// Idempotency-Key is claimed or anything else is written.
	e.Use(httpMetrics, s.requestLog, s.recover, s.limitBody, s.guard)
	e.NoRoute(func(c *gin.Context) {
		s.fail(c, apperr.New(apperr.NotFound, "route_not_found", "no route "+c.Request.Method+" "+c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{
			Type: string(apperr.Invalid), Code: "method_not_allowed", Message: c.Request.Method + " is not allowed on " + c.Request.URL.Path}})
	})
	s.engine = e
	s.routes()
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Routes lists every method and path the router serves (for the OpenAPI check).
func (s *Server) Routes() gin.RoutesInfo { return s.engine.Routes() }

var (
	anyRole     = []config.Role{config.RoleBackend, config.RoleSupport}
	backendOnly = []config.Role{config.RoleBackend}
)

func (s *Server) routes() {
	e := s.engine
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", s.openapi)
	s.metricsRoute()

	s.get("/v1/customers", anyRole, s.listCustomers)
	s.post("/v1/customers", backendOnly, s.createCustomer)
	s.get("/v1/customers/:id", anyRole, s.getCustomer)
	s.patch("/v1/customers/:id", backendOnly, s.updateCustomer)
	s.get("/v1/customers/:id/payment-methods", anyRole, s.listPaymentMethods)
	s.post("/v1/customers/:id/payment-methods", backendOnly, s.addPaymentMethod)
	s.post("/v1/customers/:id/payment-methods/:pm_id/default", backendOnly, s.setDefaultPaymentMethod)
	s.post("/v1/customers/:id/payment-methods/:pm_id/detach", backendOnly, s.detachPaymentMethod)
	s.get("/v1/events", anyRole, s.listEvents)
	s.webhookRoutes()
	s.invoiceRoutes()
	s.walletRoutes()
	s.providerRoutes()
	s.documentRoutes()
	s.portalRoutes()
	s.settingsRoutes()
}

func (s *Server) get(path string, roles []config.Role, h gin.HandlerFunc) {
	s.engine.GET(path, s.authorize(roles...), h)
}

func (s *Server) post(path string, roles []config.Role, h gin.HandlerFunc) {
	s.engine.POST(path, s.authorize(roles...), s.idempotent, h)
}

// put routes a replacement (a setting): authorized, and idempotent under an
// Idempotency-Key like every POST.
func (s *Server) put(path string, roles []config.Role, h gin.HandlerFunc) {
	s.engine.PUT(path, s.authorize(roles...), s.idempotent, h)
}

// patch routes a partial update: authorized, and idempotent under an Idempotency-Key like
// every POST.
func (s *Server) patch(path string, roles []config.Role, h gin.HandlerFunc) {
	s.engine.PATCH(path, s.authorize(roles...), s.idempotent, h)
}

func (s *Server) requestLog(c *gin.Context) {
	rid := c.GetHeader("X-Request-Id")
	if rid == "" || len(rid) > 128 || !cleanText(rid) || hasControl(rid) {
		rid = ids.New("req")
	}
	c.Set(ctxRequestID, rid)
	c.Header("X-Request-Id", rid)
	start := time.Now()
	c.Next()
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "http request",
		slog.String("method", c.Request.Method), slog.String("route", c.FullPath()),
		slog.String("path", c.Request.URL.Path), slog.Int("status", c.Writer.Status()),
		slog.Duration("latency", time.Since(start)), slog.String("request_id", rid))
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(c.Request.Context(), "panic in handler", "panic", r, "request_id", c.GetString(ctxRequestID))
			s.fail(c, apperr.New(apperr.Internal, "internal_error", "an internal error occurred"))
		}
	}()
	c.Next()
}

func (s *Server) limitBody(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	c.Next()
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when PostgreSQL and Temporal both answer, else 503 naming what is down.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := gin.H{}
	ok := true
	if err := s.pool.Ping(ctx); err != nil {
		checks["postgres"], ok = err.Error(), false
	} else {
		checks["postgres"] = "ok"
	}
	if s.temporal == nil {
		checks["temporal"], ok = "no client", false
	} else if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], ok = err.Error(), false
	} else {
		checks["temporal"] = "ok"
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, gin.H{"ready": ok, "checks": checks})
}

// workTimeout bounds a request's work once it no longer depends on the client.
const workTimeout = 30 * time.Second

// detached returns the request's context cut loose from the client: a hang-up after the
// work began does not stop it half-way (the request context's values, such as the
// idempotency key, are kept).
func detached(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request.Context()), workTimeout)
}
