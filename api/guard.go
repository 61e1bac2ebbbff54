package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
)

// guardedHeaders are the request headers the API reads; they must be clean text.
var guardedHeaders = []string{"Authorization", "Idempotency-Key", "X-Request-Id"}

// Dates a request may carry lie within these years; anything else is a typing error (0000,
// 9999) that would otherwise be stored, scheduled or compared as if it were meant. Every
// RFC 3339 timestamp in a body is checked, at any depth, so no date field can forget it.
const (
	minYear = 2000
	maxYear = 2100
)

// guard keeps poison out of every route, before anything reads or writes: the headers the
// API reads, path parameters, query values and every string of a JSON body (keys too, at any
// depth) must be valid UTF-8 without NUL bytes (PostgreSQL text cannot hold NUL, and a value
// that cannot be stored must be refused here, not retried by a workflow); path ids must not
// be blank, nor ids (id, …_id) in a query or body; dates must lie between minYear and
// maxYear; a body on /v1/ must be declared application/json (415 otherwise). A refused request is a
// typed 400 naming the parameter, and nothing is written: the guard runs before the
// Idempotency-Key is claimed.
func (s *Server) guard(c *gin.Context) {
	err := guardRequest(c)
	switch {
	case err == errUnsupportedMediaType:
		c.AbortWithStatusJSON(http.StatusUnsupportedMediaType, ErrorBody{Error: ErrorDetail{
			Type: string(err.Kind), Code: err.Code, Message: err.Message}})
	case err != nil:
		s.fail(c, err)
	default:
		c.Next()
	}
}

func guardRequest(c *gin.Context) *apperr.Error {
	for _, h := range guardedHeaders {
		for _, v := range c.Request.Header.Values(h) {
			if !cleanText(v) || hasControl(v) {
				return apperr.InvalidParam(h, "parameter_invalid", h+" must be printable UTF-8 text")
			}
			if h == "Idempotency-Key" && blank(v) {
				return apperr.InvalidParam(h, "parameter_invalid", h+" must not be blank")
			}
		}
	}
	for _, p := range c.Params {
		if !cleanText(p.Value) || hasControl(p.Value) {
			return apperr.InvalidParam(p.Key, "parameter_invalid", p.Key+" must be printable UTF-8 text without NUL bytes")
		}
		if strings.TrimSpace(p.Value) == "" {
			return apperr.InvalidParam(p.Key, "parameter_invalid", p.Key+" must not be blank")
		}
	}
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		return apperr.InvalidParam("", "query_invalid", "the query string is malformed: "+err.Error())
	}
	if err := checkValues(q); err != nil {
		return err
	}
	return guardBody(c)
}

// checkValues checks query (or form) parameters: clean text, and ids (…_id) not blank.
func checkValues(q url.Values) *apperr.Error {
	for k, vs := range q {
		if !cleanText(k) {
			return apperr.InvalidParam(printable(k), "parameter_invalid", "parameter names must be UTF-8 text without NUL bytes")
		}
		for _, v := range vs {
			if !cleanText(v) {
				return apperr.InvalidParam(k, "parameter_invalid", k+" must be UTF-8 text without NUL bytes")
			}
			if err := checkID(k, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkID refuses a blank id: a parameter named id or …_id whose value is only white space
// (an empty one means "absent" and is left to the handler).
func checkID(name, param, v string) *apperr.Error {
	if (name == "id" || strings.HasSuffix(name, "_id")) && blank(v) {
		return apperr.InvalidParam(param, "parameter_invalid", param+" must not be blank")
	}
	return nil
}

// blank reports whether s is non-empty white space.
func blank(s string) bool { return s != "" && strings.TrimSpace(s) == "" }

// guardBody reads the body (bounded by limitBody), checks its media type and its strings,
// and puts it back for the handler.
func guardBody(c *gin.Context) *apperr.Error {
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		return nil
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		e, _ := apperr.As(decodeError(err))
		return e
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(raw))
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	ct := c.GetHeader("Content-Type")
	switch {
	case jsonMediaType(ct):
		if bytes.IndexByte(raw, 0) >= 0 {
			return apperr.InvalidParam("", "body_invalid", "the body must not contain NUL bytes")
		}
		return checkJSONText(raw)
	case strings.HasPrefix(c.Request.URL.Path, "/v1/"):
		// The JSON API takes JSON only.
		return errUnsupportedMediaType
	case isForm(ct):
		// A server-rendered page's form (outside /v1/): the same text rules.
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return apperr.InvalidParam("", "body_invalid", "the form is malformed")
		}
		return checkValues(form)
	}
	return nil
}

// isForm reports whether a Content-Type declares an URL-encoded form.
func isForm(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// errUnsupportedMediaType is the 415 of a body that is not declared as JSON.
var errUnsupportedMediaType = apperr.New(apperr.Invalid, "unsupported_media_type",
	"send the body as JSON with Content-Type: application/json")

// jsonMediaType reports whether a Content-Type declares JSON (application/json, with an
// optional charset=utf-8).
func jsonMediaType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// checkJSONText walks a JSON document's tokens and refuses a NUL byte (raw or \u0000) or
// invalid UTF-8 in any key or string value, naming where it is (lines[0].description). A
// document that is not valid JSON is left to the handler's decoding, which says so.
func checkJSONText(raw []byte) *apperr.Error {
	bad := -1 // offset of the first invalid UTF-8 byte
	if !utf8.Valid(raw) {
		for i := 0; i < len(raw); {
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				bad = i
				break
			}
			i += n
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	w := jsonWalker{}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		param := w.param()
		if s, ok := tok.(string); ok && w.isKey() {
			param = w.keyParam(s)
		}
		if bad >= 0 && dec.InputOffset() > int64(bad) {
			return apperr.InvalidParam(printable(param), "parameter_invalid", "the body is not valid UTF-8 text")
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return apperr.InvalidParam(printable(param), "parameter_invalid", "text must not contain NUL bytes")
		}
		if s, ok := tok.(string); ok && !w.isKey() {
			if err := checkDate(param, s); err != nil {
				return err
			}
			if err := checkID(w.lastKey(), printable(param), s); err != nil {
				return err
			}
		}
		w.next(tok)
	}
	if bad >= 0 {
		return apperr.InvalidParam("", "body_invalid", "the body is not valid UTF-8 text")
	}
	return nil
}

// checkDate refuses a string value that is an RFC 3339 timestamp (every date a body
// carries is one, whatever its field) with a year outside minYear..maxYear.
func checkDate(param, s string) *apperr.Error {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	if y := t.UTC().Year(); y < minYear || y > maxYear {
		return apperr.InvalidParam(param, "parameter_invalid",
			fmt.Sprintf("%s must be a date between the years %d and %d", param, minYear, maxYear))
	}
	return nil
}

// jsonWalker follows the position of json.Decoder tokens: a stack of objects (awaiting a
// key, or the value of key) and arrays (at index).
type jsonWalker struct {
	stack []jsonLevel
}

type jsonLevel struct {
	array  bool
	index  int
	key    string
	hasKey bool
}

// isKey reports whether the next string token is an object key.
func (w *jsonWalker) isKey() bool {
	n := len(w.stack)
	return n > 0 && !w.stack[n-1].array && !w.stack[n-1].hasKey
}

// param names the position of the next value: a.b[2].c.
func (w *jsonWalker) param() string {
	var b strings.Builder
	for _, l := range w.stack {
		switch {
		case l.array:
			b.WriteString("[" + strconv.Itoa(l.index) + "]")
		case l.hasKey:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(l.key)
		}
	}
	return b.String()
}

// lastKey is the key whose value is read next ("" inside an array).
func (w *jsonWalker) lastKey() string {
	if n := len(w.stack); n > 0 && w.stack[n-1].hasKey {
		return w.stack[n-1].key
	}
	return ""
}

// keyParam names an object key about to be read.
func (w *jsonWalker) keyParam(key string) string {
	p := w.param()
	if p != "" {
		return p + "." + key
	}
	return key
}

// next advances past tok.
func (w *jsonWalker) next(tok json.Token) {
	n := len(w.stack)
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			w.stack = append(w.stack, jsonLevel{})
		case '[':
			w.stack = append(w.stack, jsonLevel{array: true})
		default:
			w.stack = w.stack[:n-1]
			w.valueDone()
		}
	default:
		if w.isKey() {
			w.stack[n-1].key, w.stack[n-1].hasKey = t.(string), true
			return
		}
		w.valueDone()
	}
}

// valueDone moves past a complete value in the enclosing container.
func (w *jsonWalker) valueDone() {
	n := len(w.stack)
	if n == 0 {
		return
	}
	if w.stack[n-1].array {
		w.stack[n-1].index++
	} else {
		w.stack[n-1].key, w.stack[n-1].hasKey = "", false
	}
}

// cleanText reports whether s is valid UTF-8 without NUL bytes.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// hasControl reports whether s has a control character (ids and header values never do).
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// printable makes a parameter name safe to echo in an error body.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}
