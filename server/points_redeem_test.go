package main

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/points"
)

// 12 concurrent redemptions with points for 3: exactly 3 succeed, checked in MySQL
// (balance, stock, redemption rows, ledger); the rest are 409 insufficient_points.
func TestRedemptionRaceNeverOverdraws(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, resID := a.resident("alice")
	reward := a.newReward(staffTok, 10, 100)
	a.grant(staffTok, resID, 35) // enough for 3, not 4

	const n = 12
	var wg sync.WaitGroup
	statuses := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = a.do("POST", "/api/v1/redemptions", resTok, map[string]any{"reward_id": reward})
		}()
	}
	wg.Wait()
	created := 0
	for _, r := range statuses {
		switch {
		case r.Status == http.StatusCreated:
			created++
		case r.Status == http.StatusConflict && r.ErrorCode() == "insufficient_points":
		default:
			t.Fatalf("unexpected %d %s", r.Status, r.Body)
		}
	}
	if rows := a.count(`SELECT COUNT(*) FROM redemptions WHERE user_id = ?`, resID); rows != 3 || created != 3 {
		t.Fatalf("%d redemptions in MySQL (%d 201s), want 3", rows, created)
	}
	if bal := a.balance(resID); bal != 5 {
		t.Fatalf("balance %d, want 5", bal)
	}
	if stock := a.count(`SELECT stock FROM rewards WHERE id = ?`, reward); stock != 97 {
		t.Fatalf("stock %d, want 97", stock)
	}
	if e := a.count(`SELECT COUNT(*) FROM points_ledger WHERE user_id = ? AND kind = 'redeem'`, resID); e != 3 {
		t.Fatalf("%d redeem entries", e)
	}
	// Each redemption announced "ready for pickup" through the outbox, in its transaction.
	if o := a.count(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND template_key = ?`, resID, models.TemplateRedemptionReady); o != 3 {
		t.Fatalf("%d outbox rows, want 3", o)
	}
}

// 200 concurrent redemptions by 4 residents with plenty of points for a reward
// with stock 5: exactly 5 are made, stock ends at 0, nobody is charged for a
// refused one.
func TestRedemptionRaceNeverOversells(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	reward := a.newReward(staffTok, 1, 5)
	type res struct {
		tok string
		id  int64
	}
	var people []res
	for i := range 4 {
		tok, id := a.resident("r" + strconv.Itoa(i))
		a.grant(staffTok, id, 1000)
		people = append(people, res{tok, id})
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("POST", "/api/v1/redemptions", people[i%4].tok, map[string]any{"reward_id": reward})
			if r.Status != http.StatusCreated && !(r.Status == http.StatusConflict && r.ErrorCode() == "out_of_stock") {
				t.Errorf("unexpected %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if n := a.count(`SELECT COUNT(*) FROM redemptions WHERE reward_id = ?`, reward); n != 5 {
		t.Fatalf("%d redemptions, want 5", n)
	}
	if s := a.count(`SELECT stock FROM rewards WHERE id = ?`, reward); s != 0 {
		t.Fatalf("stock %d", s)
	}
	spent := 0
	for _, p := range people {
		spent += 1000 - a.balance(p.id)
	}
	if spent != 5 {
		t.Fatalf("%d points spent, want 5", spent)
	}
}

func TestRedemptionPickup(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, resID := a.resident("alice")
	otherTok, _ := a.resident("eve")
	reward := a.newReward(staffTok, 20, 1)
	a.grant(staffTok, resID, 100)

	if r := a.do("POST", "/api/v1/redemptions", resTok, map[string]any{"reward_id": 99999999}); r.Status != 404 {
		t.Fatalf("unknown reward: %d", r.Status)
	}
	if r := a.do("POST", "/api/v1/redemptions", resTok, map[string]any{}); r.Status != 400 {
		t.Fatalf("no reward_id: %d", r.Status)
	}
	if r := a.do("POST", "/api/v1/redemptions", otherTok, map[string]any{"reward_id": reward}); r.Status != 409 || r.ErrorCode() != "insufficient_points" {
		t.Fatalf("no points: %d %s", r.Status, r.Body)
	}
	r := a.do("POST", "/api/v1/redemptions", resTok, map[string]any{"reward_id": reward, "status": "fulfilled", "user_id": 1})
	if r.Status != http.StatusCreated {
		t.Fatalf("redeem: %d %s", r.Status, r.Body)
	}
	var red points.Redemption
	r.Decode(t, &red)
	if red.Status != "pending" || len(red.PickupCode) != 8 || red.UserID != resID {
		t.Fatalf("redemption %+v", red)
	}
	if r := a.do("POST", "/api/v1/redemptions", resTok, map[string]any{"reward_id": reward}); r.Status != 409 || r.ErrorCode() != "out_of_stock" {
		t.Fatalf("second with stock 1: %d %s", r.Status, r.Body)
	}
	if bal := a.balance(resID); bal != 80 {
		t.Fatalf("balance %d", bal)
	}
	// Inactive rewards cannot be redeemed and are not listed.
	r2 := a.newReward(staffTok, 1, 10)
	if r := a.do("PATCH", "/api/v1/staff/rewards/"+strconv.FormatInt(r2, 10), staffTok, map[string]any{"active": false}); r.Status != 200 {
		t.Fatalf("deactivate: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/redemptions", resTok, map[string]any{"reward_id": r2}); r.Status != 404 {
		t.Fatalf("inactive reward: %d", r.Status)
	}
	// My redemptions; another resident sees none.
	var list struct {
		Items []points.Redemption `json:"items"`
	}
	a.do("GET", "/api/v1/redemptions", resTok, nil).Decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != red.ID {
		t.Fatalf("my redemptions: %+v", list.Items)
	}
	a.do("GET", "/api/v1/redemptions", otherTok, nil).Decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("other resident sees: %+v", list.Items)
	}
	// Residents cannot fulfil; staff fulfil by code once.
	path := "/api/v1/staff/redemptions/" + red.PickupCode + "/fulfil"
	if r := a.do("POST", path, resTok, nil); r.Status != 403 {
		t.Fatalf("resident fulfil: %d", r.Status)
	}
	if r := a.do("POST", "/api/v1/staff/redemptions/ZZZZZZZZ/fulfil", staffTok, nil); r.Status != 404 {
		t.Fatalf("unknown code: %d", r.Status)
	}
	if r := a.do("POST", path, staffTok, nil); r.Status != 200 || r.JSON(t)["status"] != "fulfilled" {
		t.Fatalf("fulfil: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", path, staffTok, nil); r.Status != 409 || r.ErrorCode() != "invalid_transition" {
		t.Fatalf("fulfil twice: %d %s", r.Status, r.Body)
	}
	// Rewards: staff see inactive ones, residents only active ones.
	var rl struct {
		Items []points.Reward `json:"items"`
	}
	a.do("GET", "/api/v1/rewards?limit=100", resTok, nil).Decode(t, &rl)
	for _, x := range rl.Items {
		if !x.Active {
			t.Fatalf("resident sees inactive reward %+v", x)
		}
	}
	if r := a.do("PATCH", "/api/v1/staff/rewards/"+strconv.FormatInt(r2, 10), staffTok, map[string]any{"stock": -1}); r.Status != 400 {
		t.Fatalf("negative stock: %d", r.Status)
	}
	if r := a.do("POST", "/api/v1/staff/rewards", staffTok, map[string]any{"name": "x", "cost_points": 0}); r.Status != 400 {
		t.Fatalf("zero cost: %d", r.Status)
	}
}

// Unclaimed after the pickup window: the job cancels, refunds and restocks, once,
// even with several instances running it at the same moment; a later fulfil is 409.
func TestUnclaimedRedemptionCancelled(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, resID := a.resident("alice")
	reward := a.newReward(staffTok, 30, 10)
	a.grant(staffTok, resID, 100)
	r := a.do("POST", "/api/v1/redemptions", resTok, map[string]any{"reward_id": reward})
	if r.Status != 201 {
		t.Fatalf("redeem: %d %s", r.Status, r.Body)
	}
	var red points.Redemption
	r.Decode(t, &red)
	ctx := context.Background()

	// 29 days later nothing happens.
	if n, err := a.app.pts.points.WithClock(fixedClock(time.Now().Add(29 * 24 * time.Hour))).CancelUnclaimed(ctx); err != nil || n != 0 {
		t.Fatalf("early cancel: %d %v", n, err)
	}
	// 31 days later, four instances at once.
	later := a.app.pts.points.WithClock(fixedClock(time.Now().Add(31 * 24 * time.Hour)))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := later.CancelUnclaimed(ctx); err != nil {
				t.Errorf("cancel job: %v", err)
			}
		}()
	}
	wg.Wait()
	if s := a.count(`SELECT COUNT(*) FROM redemptions WHERE id = ? AND status = 'cancelled'`, red.ID); s != 1 {
		t.Fatalf("not cancelled")
	}
	if n := a.count(`SELECT COUNT(*) FROM points_ledger WHERE user_id = ? AND kind = 'refund' AND source_id = ?`, resID, red.ID); n != 1 {
		t.Fatalf("%d refunds", n)
	}
	if bal := a.balance(resID); bal != 100 {
		t.Fatalf("balance %d after refund", bal)
	}
	if s := a.count(`SELECT stock FROM rewards WHERE id = ?`, reward); s != 10 {
		t.Fatalf("stock %d after cancel", s)
	}
	if r := a.do("POST", "/api/v1/staff/redemptions/"+red.PickupCode+"/fulfil", staffTok, nil); r.Status != 409 {
		t.Fatalf("fulfil cancelled: %d", r.Status)
	}
}

// Expiry on a known ledger, oldest first, with an injected clock. Years 2041-2043
// so no other test's (or the annual report's) data shares them.
//
//	2041-03-10 earn 10, 2041-11-20 earn 5, 2042-02-01 earn 7, 2042-06-01 redeem 12
//	end of 2042: the 2041 lots (15) minus what was spent (12) → expire 3, balance 7
//	2043-03-01 earn 4; end of 2043: the 2042 lot (7) is all left → expire 7, balance 4
func TestPointsExpiryOldestFirst(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	_, resID := a.resident("alice")
	devID, _ := a.newDevice(staffTok, "百花园一期")
	reward := a.newReward(staffTok, 12, 10)
	loc := mustLoc(t, "Asia/Shanghai")
	ctx := context.Background()
	at := func(y, m, d int) *points.Points {
		return a.app.pts.points.WithClock(fixedClock(time.Date(y, time.Month(m), d, 10, 0, 0, 0, loc)))
	}
	earn := func(p *points.Points, grams int64) {
		t.Helper()
		if _, err := p.RecordDeposit(ctx, points.Authenticated{ID: devID, Estate: "百花园一期"}, points.DepositInput{
			EventID: randomID("x-"), ResidentToken: p.IssueCode(resID).Token, WeightGrams: &grams, Quality: "ok", OccurredAt: p.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	earn(at(2041, 3, 10), 1000)
	earn(at(2041, 11, 20), 500)
	earn(at(2042, 2, 1), 700)
	// Running the job during 2042 expires nothing (the 2041 lots live to the end of 2042).
	// (The job handles every account in the shared test database; only this
	// resident's entries are asserted.)
	if _, err := at(2042, 12, 31).ExpirePoints(ctx); err != nil {
		t.Fatal(err)
	}
	if n := a.count(`SELECT COUNT(*) FROM points_ledger WHERE user_id = ? AND kind = 'expire'`, resID); n != 0 {
		t.Fatalf("expired before the year end: %d entries", n)
	}
	if _, err := at(2042, 6, 1).Redeem(ctx, resID, reward); err != nil {
		t.Fatal(err)
	}
	// Just after midnight local on 1 Jan 2043, four instances at once.
	newYear := a.app.pts.points.WithClock(fixedClock(time.Date(2043, 1, 1, 0, 0, 1, 0, loc)))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := newYear.ExpirePoints(ctx); err != nil {
				t.Errorf("expire: %v", err)
			}
		}()
	}
	wg.Wait()
	expired := func() []int {
		rows, err := a.app.db.Query(`SELECT amount FROM points_ledger WHERE user_id = ? AND kind = 'expire' ORDER BY id`, resID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var v int
			_ = rows.Scan(&v)
			out = append(out, v)
		}
		return out
	}
	if got := expired(); len(got) != 1 || got[0] != -3 {
		t.Fatalf("expiry entries %v, want [-3]", got)
	}
	if bal := a.balance(resID); bal != 7 {
		t.Fatalf("balance %d, want 7", bal)
	}
	// Running again the same year changes nothing.
	if _, err := at(2043, 2, 1).ExpirePoints(ctx); err != nil {
		t.Fatal(err)
	}
	earn(at(2043, 3, 1), 400)
	if _, err := at(2044, 1, 2).ExpirePoints(ctx); err != nil {
		t.Fatal(err)
	}
	if got := expired(); len(got) != 2 || got[1] != -7 {
		t.Fatalf("expiry entries %v, want [-3 -7]", got)
	}
	if bal := a.balance(resID); bal != 4 {
		t.Fatalf("balance %d, want 4 (the 2043 lot)", bal)
	}
	var exp time.Time
	if err := a.app.db.QueryRow(`SELECT expires_at FROM points_ledger WHERE user_id = ? AND kind = 'earn' ORDER BY id LIMIT 1`, resID).Scan(&exp); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2043, 1, 1, 0, 0, 0, 0, loc); !exp.Equal(want) {
		t.Fatalf("2041 points expire at %v, want %v", exp, want)
	}
}

// TestRedemptionIdempotencyKey: a retried redemption with the same key returns the
// first answer and spends once; a different body under the key is refused.
func TestRedemptionIdempotencyKey(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("idem-staff")
	tok, uid := a.resident("idem-res")
	a.grant(staffTok, uid, 10)
	reward := a.newReward(staffTok, 3, 50)
	other := a.newReward(staffTok, 3, 50)
	key := "redeem-" + uniqueName(t, "k")
	first := a.do("POST", "/api/v1/redemptions", tok, map[string]any{"reward_id": reward}, "Idempotency-Key", key)
	if first.Status != http.StatusCreated {
		t.Fatalf("redeem: %d %s", first.Status, first.Body)
	}
	again := a.do("POST", "/api/v1/redemptions", tok, map[string]any{"reward_id": reward}, "Idempotency-Key", key)
	if again.Status != http.StatusCreated || string(again.Body) != string(first.Body) {
		t.Fatalf("replay: %d %s (first %s)", again.Status, again.Body, first.Body)
	}
	if r := a.do("POST", "/api/v1/redemptions", tok, map[string]any{"reward_id": other}, "Idempotency-Key", key); r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", r.Status, r.Body)
	}
	if n := a.count(`SELECT COUNT(*) FROM redemptions WHERE user_id = ?`, uid); n != 1 {
		t.Fatalf("%d redemptions", n)
	}
	if b := a.balance(uid); b != 7 {
		t.Fatalf("balance %d, want 7", b)
	}
}
