package api

import (
	"encoding/base64"
	"slices"
	"strconv"
	"time"

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

// queryOpt returns a query parameter's value, nil when it is absent or empty.
func queryOpt(c *gin.Context, name string) *string {
	if v := c.Query(name); v != "" {
		return &v
	}
	return nil
}

// queryTime reads an optional RFC 3339 query parameter (a list's date bound), refusing
// anything else and years outside minYear..maxYear with a 400 naming it.
func queryTime(c *gin.Context, name string) (*time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || t.Year() < minYear || t.Year() > maxYear {
		return nil, apperr.InvalidParam(name, "parameter_invalid", name+" must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z")
	}
	t = t.UTC()
	return &t, nil
}
