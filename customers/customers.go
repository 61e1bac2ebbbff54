// Package customers holds customers and their saved payment methods: validation, the
// one-default-method rule (enforced by a unique index and a row lock), and reads.
package customers

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/apperr"
	"payorch/idempotency"
	"payorch/ids"
	"payorch/money"
	"payorch/store"
)

// Customer is a merchant's customer, as the API returns it.
type Customer struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	ExternalID         *string `json:"external_id"`
	Name               string  `json:"name"`
	Email              string  `json:"email"`
	Currency           string  `json:"currency"`
	Language           string  `json:"language"`
	ProviderCustomerID *string `json:"provider_customer_id"`
	// WalletID is the customer's wallet (null until one is opened).
	WalletID  *string   `json:"wallet_id"`
	CreatedAt time.Time `json:"created_at"`
}

// PaymentMethod is a saved way to pay, as the API returns it.
type PaymentMethod struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"`
	CustomerID string    `json:"customer_id"`
	ExternalID *string   `json:"external_id"`
	Type       string    `json:"type"`
	ProviderID *string   `json:"provider_id"`
	ExpMonth   *int32    `json:"exp_month"`
	ExpYear    *int32    `json:"exp_year"`
	Last4      *string   `json:"last4"`
	Default    bool      `json:"default"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// Payment method types.
const (
	TypeCard         = "card"
	TypeDirectDebit  = "direct_debit"
	TypeBankTransfer = "bank_transfer"
)

// Service reads and writes customers and payment methods.
type Service struct {
	pool *pgxpool.Pool
	// Now is the clock used for card expiry (time.Now in production).
	Now func() time.Time
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, Now: time.Now}
}

// CreateInput is the body of POST /v1/customers.
type CreateInput struct {
	Name               string  `json:"name"`
	Email              string  `json:"email"`
	Currency           string  `json:"currency"`
	ExternalID         *string `json:"external_id"`
	Language           *string `json:"language"`
	ProviderCustomerID *string `json:"provider_customer_id"`
}

var languagePattern = regexp.MustCompile(`^[a-z]{2}(-[A-Z]{2})?$`)

// checkName returns a customer's name trimmed, or a 400.
func checkName(in string) (string, error) {
	name := strings.TrimSpace(in)
	if name == "" || len(name) > 200 {
		return "", apperr.InvalidParam("name", "parameter_invalid", "name is required (1 to 200 characters)")
	}
	return name, nil
}

// checkEmail returns a customer's plain email address, or a 400.
func checkEmail(in string) (string, error) {
	addr, err := mail.ParseAddress(in)
	if err != nil || addr.Address != strings.TrimSpace(in) {
		return "", apperr.InvalidParam("email", "parameter_invalid", "email must be a plain address like ada@example.com")
	}
	return addr.Address, nil
}

// checkLanguage refuses a language that is not like en or fr-FR.
func checkLanguage(in string) error {
	if !languagePattern.MatchString(in) {
		return apperr.InvalidParam("language", "parameter_invalid", "language must look like en or fr-FR")
	}
	return nil
}

// Create validates and stores a new customer.
func (s *Service) Create(ctx context.Context, in CreateInput) (Customer, error) {
	name, err := checkName(in.Name)
	if err != nil {
		return Customer{}, err
	}
	email, err := checkEmail(in.Email)
	if err != nil {
		return Customer{}, err
	}
	cur, err := money.NormalizeCurrency(in.Currency)
	if err != nil {
		return Customer{}, apperr.InvalidParam("currency", "currency_invalid", "currency must be a supported ISO 4217 code such as EUR")
	}
	lang := "en"
	if in.Language != nil {
		if err := checkLanguage(*in.Language); err != nil {
			return Customer{}, err
		}
		lang = *in.Language
	}
	if err := checkExternalID(in.ExternalID); err != nil {
		return Customer{}, err
	}
	if in.ProviderCustomerID != nil && (*in.ProviderCustomerID == "" || len(*in.ProviderCustomerID) > 255) {
		return Customer{}, apperr.InvalidParam("provider_customer_id", "parameter_invalid", "provider_customer_id must be 1 to 255 characters")
	}
	var out Customer
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		// A retry of the request that created a customer gets that one, not a second.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (Customer, error) {
			row, err := q.GetCustomer(ctx, id)
			return customerFromRow(row), err
		})
		if err != nil || found {
			out = prev
			return err
		}
		row, err := q.CreateCustomer(ctx, store.CreateCustomerParams{
			ID: ids.New(ids.Customer), ExternalID: in.ExternalID, Name: name, Email: email,
			Currency: cur, Language: lang, ProviderCustomerID: in.ProviderCustomerID,
		})
		if store.IsUniqueViolation(err, "customers_external_id_key") {
			// The transaction is aborted; the holder is read outside it.
			return s.externalIDTaken(ctx, *in.ExternalID)
		}
		if err != nil {
			return fmt.Errorf("create customer: %w", err)
		}
		out = customerFromRow(row)
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

// externalIDTaken is the 409 for a customer create whose external_id another customer
// holds, naming that customer.
func (s *Service) externalIDTaken(ctx context.Context, ext string) error {
	e := apperr.Exists("external_id_taken", fmt.Sprintf("a customer with external_id %q already exists", ext), "")
	if prev, err := store.New(s.pool).GetCustomerByExternalID(ctx, &ext); err == nil {
		e.ExistingID = prev.ID
	}
	return e
}

func checkExternalID(ext *string) error {
	if ext != nil && (*ext == "" || len(*ext) > 255) {
		return apperr.InvalidParam("external_id", "parameter_invalid", "external_id must be 1 to 255 characters")
	}
	return nil
}

// Get returns a customer by id.
func (s *Service) Get(ctx context.Context, id string) (Customer, error) {
	row, err := store.New(s.pool).GetCustomer(ctx, id)
	if store.IsNoRows(err) {
		return Customer{}, apperr.NotFoundf("customer", id)
	}
	if err != nil {
		return Customer{}, fmt.Errorf("get customer: %w", err)
	}
	out := customerFromRow(row)
	wallet, err := store.New(s.pool).CustomerWalletID(ctx, id)
	switch {
	case err == nil:
		out.WalletID = &wallet
	case !store.IsNoRows(err):
		return Customer{}, fmt.Errorf("customer wallet: %w", err)
	}
	return out, nil
}

// UpdateInput is the body of PATCH /v1/customers/{id}: only the fields given change.
type UpdateInput struct {
	Name     *string `json:"name"`
	Email    *string `json:"email"`
	Language *string `json:"language"`
}

// Update changes a customer's name, email or language (validated as on create). Emails
// sent later use the new address and language.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (Customer, error) {
	if in.Name == nil && in.Email == nil && in.Language == nil {
		return Customer{}, apperr.InvalidParam("", "parameter_missing", "give at least one of name, email, language")
	}
	p := store.UpdateCustomerParams{ID: id}
	if in.Name != nil {
		name, err := checkName(*in.Name)
		if err != nil {
			return Customer{}, err
		}
		p.Name = &name
	}
	if in.Email != nil {
		email, err := checkEmail(*in.Email)
		if err != nil {
			return Customer{}, err
		}
		p.Email = &email
	}
	if in.Language != nil {
		if err := checkLanguage(*in.Language); err != nil {
			return Customer{}, err
		}
		p.Language = in.Language
	}
	if _, err := store.New(s.pool).UpdateCustomer(ctx, p); err != nil {
		if store.IsNoRows(err) {
			return Customer{}, apperr.NotFoundf("customer", id)
		}
		return Customer{}, fmt.Errorf("update customer: %w", err)
	}
	return s.Get(ctx, id)
}

// ListParams filters and pages a customer list (newest first).
type ListParams struct {
	// Limit is the page size (1..100).
	Limit int32
	// BeforeSeq is the cursor: only customers older than it.
	BeforeSeq *int64
	// Email filters on an exact address.
	Email *string
	// ExternalID filters on the merchant's own id.
	ExternalID *string
}

// List returns a page of customers, newest first, and the cursor of the next page (nil at the end).
func (s *Service) List(ctx context.Context, p ListParams) ([]Customer, *int64, error) {
	rows, err := store.New(s.pool).ListCustomers(ctx, store.ListCustomersParams{
		Limit: p.Limit + 1, BeforeSeq: p.BeforeSeq, Email: p.Email, ExternalID: p.ExternalID,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list customers: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.Customer) int64 { return r.Seq }, customerFromRow)
	if len(out) == 0 {
		return out, next, nil
	}
	cids := make([]string, len(out))
	for i, c := range out {
		cids[i] = c.ID
	}
	wallets, err := store.New(s.pool).CustomerWalletIDs(ctx, cids)
	if err != nil {
		return nil, nil, fmt.Errorf("customer wallets: %w", err)
	}
	byCustomer := make(map[string]string, len(wallets))
	for _, w := range wallets {
		byCustomer[w.CustomerID] = w.ID
	}
	for i := range out {
		if w, ok := byCustomer[out[i].ID]; ok {
			out[i].WalletID = &w
		}
	}
	return out, next, nil
}

// PaymentMethodInput is the body of POST /v1/customers/{id}/payment-methods.
type PaymentMethodInput struct {
	Type       string  `json:"type"`
	ProviderID *string `json:"provider_id"`
	ExpMonth   *int32  `json:"exp_month"`
	ExpYear    *int32  `json:"exp_year"`
	Last4      *string `json:"last4"`
	Default    *bool   `json:"default"`
	ExternalID *string `json:"external_id"`
}

var last4Pattern = regexp.MustCompile(`^[0-9]{4}$`)

// AddPaymentMethod saves a payment method for a customer. With default=true (or when the
// customer has no active method yet) it becomes the default, and the previous default is
// demoted in the same transaction.
func (s *Service) AddPaymentMethod(ctx context.Context, customerID string, in PaymentMethodInput) (PaymentMethod, error) {
	if err := s.validatePaymentMethod(in); err != nil {
		return PaymentMethod{}, err
	}
	var out PaymentMethod
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		// A retry of the request that saved a payment method gets that one, not a second.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (PaymentMethod, error) {
			row, err := q.GetPaymentMethod(ctx, id)
			return PaymentMethodView(row), err
		})
		if err != nil || found {
			out = prev
			return err
		}
		if _, err := q.LockCustomer(ctx, customerID); err != nil {
			if store.IsNoRows(err) {
				return apperr.NotFoundf("customer", customerID)
			}
			return fmt.Errorf("lock customer: %w", err)
		}
		makeDefault := in.Default != nil && *in.Default
		if in.Default == nil {
			n, err := q.CountActivePaymentMethods(ctx, customerID)
			if err != nil {
				return fmt.Errorf("count payment methods: %w", err)
			}
			makeDefault = n == 0
		}
		if makeDefault {
			if err := q.ClearDefaultPaymentMethod(ctx, customerID); err != nil {
				return fmt.Errorf("clear default payment method: %w", err)
			}
		}
		row, err := q.CreatePaymentMethod(ctx, store.CreatePaymentMethodParams{
			ID: ids.New(ids.PaymentMethod), CustomerID: customerID, ExternalID: in.ExternalID,
			Type: in.Type, ProviderID: in.ProviderID, ExpMonth: in.ExpMonth, ExpYear: in.ExpYear,
			Last4: in.Last4, IsDefault: makeDefault,
		})
		if store.IsUniqueViolation(err, "payment_methods_external_id_key") {
			e := apperr.Exists("external_id_taken", fmt.Sprintf("a payment method with external_id %q already exists", *in.ExternalID), "")
			// The transaction is aborted; the holder is read outside it.
			if prev, err := store.New(s.pool).GetPaymentMethodByExternalID(ctx, in.ExternalID); err == nil {
				e.ExistingID = prev.ID
			}
			return e
		}
		if err != nil {
			return fmt.Errorf("create payment method: %w", err)
		}
		out = PaymentMethodView(row)
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

func (s *Service) validatePaymentMethod(in PaymentMethodInput) error {
	switch in.Type {
	case TypeCard, TypeDirectDebit, TypeBankTransfer:
	case "":
		return apperr.InvalidParam("type", "parameter_missing", "type is required: card, direct_debit or bank_transfer")
	default:
		return apperr.InvalidParam("type", "parameter_invalid", "type must be card, direct_debit or bank_transfer")
	}
	if in.ProviderID != nil && (*in.ProviderID == "" || len(*in.ProviderID) > 255) {
		return apperr.InvalidParam("provider_id", "parameter_invalid", "provider_id must be 1 to 255 characters")
	}
	if in.ProviderID == nil && in.Type != TypeBankTransfer {
		return apperr.InvalidParam("provider_id", "parameter_missing", "provider_id is required for "+in.Type)
	}
	if in.Type != TypeCard {
		if in.ExpMonth != nil {
			return apperr.InvalidParam("exp_month", "parameter_unexpected", "only cards have an expiry")
		}
		if in.ExpYear != nil {
			return apperr.InvalidParam("exp_year", "parameter_unexpected", "only cards have an expiry")
		}
		if in.Last4 != nil && !last4Pattern.MatchString(*in.Last4) {
			return apperr.InvalidParam("last4", "parameter_invalid", "last4 must be 4 digits")
		}
		return checkExternalID(in.ExternalID)
	}
	if in.ExpMonth == nil {
		return apperr.InvalidParam("exp_month", "parameter_missing", "a card needs exp_month (1-12)")
	}
	if *in.ExpMonth < 1 || *in.ExpMonth > 12 {
		return apperr.InvalidParam("exp_month", "parameter_invalid", "exp_month must be 1 to 12")
	}
	if in.ExpYear == nil {
		return apperr.InvalidParam("exp_year", "parameter_missing", "a card needs exp_year (four digits)")
	}
	if *in.ExpYear < 2000 || *in.ExpYear > 2200 {
		return apperr.InvalidParam("exp_year", "parameter_invalid", "exp_year must be a four-digit year")
	}
	if CardExpired(*in.ExpMonth, *in.ExpYear, s.Now()) {
		return apperr.New(apperr.Rule, "card_expired", fmt.Sprintf("the card expired at the end of %02d/%d", *in.ExpMonth, *in.ExpYear))
	}
	if in.Last4 != nil && !last4Pattern.MatchString(*in.Last4) {
		return apperr.InvalidParam("last4", "parameter_invalid", "last4 must be 4 digits")
	}
	return checkExternalID(in.ExternalID)
}

// CardExpired reports whether a card valid through month/year has expired at now (a card
// works until the last day of its expiry month, in UTC).
func CardExpired(month, year int32, now time.Time) bool {
	now = now.UTC()
	return int(year) < now.Year() || (int(year) == now.Year() && int(month) < int(now.Month()))
}

// ListPaymentMethods returns a customer's payment methods, newest first; a non-nil
// externalID keeps only the method with that external_id.
func (s *Service) ListPaymentMethods(ctx context.Context, customerID string, externalID *string) ([]PaymentMethod, error) {
	if _, err := s.Get(ctx, customerID); err != nil {
		return nil, err
	}
	rows, err := store.New(s.pool).ListPaymentMethods(ctx, store.ListPaymentMethodsParams{CustomerID: customerID, ExternalID: externalID})
	if err != nil {
		return nil, fmt.Errorf("list payment methods: %w", err)
	}
	out := make([]PaymentMethod, len(rows))
	for i, r := range rows {
		out[i] = PaymentMethodView(r)
	}
	return out, nil
}

// SetDefaultPaymentMethod makes an active payment method of the customer its default
// (the previous default is demoted in the same transaction). A detached or errored method
// cannot be the default (409 payment_method_not_active).
func (s *Service) SetDefaultPaymentMethod(ctx context.Context, customerID, pmID string) (PaymentMethod, error) {
	var out PaymentMethod
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		pm, err := s.lockMethod(ctx, q, customerID, pmID)
		if err != nil {
			return err
		}
		if pm.Status != "active" {
			return apperr.New(apperr.Conflict, "payment_method_not_active",
				fmt.Sprintf("payment method %s is %s: only an active method can be the default", pm.ID, pm.Status))
		}
		if pm.IsDefault {
			out = PaymentMethodView(pm)
			return nil
		}
		if err := q.ClearDefaultPaymentMethod(ctx, customerID); err != nil {
			return fmt.Errorf("clear default payment method: %w", err)
		}
		row, err := q.SetDefaultPaymentMethod(ctx, pm.ID)
		if err != nil {
			return fmt.Errorf("set default payment method: %w", err)
		}
		out = PaymentMethodView(row)
		return nil
	})
	return out, err
}

// DetachPaymentMethod detaches a payment method: it is never charged again and stops
// being the default. Invoices that would have used it wait, as for a missing method, until
// the customer has another one of their type. Detaching twice answers the detached method.
func (s *Service) DetachPaymentMethod(ctx context.Context, customerID, pmID string) (PaymentMethod, error) {
	var out PaymentMethod
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		pm, err := s.lockMethod(ctx, q, customerID, pmID)
		if err != nil {
			return err
		}
		if pm.Status == "detached" {
			out = PaymentMethodView(pm)
			return nil
		}
		row, err := q.DetachPaymentMethod(ctx, pm.ID)
		if err != nil {
			return fmt.Errorf("detach payment method: %w", err)
		}
		out = PaymentMethodView(row)
		return nil
	})
	return out, err
}

// lockMethod locks the customer, then one of its payment methods (404 for another
// customer's method).
func (s *Service) lockMethod(ctx context.Context, q *store.Queries, customerID, pmID string) (store.PaymentMethod, error) {
	if _, err := q.LockCustomer(ctx, customerID); err != nil {
		if store.IsNoRows(err) {
			return store.PaymentMethod{}, apperr.NotFoundf("customer", customerID)
		}
		return store.PaymentMethod{}, fmt.Errorf("lock customer: %w", err)
	}
	pm, err := q.LockPaymentMethod(ctx, pmID)
	if store.IsNoRows(err) || (err == nil && pm.CustomerID != customerID) {
		return store.PaymentMethod{}, apperr.NotFoundf("payment method", pmID)
	}
	if err != nil {
		return store.PaymentMethod{}, fmt.Errorf("lock payment method: %w", err)
	}
	return pm, nil
}

func customerFromRow(r store.Customer) Customer {
	return Customer{
		ID: r.ID, Object: "customer", ExternalID: r.ExternalID, Name: r.Name, Email: r.Email,
		Currency: r.Currency, Language: r.Language, ProviderCustomerID: r.ProviderCustomerID,
		CreatedAt: r.CreatedAt.UTC(),
	}
}

// PaymentMethodView is a payment method row as the API (and payment_method.* events) show it.
func PaymentMethodView(r store.PaymentMethod) PaymentMethod {
	return PaymentMethod{
		ID: r.ID, Object: "payment_method", CustomerID: r.CustomerID, ExternalID: r.ExternalID,
		Type: r.Type, ProviderID: r.ProviderID, ExpMonth: r.ExpMonth, ExpYear: r.ExpYear,
		Last4: r.Last4, Default: r.IsDefault, Status: r.Status, CreatedAt: r.CreatedAt.UTC(),
	}
}
