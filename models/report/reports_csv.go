package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"

	"nantian/models/complaint"
)

// csvBOM starts every CSV this service writes: Excel opens UTF-8 with it, and
// shows the Chinese headings as mojibake without it.
const csvBOM = "\ufeff"

// CSV lays the report out as 板块,指标,数值 rows, UTF-8 with a BOM. The API's
// ?format=csv and the console's download both write this.
func (r AnnualReport) CSV() []byte {
	var buf bytes.Buffer
	buf.WriteString(csvBOM)
	_ = csv.NewWriter(&buf).WriteAll(r.csvRows()) // writes to a bytes.Buffer cannot fail
	return buf.Bytes()
}

func (r AnnualReport) csvRows() [][]string {
	i := strconv.Itoa
	return [][]string{
		{"板块", "指标", "数值"},
		{"年份", "year", i(r.Year)},
		{"青年夜校", "sessions_held", i(r.NightSchool.SessionsHeld)},
		{"青年夜校", "attendances", i(r.NightSchool.Attendances)},
		{"青年夜校", "fees_yuan", fmt.Sprintf("%d.%02d", r.NightSchool.FeesFen/100, r.NightSchool.FeesFen%100)},
		{"长者活动", "sessions_held", i(r.ElderlyActivities.SessionsHeld)},
		{"长者活动", "attendances", i(r.ElderlyActivities.Attendances)},
		{"少儿活动", "sessions_held", i(r.ChildrenActivities.SessionsHeld)},
		{"少儿活动", "attendances", i(r.ChildrenActivities.Attendances)},
		{"托育临时托", "sessions_held", i(r.Childcare.SessionsHeld)},
		{"托育临时托", "attendances", i(r.Childcare.Attendances)},
		{"民意速办", "received", i(r.Complaints.Received)},
		{"民意速办", "closed", i(r.Complaints.Closed)},
		{"民意速办", "closed_on_time", i(r.Complaints.ClosedOnTime)},
		{"民意速办", "mediation_agreements", i(r.Complaints.MediationAgreements)},
		{"厨余垃圾积分", "deposits", i(r.Points.Deposits)},
		{"厨余垃圾积分", "kilograms", strconv.FormatFloat(r.Points.Kilograms, 'f', 3, 64)},
		{"厨余垃圾积分", "participants", i(r.Points.Participants)},
		{"厨余垃圾积分", "points_awarded", strconv.FormatInt(r.Points.PointsAwarded, 10)},
	}
}

// CSV is the annual report followed by the year's complaint statistics (on-time
// rates, month by month, by category, rising categories), one download for the
// console's report page.
func (r AnnualReport) CSVWithComplaints(st complaint.ComplaintStats) []byte {
	rows := r.csvRows()
	rate := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p*100, 'f', 1, 64) + "%"
	}
	for _, limit := range []string{complaint.StepAccept, complaint.StepContact, complaint.StepResolve} {
		o := st.OnTime[limit]
		rows = append(rows, []string{"民意速办按时率", limit, fmt.Sprintf("%d/%d", o.OnTime, o.Due)}, []string{"民意速办按时率", limit + "_rate", rate(o.Rate)})
	}
	for _, m := range st.Monthly {
		rows = append(rows, []string{"民意速办月度", m.Month + " received", strconv.Itoa(m.Received)}, []string{"民意速办月度", m.Month + " closed", strconv.Itoa(m.Closed)})
	}
	cats := make([]string, 0, len(st.ByCategory))
	for c := range st.ByCategory {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		rows = append(rows, []string{"民意速办类别", c, strconv.Itoa(st.ByCategory[c])})
	}
	for _, it := range st.Rising.Items {
		rows = append(rows, []string{"上升类别", it.Category, fmt.Sprintf("%d → %d", it.Previous, it.Recent)})
	}
	var buf bytes.Buffer
	buf.WriteString(csvBOM)
	_ = csv.NewWriter(&buf).WriteAll(rows)
	return buf.Bytes()
}
