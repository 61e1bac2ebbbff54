package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/store"
)

// ErrorBody is the JSON error envelope of every failed request.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: type (the class), code (machine-readable reason),
// message (for humans) and param (the offending field, when there is one).
type ErrorDetail struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	// ExistingID names the existing resource a 409 conflict is about (a taken
	// external_id's holder, the customer's wallet).
	ExistingID string `json:"existing_id,omitempty"`
}

var statusByKind = map[apperr.Kind]int{
	apperr.Invalid:         http.StatusBadRequest,
	apperr.Unauthenticated: http.StatusUnauthorized,
	apperr.Forbidden:       http.StatusForbidden,
	apperr.NotFound:        http.StatusNotFound,
	apperr.Conflict:        http.StatusConflict,
	apperr.Rule:            http.StatusUnprocessableEntity,
	apperr.PaymentFailed:   http.StatusPaymentRequired,
	apperr.Unavailable:     http.StatusServiceUnavailable,
	apperr.Internal:        http.StatusInternalServerError,
}

// codeBodyTooLarge is the code of a body over maxBodyBytes: an invalid request, answered
// 413.
const codeBodyTooLarge = "body_too_large"

// errBusy is the answer when the database gave up waiting for a lock (lock_timeout) or on
// a statement (statement_timeout): the transaction was rolled back, so nothing changed and
// the same request can be sent again.
var errBusy = apperr.New(apperr.Unavailable, "resource_busy",
	"another request is changing this resource; nothing was changed, try again in a moment")

// transientCodes are refusals that hold only for now: the same request may succeed once
// what is in flight has finished, so the Idempotency-Key is left open for it.
var transientCodes = map[string]bool{
	contracts.ErrChargeInFlight: true,
	"idempotency_key_in_use":    true,
}

// freshUpdateCodes are failures a workflow records as an Update's outcome although they
// may heal (a step that ran out of retries on an infrastructure error, a misconfiguration
// an operator fixes): the same request again must send a fresh Update, not attach to the
// failed one. Any other 5xx happened around the Update, which a rerun attaches to.
var freshUpdateCodes = map[string]bool{
	contracts.ErrTemporarilyUnavailable: true,
	contracts.ErrMisconfigured:          true,
}

// fail writes err as the error envelope: typed errors with their status, a database
// that gave up waiting as a retryable 503 (Retry-After), anything else as a 500 whose
// cause is logged, never shown.
func (s *Server) fail(c *gin.Context, err error) {
	e, ok := apperr.As(err)
	if !ok && store.IsBusy(err) {
		s.log.WarnContext(c.Request.Context(), "database busy", "error", err, "request_id", c.GetString(ctxRequestID))
		e, ok = errBusy, true
		c.Header("Retry-After", "1")
	}
	if !ok {
		s.log.ErrorContext(c.Request.Context(), "request failed", "error", err, "request_id", c.GetString(ctxRequestID))
		e = apperr.New(apperr.Internal, "internal_error", "an internal error occurred; it was logged with request id "+c.GetString(ctxRequestID))
	}
	if transientCodes[e.Code] {
		c.Set(ctxTransient, true)
	}
	if freshUpdateCodes[e.Code] {
		c.Set(ctxFreshUpdate, true)
	}
	status, ok := statusByKind[e.Kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	if e.Code == codeBodyTooLarge {
		// An invalid request, answered with the status that says why.
		status = http.StatusRequestEntityTooLarge
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="payorch"`)
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: ErrorDetail{Type: string(e.Kind), Code: e.Code, Message: e.Message, Param: e.Param, ExistingID: e.ExistingID}})
}

// decode reads a JSON body into dst, rejecting unknown fields, wrong types, trailing data
// and bodies over the size limit, with a 400 naming the parameter.
func decode(c *gin.Context, dst any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.InvalidParam("", "body_invalid", "the body must be a single JSON object")
	}
	return nil
}

// decodeOptional decodes a body that may be absent (no body, or only white space).
func decodeOptional(c *gin.Context, dst any) error {
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(raw))
	return decode(c, dst)
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return apperr.InvalidParam("", "body_missing", "a JSON body is required")
	case errors.As(err, &maxErr):
		return apperr.InvalidParam("", codeBodyTooLarge, fmt.Sprintf("the body exceeds %d bytes", maxErr.Limit))
	case errors.As(err, &typeErr):
		param := typeErr.Field
		want := typeErr.Type.String()
		if strings.Contains(want, "string") {
			want = "a string"
		}
		return apperr.InvalidParam(param, "parameter_invalid_type", fmt.Sprintf("%s must be %s, not a JSON %s", param, want, typeErr.Value))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.InvalidParam("", "body_invalid", "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.InvalidParam(field, "parameter_unknown", fmt.Sprintf("unknown parameter %q", field))
	default:
		return apperr.InvalidParam("", "body_invalid", "the body could not be read as JSON: "+err.Error())
	}
}
