package complaint_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/complaint"
	"nantian/models/testdb"
)

// TestComplaintStatsEqualRecords drives work orders through random inserts and
// changes in SQL (so only the triggers of migration 0034 keep the rollups):
// filed, accepted, contacted, resolved, closed, reopened (a new cycle, its steps
// cleared), recategorised, moved to another estate, mediation toggled, deleted,
// and the odd rows a hand-run UPDATE can leave (a closed order without its
// resolved_at or accepted_at, a step before its cycle, a receipt moved across a
// month or year end, a status spelt differently, an estate with a trailing
// space). At checkpoints, the statistics from the rollups must equal those from
// the records for many ranges (whole year, cut months, one day, across the year
// end, empty) and several "now"s (including one a microsecond past a due time
// and one exactly at one), in Asia/Shanghai and a fixed UTC+8; a UTC+9 zone
// takes the records path and must equal it too.
func TestComplaintStatsEqualRecords(t *testing.T) {
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
	g := &cgen{t: t, ctx: ctx, db: db, r: rand.New(rand.NewPCG(seed, 34)), loc: loc}
	for i := range 8 {
		g.users = append(g.users, g.insert(`INSERT INTO users (openid, role, created_at, updated_at) VALUES (?, 'resident', NOW(3), NOW(3))`,
			fmt.Sprintf("cstats-%d", i)))
	}
	for i := 1; i <= 1500; i++ {
		g.step()
		if i%500 == 0 {
			g.compare(i)
		}
	}
	var n int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM complaints`).Scan(&n)
	t.Logf("%d complaints at the end", n)
}

type cgen struct {
	t     *testing.T
	ctx   context.Context
	db    *sql.DB
	r     *rand.Rand
	loc   *time.Location
	users []int64
	ids   []int64
}

var (
	statEstates    = []string{"南天一花园", "南天二花园", "百花园一期", "国城花园", "外区花园", "南天一花园 "}
	statCategories = []string{"物业管理", "充电难", "噪音扰民", "其他"}
)

func (g *cgen) exec(q string, args ...any) sql.Result {
	g.t.Helper()
	res, err := g.db.ExecContext(g.ctx, q, args...)
	if err != nil {
		g.t.Fatalf("%s: %v", q, err)
	}
	return res
}

func (g *cgen) insert(q string, args ...any) int64 {
	g.t.Helper()
	id, err := g.exec(q, args...).LastInsertId()
	if err != nil {
		g.t.Fatal(err)
	}
	return id
}

func (g *cgen) pick() int64 { return g.ids[g.r.IntN(len(g.ids))] }

// when is a receipt time from December 2023 to January 2025, with a share on
// local midnights at month and year ends (the cuts of the ranges) and on the
// test's "now"s.
func (g *cgen) when() time.Time {
	switch g.r.IntN(8) {
	case 0:
		return time.Date(2024, 10, 15, 6+g.r.IntN(16), g.r.IntN(60), 0, 0, g.loc)
	case 1: // around a local midnight that starts a month
		m := time.Date(2024, time.Month(1+g.r.IntN(13)), 1, 0, 0, 0, 0, g.loc)
		return m.Add(time.Duration(g.r.IntN(7200)-3600) * time.Second).Add(time.Duration(g.r.IntN(3)-1) * time.Millisecond)
	case 2:
		return time.Date(2024, 12, 31, 20, 0, 0, 0, g.loc).Add(time.Duration(g.r.IntN(8*60)) * time.Minute)
	}
	return time.Date(2023, 12, 1, 0, 0, 0, 0, g.loc).Add(time.Duration(g.r.Int64N(int64(420 * 24 * time.Hour))))
}

// took is how long a step took: whole minutes (ties, as a seed or a busy desk
// makes them), milliseconds, exact bucket edges, long and negative ones.
func (g *cgen) took() time.Duration {
	switch g.r.IntN(10) {
	case 0, 1, 2:
		return time.Duration(1+g.r.IntN(240)) * time.Minute
	case 3:
		return []time.Duration{time.Hour, 24 * time.Hour, 14 * 24 * time.Hour, time.Minute, 0, time.Hour - time.Millisecond}[g.r.IntN(6)]
	case 4:
		return time.Duration(g.r.Int64N(int64(60 * 24 * time.Hour))).Truncate(time.Millisecond)
	case 5:
		if g.r.IntN(4) == 0 {
			return -time.Duration(1+g.r.IntN(600)) * time.Second
		}
		return time.Duration(400+g.r.IntN(800)) * 24 * time.Hour
	}
	return time.Duration(g.r.Int64N(int64(3 * 24 * time.Hour))).Truncate(time.Millisecond)
}

func (g *cgen) dues(cycle time.Time) (time.Time, time.Time, time.Time) {
	a := []time.Duration{10 * time.Minute, 2 * time.Hour}[g.r.IntN(2)]
	return cycle.Add(a), cycle.Add(a + 20*time.Minute + time.Duration(g.r.IntN(24))*time.Hour), cycle.Add(24*time.Hour + time.Duration(g.r.IntN(7*24))*time.Hour)
}

func (g *cgen) step() {
	switch op := g.r.IntN(100); {
	case op < 30 || len(g.ids) < 5: // filed, sometimes already some way along
		at := g.when()
		ad, cd, rd := g.dues(at)
		status := "submitted"
		var acc, con, res any
		if k := g.r.IntN(5); k > 0 {
			a := at.Add(g.took())
			acc, status = a.UTC(), "accepted"
			if k > 1 {
				c := a.Add(g.took())
				con, status = c.UTC(), "contacted"
				if k > 2 {
					res, status = c.Add(g.took()).UTC(), []string{"resolved", "closed"}[g.r.IntN(2)]
				}
			}
		}
		g.ids = append(g.ids, g.insert(`INSERT INTO complaints (user_id, category, content, estate, status, created_at, cycle_started_at,
			accept_due_at, contact_due_at, resolve_due_at, accepted_at, contacted_at, resolved_at, mediation_agreement, updated_at)
			VALUES (?, ?, 'c', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.users[g.r.IntN(len(g.users))], statCategories[g.r.IntN(len(statCategories))], statEstates[g.r.IntN(len(statEstates))],
			status, at.UTC(), at.UTC(), ad.UTC(), cd.UTC(), rd.UTC(), acc, con, res, g.r.IntN(5) == 0, at.UTC()))
	case op < 42: // accepted
		g.exec(`UPDATE complaints SET status = 'accepted', accepted_at = cycle_started_at + INTERVAL ? MICROSECOND, updated_at = NOW(3)
			WHERE id = ? AND status IN ('submitted', 'reopened')`, g.took().Microseconds(), g.pick())
	case op < 52: // contacted
		g.exec(`UPDATE complaints SET status = 'contacted', contacted_at = COALESCE(accepted_at, cycle_started_at) + INTERVAL ? MICROSECOND
			WHERE id = ? AND status = 'accepted'`, g.took().Microseconds(), g.pick())
	case op < 62: // resolved (a mediation agreement once signed stays)
		g.exec(`UPDATE complaints SET status = 'resolved', resolved_at = COALESCE(contacted_at, cycle_started_at) + INTERVAL ? MICROSECOND,
			mediation_agreement = GREATEST(mediation_agreement, ?) WHERE id = ? AND status = 'contacted'`, g.took().Microseconds(), g.r.IntN(4) == 0, g.pick())
	case op < 68: // closed by a rating or the auto-close
		g.exec(`UPDATE complaints SET status = 'closed', closed_at = resolved_at + INTERVAL 3 DAY, rating = 4, rated_at = resolved_at
			WHERE id = ? AND status = 'resolved'`, g.pick())
	case op < 74: // reopened: a new cycle from now-ish, its steps cleared
		id := g.pick()
		var resolved sql.NullTime
		if err := g.db.QueryRowContext(g.ctx, `SELECT resolved_at FROM complaints WHERE id = ?`, id).Scan(&resolved); err != nil {
			g.t.Fatal(err)
		}
		if !resolved.Valid {
			return
		}
		cycle := resolved.Time.Add(time.Duration(g.r.IntN(72)) * time.Hour)
		ad, cd, rd := g.dues(cycle)
		g.exec(`UPDATE complaints SET status = 'reopened', reopen_count = reopen_count + 1, cycle_started_at = ?, accept_due_at = ?,
			contact_due_at = ?, resolve_due_at = ?, accepted_at = NULL, contacted_at = NULL, handler_id = NULL
			WHERE id = ? AND status IN ('resolved', 'closed')`, cycle.UTC(), ad.UTC(), cd.UTC(), rd.UTC(), id)
	case op < 79: // recategorised, or moved to another estate
		if g.r.IntN(2) == 0 {
			g.exec(`UPDATE complaints SET category = ? WHERE id = ?`, statCategories[g.r.IntN(len(statCategories))], g.pick())
		} else {
			g.exec(`UPDATE complaints SET estate = ? WHERE id = ?`, statEstates[g.r.IntN(len(statEstates))], g.pick())
		}
	case op < 82:
		g.exec(`UPDATE complaints SET mediation_agreement = 1 - mediation_agreement WHERE id = ?`, g.pick())
	case op < 86: // deleted
		id := g.pick()
		g.exec(`DELETE FROM complaints WHERE id = ?`, id)
		for i, x := range g.ids {
			if x == id {
				g.ids = append(g.ids[:i], g.ids[i+1:]...)
				break
			}
		}
	case op < 89: // nothing a figure depends on
		g.exec(`UPDATE complaints SET updated_at = NOW(3), needs_review = 1 - needs_review, rating_comment = 'x' WHERE id = ?`, g.pick())
	case op < 91: // a status set by hand, spelt the service's way or not
		g.exec(`UPDATE complaints SET status = ? WHERE id = ?`,
			[]string{"submitted", "accepted", "contacted", "resolved", "closed", "reopened", "Closed", "resolved"}[g.r.IntN(8)], g.pick())
	case op < 93: // a closed order losing a step's time
		col := []string{"resolved_at", "accepted_at", "contacted_at"}[g.r.IntN(3)]
		g.exec(`UPDATE complaints SET `+col+` = NULL WHERE id = ?`, g.pick())
	case op < 96: // receipt moved (across a cut, a month, the year end)
		at := g.when()
		g.exec(`UPDATE complaints SET created_at = ? WHERE id = ?`, at.UTC(), g.pick())
	case op < 98: // due times moved (a limit corrected)
		g.exec(`UPDATE complaints SET accept_due_at = accept_due_at + INTERVAL ? MINUTE, resolve_due_at = resolve_due_at - INTERVAL ? HOUR WHERE id = ?`,
			g.r.IntN(300), g.r.IntN(48), g.pick())
	default: // several rows at once
		g.exec(`UPDATE complaints SET category = ? WHERE id % 7 = ?`, statCategories[g.r.IntN(len(statCategories))], g.r.IntN(7))
	}
}

func (g *cgen) compare(after int) {
	t := g.t
	d := func(s string) models.Date {
		v, err := models.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var due time.Time
	if err := g.db.QueryRowContext(g.ctx, `SELECT accept_due_at FROM complaints WHERE accepted_at IS NULL ORDER BY id LIMIT 1`).Scan(&due); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	nows := []time.Time{
		time.Date(2024, 10, 15, 15, 0, 0, 0, g.loc),
		time.Date(2025, 1, 1, 0, 0, 0, 0, g.loc),
		time.Date(2024, 3, 1, 12, 0, 0, 500, g.loc),
		time.Date(2030, 1, 1, 0, 0, 0, 0, g.loc),
	}
	if !due.IsZero() {
		nows = append(nows, due, due.Add(time.Microsecond))
	}
	ranges := [][2]string{
		{"2024-01-01", "2024-12-31"}, {"2024-01-01", "2024-10-15"}, {"2024-03-01", "2024-05-31"},
		{"2024-03-10", "2024-05-20"}, {"2024-02-05", "2024-02-25"}, {"2023-12-01", "2024-01-31"},
		{"2023-12-20", "2025-01-10"}, {"2024-06-15", "2024-06-15"}, {"2020-01-01", "2030-12-31"},
		{"2024-12-31", "2025-01-01"}, {"2025-03-01", "2025-03-31"}, {"2024-10-01", "2024-10-31"},
	}
	zones := []*time.Location{g.loc, time.FixedZone("UTC+8", 8*3600), time.FixedZone("UTC+9", 9*3600)}
	thick := false
	for i, now := range nows {
		for j, rg := range ranges {
			loc := zones[(i+j)%len(zones)]
			got, err := complaint.ComputeComplaintStats(g.ctx, g.db, loc, d(rg[0]), d(rg[1]), now)
			if err != nil {
				t.Fatalf("after %d steps, %s..%s at %s: %v", after, rg[0], rg[1], now, err)
			}
			want, err := complaint.ComputeComplaintStatsFromRecords(g.ctx, g.db, loc, d(rg[0]), d(rg[1]), now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after %d steps, %s..%s in %s at %s:\nrollups %s\nrecords %s", after, rg[0], rg[1], loc, now, show(got), show(want))
			}
			if rg[0] == "2024-01-01" && rg[1] == "2024-12-31" && want.Closed > 20 && want.MedianMinutes["resolve"] != nil &&
				want.OnTime["accept"].Due > want.OnTime["accept"].OnTime && len(want.Rising.Items) > 0 {
				thick = true
			}
		}
	}
	if !thick {
		t.Errorf("after %d steps the 2024 figures are too thin to test anything", after)
	}
}

// show prints the figures with the medians dereferenced.
func show(s complaint.ComplaintStats) string {
	med := map[string]any{}
	for k, v := range s.MedianMinutes {
		if v != nil {
			med[k] = *v
		} else {
			med[k] = nil
		}
	}
	ot := map[string]string{}
	for k, v := range s.OnTime {
		ot[k] = fmt.Sprintf("%d/%d", v.OnTime, v.Due)
	}
	return fmt.Sprintf("received %d closed %d on time %d mediation %d\n  category %v\n  estate %v\n  status %v\n  on time %v median %v\n  monthly %v\n  rising %+v",
		s.Received, s.Closed, s.ClosedOnTime, s.MediationAgreements, s.ByCategory, s.ByEstate, s.ByStatus, ot, med, s.Monthly, s.Rising.Items)
}
