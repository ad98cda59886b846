package payment

import (
	"context"
	"errors"
	"time"

	"nantian/models/booking"
)

// Gateway is everything the payment domain needs from a payment provider. The
// server wires in wechat/pay (WeChat Pay API v2); an API v3 client, or a fake in a
// test, only has to implement these methods. The domain never imports an adapter.
//
// Amounts are integer fen. Every method takes a context so a slow provider never
// holds a booking transaction: the domain calls the gateway outside transactions.
type Gateway interface {
	// CreateOrder opens an order at the provider (WeChat: unified order with
	// time_expire) and returns the prepay id. A failure means nothing was opened
	// that can take money after ExpiresAt.
	CreateOrder(ctx context.Context, o OrderRequest) (prepayID string, err error)
	// PayRequest signs the parameters the mini-program passes to wx.requestPayment
	// for a prepay id. It does no I/O.
	PayRequest(prepayID string) PayRequest
	// QueryOrder asks the provider what became of an order. ErrOrderNotFound when
	// the provider never saw it.
	QueryOrder(ctx context.Context, outTradeNo string) (OrderState, error)
	// CloseOrder stops the provider taking money for an unpaid order. An order that
	// was paid meanwhile answers ErrOrderPaid; an already closed one is not an error.
	CloseOrder(ctx context.Context, outTradeNo string) error
	// Refund asks the provider to refund (with the merchant certificate). Repeating
	// the same OutRefundNo is safe: the provider answers for the first request.
	Refund(ctx context.Context, r RefundRequest) (RefundAccepted, error)
	// ParsePaidNotify verifies a payment notification (the raw body, every field)
	// and returns what it says. ErrBadNotify when it does not verify.
	ParsePaidNotify(body []byte) (PaidNotice, error)
	// ParseRefundNotify decrypts and checks a refund notification.
	ParseRefundNotify(body []byte) (RefundNotice, error)
}

// OrderRequest is an order to open. The amount comes from the program, never from
// the client.
type OrderRequest struct {
	OutTradeNo string
	TotalFen   int64
	Body       string // shown on the resident's receipt, ≤ 127 bytes
	OpenID     string
	ClientIP   string
	ExpiresAt  time.Time // the provider refuses payment after this
}

// PayRequest is passed as is to wx.requestPayment (the booking's payment.request).
type PayRequest = booking.PayRequest

// Trade states as WeChat Pay names them (trade_state of an order query).
const (
	TradeSuccess  = "SUCCESS"
	TradeNotPay   = "NOTPAY"
	TradeClosed   = "CLOSED"
	TradeRefund   = "REFUND"
	TradeRevoked  = "REVOKED"
	TradePaying   = "USERPAYING"
	TradePayError = "PAYERROR"
)

// OrderState is what the provider says about an order.
type OrderState struct {
	OutTradeNo    string
	TradeState    string // one of the Trade* constants
	TransactionID string // set once paid
	TotalFen      int64
	CashFen       int64
	MchID         string
	PaidAt        time.Time
}

// PaidNotice is a verified payment notification.
type PaidNotice struct {
	OutTradeNo    string
	TransactionID string
	MchID         string
	AppID         string
	OpenID        string
	TotalFen      int64 // the order's amount; cash_fee may be lower when a coupon paid part
	CashFen       int64
	Success       bool // result_code SUCCESS
	PaidAt        time.Time
}

// RefundRequest asks for a refund of part or all of a paid order.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string
	TotalFen    int64
	RefundFen   int64
	Reason      string
}

// RefundAccepted is the provider's acceptance of a refund request; the money moves
// later and is confirmed by the refund notification (or a query).
type RefundAccepted struct {
	RefundID string
}

// RefundNotice is a decrypted refund notification.
type RefundNotice struct {
	MchID       string
	OutTradeNo  string
	OutRefundNo string
	RefundID    string
	TotalFen    int64
	RefundFen   int64
	Status      string // SUCCESS, CHANGE (failed, needs manual handling), REFUNDCLOSE
	SuccessAt   time.Time
}

// Gateway errors. Adapters wrap these so the domain can tell a provider that is
// down (retry later, hold nothing) from one that said no.
var (
	// ErrUnavailable: the provider could not be reached or answered garbage.
	ErrUnavailable = errors.New("payment provider unavailable")
	// ErrOrderNotFound: the provider has no such order.
	ErrOrderNotFound = errors.New("payment order not found at provider")
	// ErrOrderPaid: a close found the order already paid.
	ErrOrderPaid = errors.New("payment order already paid")
	// ErrBadNotify: a notification failed its signature or decryption check.
	ErrBadNotify = errors.New("payment notification does not verify")
	// ErrRefused: the provider refused the request (business error: wrong amount,
	// not enough balance, ...). The message carries its code.
	ErrRefused = errors.New("payment provider refused")
)
