// Package apperr is the typed error that domain code returns and the API maps to an HTTP
// status and the error body {"error": {"type", "code", "message", "param"}}.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error; each kind has one HTTP status.
type Kind string

const (
	// Invalid is bad input (400).
	Invalid Kind = "invalid_request_error"
	// Unauthenticated is a missing or unknown key (401).
	Unauthenticated Kind = "authentication_error"
	// Forbidden is a key whose role may not do this (403).
	Forbidden Kind = "permission_error"
	// NotFound is an unknown resource (404).
	NotFound Kind = "not_found_error"
	// Conflict is a request that conflicts with the resource's state (409).
	Conflict Kind = "conflict_error"
	// Rule is a request refused by a business rule (422).
	Rule Kind = "business_rule_error"
	// PaymentFailed is a charge the request made that failed (402): the provider declined
	// it or it could not be made.
	PaymentFailed Kind = "payment_error"
	// Unavailable is a dependency that is down (503).
	Unavailable Kind = "service_unavailable_error"
	// Internal is a bug or an unexpected failure (500).
	Internal Kind = "api_error"
)

// Error is a typed, client-facing error.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Param   string
	// ExistingID names the resource a conflict is about (the holder of a taken
	// external_id, the customer's existing wallet), so a client can fetch it.
	ExistingID string
	// Err is an optional cause, never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s/%s: %s: %v", e.Kind, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s/%s: %s", e.Kind, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New builds an error of the given kind.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// InvalidParam builds a 400 naming the offending parameter.
func InvalidParam(param, code, message string) *Error {
	return &Error{Kind: Invalid, Code: code, Message: message, Param: param}
}

// Exists builds a 409 for a create that would duplicate a resource, naming the one that
// already exists (existing_id in the error body).
func Exists(code, message, existingID string) *Error {
	return &Error{Kind: Conflict, Code: code, Message: message, ExistingID: existingID}
}

// NotFoundf builds a 404 for a resource type and id.
func NotFoundf(resource, id string) *Error {
	return &Error{Kind: NotFound, Code: "resource_missing", Message: fmt.Sprintf("no %s with id %q", resource, id)}
}

// As extracts an *Error from err.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsKind reports whether err is an *Error of the given kind.
func IsKind(err error, kind Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == kind
}
