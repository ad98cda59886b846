package report_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/points"
	"nantian/models/report"
	"nantian/models/testdb"
)

// TestRollupsEqualRecords drives bookings, payments, imports, sessions,
// complaints and deposits through random inserts, edits and deletes in SQL (so
// only the triggers of migration 0028 keep the rollups), including the changes
// that break a naive rollup: a booking checked in and then cancelled, paid later
// than it was made, paid twice, partly refunded, moved to another session; a
// session cancelled and restored, moved across a year end or to another
// program; an import corrected and deleted; a complaint resolved, reopened,
// recategorised; a walk-in's deposits moved to another resident. Then the annual
// report and the deposit statistics from the rollups must equal the same figures
// computed from the raw tables, for several years and ranges.
func TestRollupsEqualRecords(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateMigrated(ctx, models.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	db, err := models.OpenDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 28))
	g := &gen{t: t, ctx: ctx, db: db, r: r, loc: loc}
	// "now" is mid-afternoon on 2024-10-15: sessions of that day have partly ended.
	now := time.Date(2024, 10, 15, 15, 0, 0, 0, loc)

	g.base()
	for range 1500 {
		g.step()
	}
	var bookings, sessions, deposits int
	_ = db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM bookings), (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM bin_deposits)`).
		Scan(&bookings, &sessions, &deposits)
	t.Logf("%d bookings, %d sessions, %d deposits", bookings, sessions, deposits)

	rep := &report.Reports{DB: db, Now: func() time.Time { return now }, Loc: loc}
	nonzero := false
	for _, year := range []int{2023, 2024, 2025} {
		got, err := rep.Annual(ctx, year)
		if err != nil {
			t.Fatal(err)
		}
		want, err := rep.AnnualFromRecords(ctx, year)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("annual %d from rollups:\n%+v\nfrom records:\n%+v", year, got, want)
		}
		if year == 2024 && (want.NightSchool.FeesFen == 0 || want.ElderlyActivities.Attendances == 0 ||
			want.Complaints.Closed == 0 || want.Points.Participants == 0) {
			t.Errorf("2024 figures too thin to test anything: %+v", want)
		}
		nonzero = nonzero || want.NightSchool.SessionsHeld > 0
	}
	if !nonzero {
		t.Fatal("no held sessions at all")
	}
	d := func(s string) models.Date {
		v, err := models.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, rg := range [][2]string{
		{"2024-01-01", "2024-12-31"}, {"2024-01-01", "2024-10-15"}, {"2024-03-01", "2024-05-31"},
		{"2024-03-10", "2024-05-20"}, {"2024-02-05", "2024-02-25"}, {"2023-12-01", "2024-01-31"},
		{"2023-12-20", "2025-01-10"}, {"2024-06-15", "2024-06-15"}, {"2020-01-01", "2030-12-31"},
		{"2024-12-01", "2025-01-31"}, {"2025-03-01", "2025-03-31"},
	} {
		got, err := points.DepositStats(ctx, db, d(rg[0]), d(rg[1]))
		if err != nil {
			t.Fatal(err)
		}
		want, err := points.DepositStatsFromRecords(ctx, db, d(rg[0]), d(rg[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("deposit stats %s..%s from rollups:\n%+v\nfrom records:\n%+v", rg[0], rg[1], got, want)
		}
	}
}

type gen struct {
	t   *testing.T
	ctx context.Context
	db  *sql.DB
	r   *rand.Rand
	loc *time.Location
	n   int // serial for unique codes and refs

	users, programs, sessions, bookings, orders, complaints, deposits, devices, imports []int64
}

var estates = []string{"南天一花园", "南天二花园", "百花园一期"}
var categories = []string{"物业管理", "充电难", "噪音扰民"}

func (g *gen) exec(q string, args ...any) sql.Result {
	g.t.Helper()
	res, err := g.db.ExecContext(g.ctx, q, args...)
	if err != nil {
		g.t.Fatalf("%s: %v", q, err)
	}
	return res
}

func (g *gen) insert(q string, args ...any) int64 {
	g.t.Helper()
	id, err := g.exec(q, args...).LastInsertId()
	if err != nil {
		g.t.Fatal(err)
	}
	return id
}

func (g *gen) pick(ids []int64) int64 { return ids[g.r.IntN(len(ids))] }

func (g *gen) drop(ids *[]int64, id int64) {
	for i, x := range *ids {
		if x == id {
			*ids = append((*ids)[:i], (*ids)[i+1:]...)
			return
		}
	}
}

// when is a random instant from mid-December 2023 to mid-January 2025, with a
// good share on 2024-10-15 (the test's "today") and around the year ends.
func (g *gen) when() time.Time {
	switch g.r.IntN(6) {
	case 0:
		return time.Date(2024, 10, 15, 6+g.r.IntN(16), g.r.IntN(60), 0, 0, g.loc)
	case 1:
		return time.Date(2024, 12, 31, 20, 0, 0, 0, g.loc).Add(time.Duration(g.r.IntN(8*60)) * time.Minute)
	case 2:
		return time.Date(2023, 12, 31, 20, 0, 0, 0, g.loc).Add(time.Duration(g.r.IntN(8*60)) * time.Minute)
	}
	return time.Date(2023, 12, 15, 0, 0, 0, 0, g.loc).Add(time.Duration(g.r.Int64N(int64(400 * 24 * time.Hour))))
}

func (g *gen) serial() int { g.n++; return g.n }

func (g *gen) base() {
	at := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		g.users = append(g.users, g.insert(`INSERT INTO users (openid, role, created_at, updated_at) VALUES (?, 'resident', ?, ?)`,
			fmt.Sprintf("rollup-%d", i), at, at))
	}
	for _, k := range [][3]any{{"night_school", "all", 30000}, {"night_school", "all", 12000}, {"activity", "elderly", 0},
		{"activity", "children", 500}, {"activity", "all", 0}, {"childcare", "children", 0}, {"activity", "elderly", 800}} {
		g.programs = append(g.programs, g.insert(`INSERT INTO programs (kind, title, description, audience, fee_fen, created_at, updated_at)
			VALUES (?, 't', '', ?, ?, ?, ?)`, k[0], k[1], k[2], at, at))
	}
	for _, e := range estates {
		g.devices = append(g.devices, g.insert(`INSERT INTO devices (estate, name, secret_enc, created_by, created_at, updated_at) VALUES (?, 'bin', 'x', 1, ?, ?)`, e, at, at))
	}
	for range 40 {
		g.newSession()
	}
}

func (g *gen) newSession() {
	start := g.when()
	status := "open"
	if g.r.IntN(8) == 0 {
		status = "cancelled"
	}
	g.sessions = append(g.sessions, g.insert(`INSERT INTO sessions (program_id, starts_at, ends_at, capacity, status, created_at, updated_at)
		VALUES (?, ?, ?, 50, ?, ?, ?)`, g.pick(g.programs), start.Add(-90*time.Minute).UTC(), start.UTC(), status, start.UTC(), start.UTC()))
}

var bookingStatuses = []string{"pending", "awaiting_payment", "confirmed", "attended", "cancelled", "no_show", "expired", "waitlisted"}

func (g *gen) step() {
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	switch op := g.r.IntN(100); {
	case op < 25 && len(g.sessions) > 0: // a booking, sometimes with an order
		sid := g.pick(g.sessions)
		var pid int64
		if err := g.db.QueryRowContext(g.ctx, `SELECT program_id FROM sessions WHERE id = ?`, sid).Scan(&pid); err != nil {
			g.t.Fatal(err)
		}
		var order any
		if g.r.IntN(3) == 0 && len(g.orders) > 0 {
			order = g.pick(g.orders)
		}
		uid := g.pick(g.users)
		g.bookings = append(g.bookings, g.insert(`INSERT INTO bookings (session_id, program_id, user_id, participant, status, fee_fen, code, order_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sid, pid, uid, fmt.Sprintf("u%d", uid), bookingStatuses[g.r.IntN(len(bookingStatuses))],
			[]int{0, 500, 12000, 30000}[g.r.IntN(4)], fmt.Sprintf("C%09d", g.serial()), order, now, now))
	case op < 30: // an order
		g.orders = append(g.orders, g.insert(`INSERT INTO payment_orders (out_trade_no, user_id, program_id, amount_fen, status, description, expires_at, created_at, updated_at)
			VALUES (?, ?, ?, 50000, 'unpaid', 'd', ?, ?, ?)`, fmt.Sprintf("NT%d", g.serial()), g.pick(g.users), g.pick(g.programs), now, now, now))
	case op < 40 && len(g.bookings) > 0: // a booking changes status (check-in, cancel, undo)
		g.exec(`UPDATE bookings SET status = ? WHERE id = ?`, bookingStatuses[g.r.IntN(len(bookingStatuses))], g.pick(g.bookings))
	case op < 43 && len(g.bookings) > 0: // fee corrected
		g.exec(`UPDATE bookings SET fee_fen = ? WHERE id = ?`, g.r.IntN(40000), g.pick(g.bookings))
	case op < 46 && len(g.bookings) > 0 && len(g.orders) > 0: // gains, changes or loses its order
		var order any
		if g.r.IntN(3) > 0 {
			order = g.pick(g.orders)
		}
		g.exec(`UPDATE bookings SET order_id = ? WHERE id = ?`, order, g.pick(g.bookings))
	case op < 48 && len(g.bookings) > 0: // moved to another session
		sid := g.pick(g.sessions)
		g.exec(`UPDATE bookings SET session_id = ?, program_id = (SELECT program_id FROM sessions WHERE id = ?) WHERE id = ?`, sid, sid, g.pick(g.bookings))
	case op < 50 && len(g.bookings) > 0: // unpaid booking deleted
		id := g.pick(g.bookings)
		g.exec(`DELETE FROM bookings WHERE id = ?`, id)
		g.drop(&g.bookings, id)
	case op < 58 && len(g.orders) > 0: // paid (sometimes a second time)
		g.exec(`INSERT INTO payment_ledger (order_id, kind, amount_fen, ref, created_at) VALUES (?, 'paid', 50000, ?, ?)`,
			g.pick(g.orders), fmt.Sprintf("T%d", g.serial()), now)
	case op < 63 && len(g.bookings) > 0: // a refund for a booking (with or without an order)
		id := g.pick(g.bookings)
		var order sql.NullInt64
		if err := g.db.QueryRowContext(g.ctx, `SELECT order_id FROM bookings WHERE id = ?`, id).Scan(&order); err != nil {
			g.t.Fatal(err)
		}
		oid := order.Int64
		if !order.Valid {
			if len(g.orders) == 0 {
				return
			}
			oid = g.pick(g.orders)
		}
		g.exec(`INSERT INTO payment_ledger (order_id, booking_id, kind, amount_fen, ref, created_at) VALUES (?, ?, 'refunded', ?, ?, ?)`,
			oid, id, 100*g.r.IntN(100), fmt.Sprintf("R%d", g.serial()), now)
	case op < 66:
		g.newSession()
	case op < 70 && len(g.sessions) > 0: // cancelled or restored
		g.exec(`UPDATE sessions SET status = IF(status = 'cancelled', 'open', IF(RAND() < 0.5, 'cancelled', 'closed')) WHERE id = ?`, g.pick(g.sessions))
	case op < 73 && len(g.sessions) > 0: // rescheduled (maybe across a year end or onto "today")
		end := g.when()
		g.exec(`UPDATE sessions SET starts_at = ?, ends_at = ? WHERE id = ?`, end.Add(-time.Hour).UTC(), end.UTC(), g.pick(g.sessions))
	case op < 75 && len(g.sessions) > 0: // moved to another program
		g.exec(`UPDATE sessions SET program_id = ? WHERE id = ?`, g.pick(g.programs), g.pick(g.sessions))
	case op < 76 && len(g.sessions) > 0: // counters move: no figure does
		g.exec(`UPDATE sessions SET booked = LEAST(capacity, booked + 1) WHERE id = ?`, g.pick(g.sessions))
	case op < 79 && len(g.sessions) > 0: // an import row, corrected or removed
		sid := g.pick(g.sessions)
		switch g.r.IntN(3) {
		case 0:
			g.exec(`INSERT INTO session_imports (session_id, row_hash, attendances, fees_fen, imported_by, created_at) VALUES (?, SHA2(?, 256), ?, ?, 1, ?)
				ON DUPLICATE KEY UPDATE attendances = VALUES(attendances)`, sid, fmt.Sprint(g.serial()), g.r.IntN(40), g.r.IntN(90000), now)
		case 1:
			g.exec(`UPDATE session_imports SET attendances = ?, fees_fen = ? WHERE session_id = ?`, g.r.IntN(40), g.r.IntN(90000), sid)
		default:
			g.exec(`DELETE FROM session_imports WHERE session_id = ?`, sid)
		}
	case op < 80 && len(g.sessions) > 0: // a session without bookings deleted (its import goes by cascade)
		var sid int64
		err := g.db.QueryRowContext(g.ctx, `SELECT s.id FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM bookings b WHERE b.session_id = s.id) ORDER BY RAND() LIMIT 1`).Scan(&sid)
		if err == nil {
			g.exec(`DELETE FROM sessions WHERE id = ?`, sid)
			g.drop(&g.sessions, sid)
		}
	case op < 86: // a complaint
		at := g.when()
		g.complaints = append(g.complaints, g.insert(`INSERT INTO complaints (user_id, category, content, estate, created_at, cycle_started_at,
			accept_due_at, contact_due_at, resolve_due_at, updated_at) VALUES (?, ?, 'c', ?, ?, ?, ?, ?, ?, ?)`,
			g.pick(g.users), categories[g.r.IntN(len(categories))], estates[g.r.IntN(len(estates))], at.UTC(), at.UTC(),
			at.Add(2*time.Hour).UTC(), at.Add(24*time.Hour).UTC(), at.Add(72*time.Hour).UTC(), at.UTC()))
	case op < 91 && len(g.complaints) > 0: // resolved, closed, reopened, mediation, recategorised
		id := g.pick(g.complaints)
		switch g.r.IntN(5) {
		case 0, 1:
			var created time.Time
			if err := g.db.QueryRowContext(g.ctx, `SELECT created_at FROM complaints WHERE id = ?`, id).Scan(&created); err != nil {
				g.t.Fatal(err)
			}
			g.exec(`UPDATE complaints SET status = ?, resolved_at = ?, mediation_agreement = ? WHERE id = ?`,
				[]string{"resolved", "closed"}[g.r.IntN(2)], created.Add(time.Duration(g.r.IntN(6*24))*time.Hour), g.r.IntN(2), id)
		case 2:
			g.exec(`UPDATE complaints SET status = 'reopened', resolve_due_at = resolve_due_at + INTERVAL 3 DAY WHERE id = ?`, id)
		case 3:
			g.exec(`UPDATE complaints SET category = ?, estate = ? WHERE id = ?`, categories[g.r.IntN(len(categories))], estates[g.r.IntN(len(estates))], id)
		default:
			g.exec(`UPDATE complaints SET mediation_agreement = 1 - mediation_agreement WHERE id = ?`, id)
		}
	case op < 92 && len(g.complaints) > 0:
		id := g.pick(g.complaints)
		g.exec(`DELETE FROM complaints WHERE id = ?`, id)
		g.drop(&g.complaints, id)
	case op < 98: // a deposit
		at := g.when()
		dev := g.r.IntN(len(g.devices))
		g.deposits = append(g.deposits, g.insert(`INSERT INTO bin_deposits (event_id, device_id, user_id, estate, weight_grams, quality, points_awarded, local_day, occurred_at, created_at)
			VALUES (?, ?, ?, ?, ?, 'ok', ?, ?, ?, ?)`, fmt.Sprintf("e%d", g.serial()), g.devices[dev], g.pick(g.users), estates[dev],
			200+g.r.IntN(3000), g.r.IntN(10), at.In(g.loc).Format(time.DateOnly), at.UTC(), at.UTC()))
	case op < 99 && len(g.deposits) > 0: // a walk-in's deposits move to another resident (merge)
		from, to := g.pick(g.users), g.pick(g.users)
		g.exec(`UPDATE bin_deposits SET user_id = ? WHERE user_id = ?`, to, from)
	case len(g.deposits) > 0: // a deposit corrected (day, weight) or removed
		id := g.pick(g.deposits)
		if g.r.IntN(2) == 0 {
			at := g.when()
			g.exec(`UPDATE bin_deposits SET local_day = ?, occurred_at = ?, weight_grams = ? WHERE id = ?`,
				at.In(g.loc).Format(time.DateOnly), at.UTC(), 200+g.r.IntN(3000), id)
		} else {
			g.exec(`DELETE FROM bin_deposits WHERE id = ?`, id)
			g.drop(&g.deposits, id)
		}
	}
}
