package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/models/complaint"
	"nantian/models/ops"
)

// StaffComplaintsHandler serves the staff side of 民意速办: the work queue, the
// 10-30-24 steps and the statistics.
type StaffComplaintsHandler struct {
	Complaints *complaint.Complaints // reads: the queue
	// Reports is the store the statistics read: the same work orders on the
	// read replica when MYSQL_REPLICA_DSN is set, else Complaints.
	Reports *complaint.Complaints
	// Steps are the workflow's staff operations (audited).
	Steps *ops.Complaints
	Loc   *time.Location
}

// parseDay reads ?name=YYYY-MM-DD. The years are kept to 1001-9998 so that the
// day's bounds in any zone, and the months the statistics look back over, stay
// within what the database can compare with (models.StorableTime).
func parseDay(c *gin.Context, name string) (models.Date, bool, bool) {
	s := c.Query(name)
	if s == "" {
		return models.Date{}, false, true
	}
	d, err := models.ParseDate(s)
	if err != nil {
		Abort(c, http.StatusBadRequest, "invalid_request", name+": 日期格式应为 YYYY-MM-DD")
		return models.Date{}, false, false
	}
	if y := d.Time().Year(); y < 1001 || y > 9998 {
		Abort(c, http.StatusBadRequest, "invalid_request", name+": 年份应在 1001 到 9998 之间")
		return models.Date{}, false, false
	}
	return d, true, true
}

// parseDays reads the ?from= and ?to= local dates of a list or a report (each
// optional), answering 400 itself when one is malformed.
func parseDays(c *gin.Context) (from models.Date, hasFrom bool, to models.Date, hasTo bool, ok bool) {
	if from, hasFrom, ok = parseDay(c, "from"); !ok {
		return
	}
	to, hasTo, ok = parseDay(c, "to")
	return
}

// localMidnight is the start of the local day d in loc.
func localMidnight(d models.Date, loc *time.Location) time.Time {
	t := d.Time()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc).UTC()
}

// List is the work queue: ?status=&category=&estate=&overdue=true&needs_review=true
// &from=&to= (dates of receipt, inclusive), newest first with cursor paging.
func (h *StaffComplaintsHandler) List(c *gin.Context) {
	f := complaint.ComplaintFilter{Status: c.Query("status"), Category: c.Query("category"), Estate: c.Query("estate")}
	if f.Status != "" && !complaint.ValidComplaintStatus(f.Status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 无效的状态")
		return
	}
	if f.Category != "" && !complaint.ValidComplaintCategory(f.Category) {
		Abort(c, http.StatusBadRequest, "invalid_request", "category: 无效的类别")
		return
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"overdue", &f.Overdue}, {"needs_review", &f.NeedsReview}} {
		switch c.Query(b.name) {
		case "", "false":
		case "true":
			*b.dst = true
		default:
			Abort(c, http.StatusBadRequest, "invalid_request", b.name+": 必须是 true 或 false")
			return
		}
	}
	from, hasFrom, to, hasTo, ok := parseDays(c)
	if !ok {
		return
	}
	if hasFrom {
		t := localMidnight(from, h.Loc)
		f.From = &t
	}
	if hasTo {
		t := localMidnight(to, h.Loc).Add(24 * time.Hour)
		f.To = &t
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		Abort(c, http.StatusBadRequest, "invalid_request", "from: 不能晚于 to")
		return
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	f.Page = page
	items, err := h.Complaints.List(c.Request.Context(), f)
	if err != nil {
		Fail(c, err)
		return
	}
	respondComplaints(c, items, page)
}

type stepRequest struct {
	Note string `json:"note" binding:"max=1000"`
}

type contactRequest struct {
	Note string `json:"note" binding:"required,max=1000"`
}

// step is one note-carrying transition of a work order: decode the {"note"}
// into req (noteRequired: an empty body is a 400, else it may be absent), run
// the operation, answer the order as it now is.
func (h *StaffComplaintsHandler) step(c *gin.Context, req interface{ note() string }, noteRequired bool,
	run func(ctx context.Context, actor models.Actor, id int64, note string) (complaint.Complaint, error)) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	if noteRequired && !BindJSON(c, req) || !noteRequired && !bindOptional(c, req) {
		return
	}
	out, err := run(c.Request.Context(), Actor(c), id, req.note())
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (r *stepRequest) note() string    { return r.Note }
func (r *contactRequest) note() string { return r.Note }

// Accept takes a submitted or reopened order (optional {"note"}).
func (h *StaffComplaintsHandler) Accept(c *gin.Context) {
	h.step(c, &stepRequest{}, false, h.Steps.Accept)
}

// Contact records that the resident was reached ({"note"} required).
func (h *StaffComplaintsHandler) Contact(c *gin.Context) {
	h.step(c, &contactRequest{}, true, h.Steps.Contact)
}

// Resolve records the resolution ({"resolution", "mediation_agreement", "photo_ids"}).
func (h *StaffComplaintsHandler) Resolve(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in complaint.ResolveInput
	if !BindJSON(c, &in) {
		return
	}
	out, err := h.Steps.Resolve(c.Request.Context(), Actor(c), id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// Stats answers ?from=&to= (local dates, inclusive). Without them: the twelve
// calendar months up to today.
func (h *StaffComplaintsHandler) Stats(c *gin.Context) {
	from, hasFrom, to, hasTo, ok := parseDays(c)
	if !ok {
		return
	}
	today := h.Complaints.Now().In(h.Loc)
	if !hasTo {
		to = models.DateOf(today)
	}
	if !hasFrom {
		t := to.Time()
		from = models.DateOf(time.Date(t.Year(), t.Month()-11, 1, 0, 0, 0, 0, time.UTC))
	}
	if to.Time().Before(from.Time()) {
		Abort(c, http.StatusBadRequest, "invalid_request", "from: 不能晚于 to")
		return
	}
	if to.Time().Sub(from.Time()) > 5*366*24*time.Hour {
		Abort(c, http.StatusBadRequest, "invalid_request", "to: 统计区间不能超过 5 年")
		return
	}
	st, err := h.Reports.Stats(c.Request.Context(), from, to)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}
