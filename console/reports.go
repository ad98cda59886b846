package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"nantian/models"
	"nantian/models/complaint"
	"nantian/models/report"
)

// Journey 7 — Reports: the annual work report for a year as tables and ECharts
// charts, and that year's complaint statistics (on-time rates for the three
// limits, the month-by-month trend, categories, rising categories) as charts.
// The page prints on A4 (print stylesheet; charts are SVG and resized for
// paper) and downloads as CSV. The figures are the report domain's, the same the
// API's GET /staff/reports/annual returns.

type reportsView struct {
	Year   int
	Years  []int
	Report report.AnnualReport
	Stats  complaint.ComplaintStats
	// Charts is the chart data for reports.js, as JSON in a data block (the CSP
	// allows no inline script).
	Charts template.JS
}

// reportYear reads ?year=, defaulting to the current year.
func (c *Console) reportYear(r *http.Request) (int, error) {
	year := time.Now().In(c.d.Loc).Year()
	if s := r.URL.Query().Get("year"); s != "" {
		y, err := strconv.Atoi(s)
		if err != nil {
			return 0, models.Invalid("year", "必须是年份，例如 2024")
		}
		year = y
	}
	return year, nil
}

func (c *Console) reportData(r *http.Request) (reportsView, error) {
	year, err := c.reportYear(r)
	if err != nil {
		return reportsView{}, err
	}
	rep, err := c.d.Reports.Annual(r.Context(), year)
	if err != nil {
		return reportsView{}, err
	}
	from, _ := models.ParseDate(fmt.Sprintf("%04d-01-01", year))
	to, _ := models.ParseDate(fmt.Sprintf("%04d-12-31", year))
	st, err := c.d.Complaints.Stats(r.Context(), from, to)
	if err != nil {
		return reportsView{}, err
	}
	v := reportsView{Year: year, Report: rep, Stats: st}
	for y := time.Now().In(c.d.Loc).Year(); y >= 2020; y-- {
		v.Years = append(v.Years, y)
	}
	charts := map[string]any{
		"activities": map[string]any{
			"labels":      []string{"青年夜校", "长者活动", "少儿活动", "托育临时托"},
			"sessions":    []int{rep.NightSchool.SessionsHeld, rep.ElderlyActivities.SessionsHeld, rep.ChildrenActivities.SessionsHeld, rep.Childcare.SessionsHeld},
			"attendances": []int{rep.NightSchool.Attendances, rep.ElderlyActivities.Attendances, rep.ChildrenActivities.Attendances, rep.Childcare.Attendances},
		},
		"onTime":   st.OnTime,
		"limits":   []string{"受理 " + c.limitText(complaint.StepAccept), "联系 " + c.limitText(complaint.StepContact), "办结 " + c.limitText(complaint.StepResolve)},
		"monthly":  st.Monthly,
		"category": st.ByCategory,
		"rising":   st.Rising.Items,
	}
	b, err := json.Marshal(charts)
	if err != nil {
		return reportsView{}, err
	}
	v.Charts = template.JS(b) // json.Marshal escapes <, > and & for HTML
	return v, nil
}

func (c *Console) reportsPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.reportData(r)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "reports", c.newView(r, fmt.Sprintf("%d 年度工作报告", v.Year), "reports", v))
}

// reportsCSV downloads the page's figures (UTF-8 with BOM, for Excel).
func (c *Console) reportsCSV(w http.ResponseWriter, r *http.Request) {
	v, err := c.reportData(r)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="nantian-report-%d.csv"`, v.Year))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(v.Report.CSVWithComplaints(v.Stats))
}

// pctText shows a rate as "96.3%", or "—" when nothing was due yet.
func pctText(p *float64) string {
	if p == nil {
		return "—"
	}
	return strconv.FormatFloat(*p*100, 'f', 1, 64) + "%"
}

// minutesText shows a median in minutes, or "—".
func minutesText(p *float64) string {
	if p == nil {
		return "—"
	}
	if *p >= 120 {
		return strconv.FormatFloat(*p/60, 'f', 1, 64) + " 小时"
	}
	return strconv.FormatFloat(*p, 'f', 0, 64) + " 分钟"
}
