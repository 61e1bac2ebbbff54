package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/documents/pdf"
	"payorch/ledger"
)

// documentRoutes serves the documents: invoice PDFs, receipts of paid loads and credit
// notes of free loads, as JSON and PDF (backend and support keys).
func (s *Server) documentRoutes() {
	s.get("/v1/invoices/:id/pdf", anyRole, s.invoicePDF)
	s.get("/v1/receipts", anyRole, s.listReceipts)
	s.get("/v1/receipts/:id", anyRole, s.getReceipt)
	s.get("/v1/receipts/:id/pdf", anyRole, s.receiptPDF)
	s.get("/v1/credit-notes", anyRole, s.listCreditNotes)
	s.get("/v1/credit-notes/:id", anyRole, s.getCreditNote)
	s.get("/v1/credit-notes/:id/pdf", anyRole, s.creditNotePDF)
}

// sendPDF answers a rendered document as an attachment named by its number.
func (s *Server) sendPDF(c *gin.Context, f pdf.File, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	// The name is a document number (letters, digits, hyphens): safe inside the quotes.
	c.Header("Content-Disposition", `attachment; filename="`+f.Name+`"`)
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, "application/pdf", f.Bytes)
}

func (s *Server) invoicePDF(c *gin.Context) {
	f, err := s.docs.Invoice(c.Request.Context(), c.Param("id"), nil)
	s.sendPDF(c, f, err)
}

func (s *Server) receiptPDF(c *gin.Context) {
	f, err := s.docs.Receipt(c.Request.Context(), c.Param("id"), nil)
	s.sendPDF(c, f, err)
}

func (s *Server) creditNotePDF(c *gin.Context) {
	f, err := s.docs.CreditNote(c.Request.Context(), c.Param("id"), nil)
	s.sendPDF(c, f, err)
}

// documentListParams reads ?customer_id=, ?limit= and ?cursor=.
func documentListParams(c *gin.Context) (ledger.DocumentListParams, error) {
	limit, before, err := page(c)
	if err != nil {
		return ledger.DocumentListParams{}, err
	}
	p := ledger.DocumentListParams{Limit: limit, BeforeSeq: before}
	if v, ok := c.GetQuery("customer_id"); ok {
		if v == "" {
			return p, apperr.InvalidParam("customer_id", "parameter_invalid", "customer_id must not be empty")
		}
		p.CustomerID = &v
	}
	return p, nil
}

func (s *Server) listReceipts(c *gin.Context) {
	p, err := documentListParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.ledger.ListReceipts(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

func (s *Server) getReceipt(c *gin.Context) {
	out, err := s.ledger.GetReceipt(c.Request.Context(), c.Param("id"), nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listCreditNotes(c *gin.Context) {
	p, err := documentListParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.ledger.ListCreditNotes(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

func (s *Server) getCreditNote(c *gin.Context) {
	out, err := s.ledger.GetCreditNote(c.Request.Context(), c.Param("id"), nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
