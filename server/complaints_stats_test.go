package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// The statistics on a known dataset of ten work orders filed in the first half of
// 2021 (a period no other test touches), every figure worked out by hand below.
func TestComplaintStatsKnownDataset(t *testing.T) {
	a := newIsolatedTestApp(t)
	loc := a.app.cfg.Location
	clk := a.useClock(time.Date(2021, 1, 1, 0, 0, 0, 0, loc))
	res, _ := a.resident("filer")
	staff, _ := a.staff("clerk")
	day := func(m time.Month, d int) time.Time { return time.Date(2021, m, d, 10, 0, 0, 0, loc) }
	const m = time.Minute
	type order struct {
		name, category, estate   string
		filed                    time.Time
		accept, contact, resolve time.Duration // after filing; 0 = not done
		mediation                bool
		rating                   int
		id                       int64
	}
	orders := []*order{
		{name: "c1", category: "充电难", estate: "南天一花园", filed: day(1, 10), accept: 5 * m, contact: 20 * m, resolve: 120 * m, rating: 5},
		{name: "c2", category: "噪音扰民", estate: "南天二花园", filed: day(2, 3), accept: 15 * m, contact: 25 * m, resolve: 30 * time.Hour, mediation: true, rating: 4},
		{name: "c3", category: "噪音扰民", estate: "南天二花园", filed: day(2, 3).Add(time.Hour), accept: 8 * m, contact: 40 * m},
		{name: "c4", category: "物业管理", estate: "百花园一期", filed: day(3, 15)},
		{name: "c5", category: "充电难", estate: "国城花园", filed: day(4, 2), accept: 10 * m, contact: 30 * m, resolve: 24 * time.Hour, rating: 1},
		{name: "c6", category: "充电难", estate: "国城花园", filed: day(4, 20), accept: 3 * m},
		{name: "c7", category: "充电难", estate: "百花园二期", filed: day(5, 6), accept: 4 * m, contact: 10 * m, resolve: 180 * m, mediation: true, rating: 3},
		{name: "c8", category: "房屋漏水", estate: "百花园二期", filed: day(5, 7), accept: 2 * m, contact: 12 * m, resolve: 23 * time.Hour, rating: 5},
		{name: "c9", category: "房屋漏水", estate: "南天一花园", filed: day(5, 20), accept: 6 * m, contact: 29 * m, resolve: 10 * time.Hour, rating: 5},
		{name: "c10", category: "噪音扰民", estate: "南天一花园", filed: time.Date(2021, 6, 30, 23, 55, 0, 0, loc)},
	}
	for _, o := range orders {
		clk.Set(o.filed)
		o.id = a.fileComplaint(res, map[string]any{"category": o.category, "estate": o.estate})
		if o.accept > 0 {
			clk.Set(o.filed.Add(o.accept))
			a.step(staff, cpath(o.id, "accept"), nil, http.StatusOK)
		}
		if o.contact > 0 {
			clk.Set(o.filed.Add(o.contact))
			a.step(staff, cpath(o.id, "contact"), map[string]any{"note": "已联系"}, http.StatusOK)
		}
		if o.resolve > 0 {
			clk.Set(o.filed.Add(o.resolve))
			a.step(staff, cpath(o.id, "resolve"), map[string]any{"resolution": "已处理", "mediation_agreement": o.mediation}, http.StatusOK)
		}
		if o.rating > 0 {
			clk.Set(o.filed.Add(o.resolve + time.Hour))
			a.step(res, cpath(o.id, "rating"), map[string]any{"score": o.rating}, http.StatusOK)
		}
	}
	// c5 was rated 1 at +25h and reworked: accepted 5 min, contacted 20 min and
	// resolved 5 h into the new cycle (well within its new 24 h), then rated 5.
	c5 := orders[4]
	cycle := c5.filed.Add(25 * time.Hour)
	for _, s := range []struct {
		at     time.Duration
		action string
		body   map[string]any
	}{
		{5 * m, "accept", nil},
		{20 * m, "contact", map[string]any{"note": "再次联系"}},
		{5 * time.Hour, "resolve", map[string]any{"resolution": "返工完成"}},
	} {
		clk.Set(cycle.Add(s.at))
		a.step(staff, cpath(c5.id, s.action), s.body, http.StatusOK)
	}
	clk.Set(cycle.Add(6 * time.Hour))
	a.step(res, cpath(c5.id, "rating"), map[string]any{"score": 5}, http.StatusOK)

	// Judged three minutes after c10 was filed: its deadlines are not due yet.
	clk.Set(time.Date(2021, 6, 30, 23, 58, 0, 0, loc))
	r := a.do("GET", "/api/v1/staff/complaints/stats?from=2021-01-01&to=2021-06-30", staff, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("stats: %d %s", r.Status, r.Body)
	}
	var st struct {
		From, To            string
		Received            int            `json:"received"`
		Closed              int            `json:"closed"`
		ClosedOnTime        int            `json:"closed_on_time"`
		MediationAgreements int            `json:"mediation_agreements"`
		ByCategory          map[string]int `json:"by_category"`
		ByEstate            map[string]int `json:"by_estate"`
		ByStatus            map[string]int `json:"by_status"`
		OnTime              map[string]struct {
			Due    int      `json:"due"`
			OnTime int      `json:"on_time"`
			Rate   *float64 `json:"rate"`
		} `json:"on_time"`
		MedianMinutes map[string]*float64 `json:"median_minutes"`
		Monthly       []struct {
			Month            string
			Received, Closed int
		} `json:"monthly"`
		Rising struct {
			RecentFrom   string `json:"recent_from"`
			RecentTo     string `json:"recent_to"`
			PreviousFrom string `json:"previous_from"`
			PreviousTo   string `json:"previous_to"`
			Items        []struct {
				Category                   string
				Recent, Previous, Increase int
				Growth                     *float64
			}
		} `json:"rising_categories"`
	}
	r.Decode(t, &st)
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("range", st.From+".."+st.To, "2021-01-01..2021-06-30")
	check("received", st.Received, 10)
	check("closed", st.Closed, 6)               // c1 c2 c5 c7 c8 c9
	check("closed_on_time", st.ClosedOnTime, 5) // all but c2 (30 h)
	check("mediation", st.MediationAgreements, 2)
	check("by_category", st.ByCategory, map[string]int{"充电难": 4, "噪音扰民": 3, "物业管理": 1, "房屋漏水": 2,
		"环境卫生": 0, "公共设施": 0, "邻里纠纷": 0, "安全隐患": 0, "其他": 0})
	check("by_estate", st.ByEstate, map[string]int{"南天一花园": 3, "南天二花园": 2, "百花园一期": 1, "百花园二期": 2, "国城花园": 2})
	check("by_status", st.ByStatus, map[string]int{"submitted": 2, "accepted": 1, "contacted": 1, "resolved": 0, "closed": 6, "reopened": 0})
	// accept: judged 9 (c10 not due); late c2 (15 min) and c4 (never) → 7/9.
	// contact: judged 9; late c3 (40 min), c4 and c6 (never) → 6/9.
	// resolve: judged 9; late c2 (30 h), c3, c4, c6 (never) → 5/9.
	for limit, want := range map[string][3]any{"accept": {9, 7, 0.7778}, "contact": {9, 6, 0.6667}, "resolve": {9, 5, 0.5556}} {
		got := st.OnTime[limit]
		if got.Due != want[0] || got.OnTime != want[1] || got.Rate == nil || *got.Rate != want[2] {
			t.Errorf("on_time[%s] = %d/%d rate %v, want %v", limit, got.OnTime, got.Due, got.Rate, want)
		}
	}
	// Minutes from the start of the (latest) cycle: accept 2,3,4,5,5,6,8,15 → 5;
	// contact 10,12,20,20,25,29,40 → 20; resolve 120,180,300,600,1380,1800 → 450.
	for limit, want := range map[string]float64{"accept": 5, "contact": 20, "resolve": 450} {
		if got := st.MedianMinutes[limit]; got == nil || *got != want {
			t.Errorf("median[%s] = %v, want %v", limit, got, want)
		}
	}
	check("monthly", st.Monthly, []struct {
		Month            string
		Received, Closed int
	}{{"2021-01", 1, 1}, {"2021-02", 2, 1}, {"2021-03", 1, 0}, {"2021-04", 2, 1}, {"2021-05", 3, 3}, {"2021-06", 1, 0}})
	check("rising window", st.Rising.RecentFrom+".."+st.Rising.RecentTo+" vs "+st.Rising.PreviousFrom+".."+st.Rising.PreviousTo,
		"2021-04..2021-06 vs 2021-01..2021-03")
	// Apr–Jun vs Jan–Mar: 充电难 3 vs 1, 房屋漏水 2 vs 0; 噪音扰民 fell (1 vs 2),
	// 物业管理 fell (0 vs 1).
	if len(st.Rising.Items) != 2 {
		t.Fatalf("rising = %+v", st.Rising.Items)
	}
	first, second := st.Rising.Items[0], st.Rising.Items[1]
	if first.Category != "充电难" || first.Recent != 3 || first.Previous != 1 || first.Increase != 2 || first.Growth == nil || *first.Growth != 2 {
		t.Errorf("rising[0] = %+v", first)
	}
	if second.Category != "房屋漏水" || second.Recent != 2 || second.Previous != 0 || second.Increase != 2 || second.Growth != nil {
		t.Errorf("rising[1] = %+v", second)
	}

	// The same figures for a narrower range: Q2 only; the rising window follows `to`.
	r = a.do("GET", "/api/v1/staff/complaints/stats?from=2021-04-01&to=2021-05-31", staff, nil)
	r.Decode(t, &st)
	check("Q2 received", st.Received, 5)
	check("Q2 rising window", st.Rising.RecentFrom+".."+st.Rising.RecentTo, "2021-03..2021-05")
	for _, q := range []string{"from=2021-13-01", "to=yesterday", "from=2021-06-01&to=2021-01-01", "from=2000-01-01&to=2021-01-01"} {
		if r := a.do("GET", "/api/v1/staff/complaints/stats?"+q, staff, nil); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d", q, r.Status)
		}
	}
	if r := a.do("GET", "/api/v1/staff/complaints/stats", staff, nil); r.Status != http.StatusOK {
		t.Errorf("default range: %d %s", r.Status, r.Body)
	}
}

// A work order resolved with a mediation agreement and then sent back for rework
// by a low rating is not counted until it is resolved again, in the statistics as
// in the annual report, so the two pages never disagree and mediation ≤ closed.
func TestComplaintStatsMediationCountsClosedOnly(t *testing.T) {
	a := newIsolatedTestApp(t)
	res, _ := a.resident("filer")
	staff, _ := a.staff("clerk")
	id := a.fileComplaint(res, nil)
	a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "已联系"}, http.StatusOK)
	a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "双方签订调解协议", "mediation_agreement": true}, http.StatusOK)
	year := time.Now().In(a.app.cfg.Location).Year()
	counts := func() (statsClosed, statsMediation, reportClosed, reportMediation int) {
		t.Helper()
		var st struct {
			Closed              int `json:"closed"`
			MediationAgreements int `json:"mediation_agreements"`
		}
		a.do("GET", "/api/v1/staff/complaints/stats", staff, nil).Decode(t, &st)
		var rep struct {
			Complaints struct {
				Closed              int `json:"closed"`
				MediationAgreements int `json:"mediation_agreements"`
			} `json:"complaints"`
		}
		a.do("GET", fmt.Sprintf("/api/v1/staff/reports/annual?year=%d", year), staff, nil).Decode(t, &rep)
		return st.Closed, st.MediationAgreements, rep.Complaints.Closed, rep.Complaints.MediationAgreements
	}
	if sc, sm, rc, rm := counts(); sc != 1 || sm != 1 || rc != 1 || rm != 1 {
		t.Fatalf("resolved with agreement: stats %d/%d, report %d/%d, want 1/1 both", sc, sm, rc, rm)
	}
	a.step(res, cpath(id, "rating"), map[string]any{"score": 1}, http.StatusOK) // back for rework
	if sc, sm, rc, rm := counts(); sc != 0 || sm != 0 || rc != 0 || rm != 0 {
		t.Fatalf("reworked: stats %d/%d, report %d/%d, want 0/0 both", sc, sm, rc, rm)
	}
	a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "再次联系"}, http.StatusOK)
	a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "返工完成"}, http.StatusOK)
	if sc, sm, rc, rm := counts(); sc != 1 || sm != 1 || rc != 1 || rm != 1 {
		t.Fatalf("resolved again: stats %d/%d, report %d/%d, want 1/1 both", sc, sm, rc, rm)
	}
}
