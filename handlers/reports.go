package handlers

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"nantian/models/report"

	"github.com/gin-gonic/gin"
)

// ReportsHandler serves the figures for the community's annual work report.
type ReportsHandler struct {
	Reports *report.Reports
	Loc     *time.Location
}

// Annual answers GET /staff/reports/annual?year=2024[&format=csv].
func (h *ReportsHandler) Annual(c *gin.Context) {
	year := time.Now().In(h.Loc).Year()
	if s := c.Query("year"); s != "" {
		y, err := strconv.Atoi(s)
		if err != nil {
			Abort(c, http.StatusBadRequest, "invalid_request", "year: 必须是年份，例如 2024")
			return
		}
		year = y
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "csv" {
		Abort(c, http.StatusBadRequest, "invalid_request", "format: 必须是 json|csv 之一")
		return
	}
	rep, err := h.Reports.Annual(c.Request.Context(), year)
	if err != nil {
		Fail(c, err)
		return
	}
	if format == "json" {
		c.JSON(http.StatusOK, rep)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="nantian-annual-%d.csv"`, year))
	c.Data(http.StatusOK, "text/csv; charset=utf-8", annualCSV(rep))
}

// annualCSV lays the report out as 板块,指标,数值 rows, UTF-8 with a BOM so Excel
// opens the Chinese headings correctly.
func annualCSV(r report.AnnualReport) []byte {
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	i := strconv.Itoa
	rows := [][]string{
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
	_ = w.WriteAll(rows) // writes to a bytes.Buffer cannot fail
	return buf.Bytes()
}
