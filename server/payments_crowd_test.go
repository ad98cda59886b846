package main

import (
	"fmt"
	"testing"

	"nantian/models"
)

func principal(userID int64) models.Principal {
	return models.Principal{UserID: userID, Role: models.RoleResident}
}

// 500 residents on 20 paid places, every one asking for the waiting list when
// full: 20 awaiting payment, none oversold; half never pay, and after the timeout
// their places go to the first ten in line, who pay. The money check at the end:
// sum(paid) − sum(refunded) in the ledger = the fees of the confirmed bookings.
func TestPaymentFlashCrowd(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("crowd-staff")
	const places, fee = 20, 5000
	_, sid := a.paidSession(staffTok, places, fee, false)
	toks, _ := a.quickResidents(500)
	tally := a.crowd([]string{a.URL}, toks, func(int) any { return map[string]any{"session_id": sid, "waitlist": true} })
	if tally["201"] != 500 {
		t.Fatalf("tally %v", tally)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'awaiting_payment'`, sid); n != places {
		t.Fatalf("%d awaiting payment, want %d", n, places)
	}
	if n := a.holding(sid); n != places {
		t.Fatalf("%d places held", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'waitlisted'`, sid); n != 500-places {
		t.Fatalf("%d waitlisted", n)
	}
	if n := a.fake.Calls("/pay/unifiedorder"); n != places {
		t.Fatalf("%d orders at WeChat, want %d", n, places)
	}

	// Half pay, half never do.
	orders := a.orderIDs(`SELECT DISTINCT order_id FROM bookings WHERE session_id = ? AND status = 'awaiting_payment' ORDER BY order_id`, sid)
	for _, o := range orders[:places/2] {
		a.pay(o)
	}
	for _, o := range orders[places/2:] {
		a.expireNow(o)
	}
	a.eventually("expiry and promotion", func() bool {
		return a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'expired'`, sid) == places/2 &&
			a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'confirmed'`, sid) == places/2
	})
	for _, o := range orders[places/2:] {
		if st, _ := a.fake.Order(a.tradeNo(o)); st.State != "CLOSED" {
			t.Fatalf("expired order %d is %s at WeChat", o, st.State)
		}
	}
	// The first ten in line now hold the freed places and are asked to pay.
	promoted := a.orderIDs(`SELECT id FROM bookings WHERE session_id = ? AND status = 'awaiting_payment' ORDER BY id`, sid)
	first := a.orderIDs(`SELECT id FROM bookings WHERE session_id = ? AND status IN ('awaiting_payment', 'waitlisted') ORDER BY id LIMIT 10`, sid)
	if fmt.Sprint(promoted) != fmt.Sprint(first) {
		t.Fatalf("promoted %v, want the first in line %v", promoted, first)
	}
	if n := a.holding(sid); n != places {
		t.Fatalf("%d places held after expiry", n)
	}
	for _, id := range promoted {
		var owner int64
		if err := a.app.db.QueryRow(`SELECT user_id FROM bookings WHERE id = ?`, id).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		info, err := a.app.bookings.engine.Payment(t.Context(), principal(owner), id)
		if err != nil {
			t.Fatalf("payment for promoted %d: %v", id, err)
		}
		a.pay(info.OrderID)
	}
	a.eventually("promoted paid", func() bool {
		return a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'confirmed' AND payment_status = 'paid'`, sid) == places
	})
	a.fake.Wait()
	if n := a.holding(sid); n != places {
		t.Fatalf("oversold: %d", n)
	}
	paid, refunded := a.money(sid)
	confirmedFees := a.sqlInt(`SELECT COALESCE(SUM(fee_fen), 0) FROM bookings WHERE session_id = ? AND status = 'confirmed'`, sid)
	if paid-refunded != confirmedFees || confirmedFees != places*fee {
		t.Fatalf("money: paid %d − refunded %d ≠ confirmed fees %d", paid, refunded, confirmedFees)
	}
}

func (a *payApp) orderIDs(q string, args ...any) []int64 {
	a.t.Helper()
	rows, err := a.app.db.Query(q, args...)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}
