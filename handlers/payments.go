package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/models/booking"
	"nantian/models/ops"
	"nantian/models/payment"
)

// PaymentsHandler serves WeChat Pay's callbacks, the resident's payment request and
// the staff payment pages.
type PaymentsHandler struct {
	Payments *payment.Service
	Bookings *booking.Bookings
	// Refunds is the staff refund operation (audited).
	Refunds *ops.Bookings
	Loc     *time.Location
}

// maxNotifyBody bounds a callback body; WeChat's are a few KiB.
const maxNotifyBody = 64 << 10

// Pay is POST /bookings/{id}/payment: the payment object again, fresh request.
func (h *PaymentsHandler) Pay(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	info, err := h.Bookings.Payment(c.Request.Context(), Caller(c), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

// Notify is WeChat Pay's payment callback (XML in, XML out).
func (h *PaymentsHandler) Notify(c *gin.Context) {
	h.callback(c, h.Payments.HandlePaidNotify)
}

// RefundNotify is WeChat Pay's refund callback.
func (h *PaymentsHandler) RefundNotify(c *gin.Context) {
	h.callback(c, h.Payments.HandleRefundNotify)
}

// callback reads the body once, hands it to apply, and answers WeChat's XML:
// SUCCESS when applied (now or before), FAIL otherwise (WeChat then retries). The
// reason of a FAIL goes to the log, not to the caller.
func (h *PaymentsHandler) callback(c *gin.Context, apply func(ctx context.Context, body []byte) error) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxNotifyBody+1))
	code, msg := "SUCCESS", "OK"
	switch {
	case h.Payments == nil:
		code, msg = "FAIL", "no merchant"
	case err != nil || len(body) > maxNotifyBody:
		code, msg = "FAIL", "body"
	default:
		if err := apply(c.Request.Context(), body); err != nil {
			code, msg = "FAIL", "not applied"
			if errors.Is(err, payment.ErrBadNotify) {
				msg = "signature"
			}
		}
	}
	c.Data(http.StatusOK, "text/xml; charset=utf-8",
		[]byte("<xml><return_code><![CDATA["+code+"]]></return_code><return_msg><![CDATA["+msg+"]]></return_msg></xml>"))
}

// staffFilter reads ?status=&from=&to=.
func (h *PaymentsHandler) staffFilter(c *gin.Context) (payment.Filter, bool) {
	var f payment.Filter
	f.Status = c.Query("status")
	if !payment.ValidFilterStatus(f.Status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 应为 unpaid、paid、closing、closed、failed、refunding、refunded 或 refund_failed")
		return f, false
	}
	var ok bool
	if f.From, _, ok = parseDay(c, "from"); !ok {
		return f, false
	}
	if f.To, _, ok = parseDay(c, "to"); !ok {
		return f, false
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Time().Before(f.From.Time()) {
		Abort(c, http.StatusBadRequest, "invalid_request", "to: 不能早于 from")
		return f, false
	}
	return f, true
}

// List is GET /staff/payments.
func (h *PaymentsHandler) List(c *gin.Context) {
	f, ok := h.staffFilter(c)
	if !ok {
		return
	}
	if f.Page, ok = ParsePage(c); !ok {
		return
	}
	items, err := h.list(c, f)
	writePage(c, f.Page, items, err, func(v payment.OrderView) int64 { return v.ID })
}

// list is the domain's list, or none without a merchant (no order can exist).
func (h *PaymentsHandler) list(c *gin.Context, f payment.Filter) ([]payment.OrderView, error) {
	if h.Payments == nil {
		return []payment.OrderView{}, nil
	}
	return h.Payments.List(c.Request.Context(), f)
}

// Summary is GET /staff/payments/summary?date=.
func (h *PaymentsHandler) Summary(c *gin.Context) {
	d, given, ok := parseDay(c, "date")
	if !ok {
		return
	}
	if !given {
		d = models.DateOf(time.Now().In(h.Loc))
	}
	if h.Payments == nil { // no merchant: nothing was paid or refunded
		c.JSON(http.StatusOK, payment.Summary{Date: d.String()})
		return
	}
	s, err := h.Payments.DaySummary(c.Request.Context(), d)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

// Refund is POST /staff/bookings/{id}/refund {"reason"}.
func (h *PaymentsHandler) Refund(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in struct {
		Reason string `json:"reason" binding:"required,max=80"`
	}
	if !BindJSON(c, &in) {
		return
	}
	b, err := h.Refunds.Refund(c.Request.Context(), Actor(c), id, strings.TrimSpace(in.Reason))
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

// CSV is GET /staff/payments.csv?status=&from=&to=: every matching order.
func (h *PaymentsHandler) CSV(c *gin.Context) {
	f, ok := h.staffFilter(c)
	if !ok {
		return
	}
	items, err := h.list(c, f)
	if err != nil {
		Fail(c, err)
		return
	}
	var sb strings.Builder
	sb.WriteString("\ufeff")
	w := csv.NewWriter(&sb)
	w.UseCRLF = true
	_ = w.Write([]string{"订单ID", "商户订单号", "微信支付单号", "用户ID", "内容", "金额(元)", "已退款(元)", "状态", "下单时间", "支付时间", "预约ID"})
	for _, v := range items {
		txn, paid := "", ""
		if v.TransactionID != nil {
			txn = *v.TransactionID
		}
		if v.PaidAt != nil {
			paid = v.PaidAt.Format("2006-01-02 15:04:05")
		}
		ids := make([]string, len(v.BookingIDs))
		for i, b := range v.BookingIDs {
			ids[i] = strconv.FormatInt(b, 10)
		}
		_ = w.Write([]string{strconv.FormatInt(v.ID, 10), v.OutTradeNo, txn, strconv.FormatInt(v.UserID, 10), booking.CSVCell(v.Description),
			yuan(v.AmountFen), yuan(v.RefundedFen), v.Status, v.CreatedAt.Format("2006-01-02 15:04:05"), paid, strings.Join(ids, " ")})
	}
	w.Flush()
	c.Header("Content-Disposition", `attachment; filename="payments.csv"`)
	c.Data(http.StatusOK, "text/csv; charset=utf-8", []byte(sb.String()))
}

// yuan writes fen as yuan with two decimals, exactly (no floats).
func yuan(fen int64) string {
	return strconv.FormatInt(fen/100, 10) + "." + strconv.FormatInt(fen%100/10, 10) + strconv.FormatInt(fen%10, 10)
}
