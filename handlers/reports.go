package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/models/report"
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
	c.Data(http.StatusOK, "text/csv; charset=utf-8", rep.CSV())
}
