package activities

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/temporal"

	"payorch/contracts"
)

// bridge is the one place that decides whether an activity's failure may heal by itself.
// Errors that no retry can fix become non-retryable ApplicationErrors with a type the
// workflow and the API understand; everything else (a connection failure, a timeout, a
// serialization failure or deadlock, a lock or statement timeout) stays retryable and
// the activity's bounded retry policy backs off.
//
//   - SQLSTATE class 22 (data exception: invalid text such as a NUL byte or invalid UTF-8,
//     a value out of range) and class 23 (integrity constraint violation): ErrInvalidData;
//   - class 42 (a missing table or column: migrations not applied), 28 (login refused),
//     3D/3F (no such database or schema) and 0A (feature not supported): ErrMisconfigured;
//   - text the driver cannot even send (invalid UTF-8 or a NUL byte caught client side):
//     ErrInvalidData.
//
// An error that is already an ApplicationError is returned as it is.
func bridge(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "22", "23":
			return temporal.NewNonRetryableApplicationError(
				"the database refused the data: "+pgErr.Message+" (SQLSTATE "+pgErr.Code+")", contracts.ErrInvalidData, err)
		case "42", "28", "3D", "3F", "0A":
			return temporal.NewNonRetryableApplicationError(
				"the database is misconfigured: "+pgErr.Message+" (SQLSTATE "+pgErr.Code+")", contracts.ErrMisconfigured, err)
		}
		return err
	}
	msg := err.Error()
	for _, s := range []string{"invalid byte sequence", "invalid UTF-8", "unsupported Unicode escape sequence", "\\u0000"} {
		if strings.Contains(msg, s) {
			return temporal.NewNonRetryableApplicationError("the data cannot be stored: "+msg, contracts.ErrInvalidData, err)
		}
	}
	return err
}
