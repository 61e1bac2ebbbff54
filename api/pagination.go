package api

import (
	"encoding/base64"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
)

// List is the envelope of every list response.
type List[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// page reads ?limit= (1..100, default 20) and ?cursor= (opaque, from next_cursor).
func page(c *gin.Context) (limit int32, before *int64, err error) {
	limit = 20
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, nil, apperr.InvalidParam("limit", "parameter_invalid", "limit must be an integer from 1 to 100")
		}
		limit = int32(n)
	}
	if v := c.Query("cursor"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return 0, nil, apperr.InvalidParam("cursor", "parameter_invalid", "cursor is not one this API returned")
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return 0, nil, apperr.InvalidParam("cursor", "parameter_invalid", "cursor is not one this API returned")
		}
		before = &n
	}
	return limit, before, nil
}

// listPage is page for a list route: it also refuses any query parameter other than limit,
// cursor and the route's filters, so a misspelt or unsupported filter (?status= where there
// is none) is a 400 naming it rather than a list of everything.
func listPage(c *gin.Context, filters ...string) (limit int32, before *int64, err error) {
	for k := range c.Request.URL.Query() {
		if k != "limit" && k != "cursor" && !slices.Contains(filters, k) {
			return 0, nil, apperr.InvalidParam(k, "parameter_unknown", "unknown query parameter "+strconv.Quote(k))
		}
	}
	return page(c)
}

// cursor encodes a next-page position, nil at the end.
func cursor(seq *int64) *string {
	if seq == nil {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(*seq, 10)))
	return &s
}

// list wraps items in the list envelope, never with a null data array.
func list[T any](items []T, next *int64) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{Data: items, NextCursor: cursor(next)}
}
