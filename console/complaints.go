package console

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"nantian/models"
	"nantian/models/complaint"
)

// Journey 5 — Complaints (民意速办): the queue ordered by the nearest 10-30-24
// deadline with live countdowns (overdue in red), filters, and a work order's
// page with photos, timeline and the accept / contact / resolve actions. The
// queue refreshes itself every 5 s, so new work orders appear without a reload.

// complaintQuery is the queue's filter as it appears in the URL.
type complaintQuery struct {
	Status, Category, Estate string
}

func readComplaintQuery(r *http.Request) complaintQuery {
	q := r.URL.Query()
	return complaintQuery{Status: q.Get("status"), Category: q.Get("category"), Estate: q.Get("estate")}
}

// Encode is the query string of the filter (for the refresh and the links back).
func (q complaintQuery) Encode() string {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "category": q.Category, "estate": q.Estate} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// complaintsView is the queue page's data.
type complaintsView struct {
	Query      complaintQuery
	Items      []complaint.QueueItem
	Overdue    int
	Statuses   []string
	Categories []string
	Estates    []string
	Now        time.Time
}

func (c *Console) complaintsData(r *http.Request) (complaintsView, error) {
	q := readComplaintQuery(r)
	items, err := c.d.Complaints.Queue(r.Context(), complaint.ComplaintFilter{Status: q.Status, Category: q.Category, Estate: q.Estate})
	if err != nil {
		return complaintsView{}, err
	}
	estates, err := models.EstateNames(r.Context(), c.d.DB)
	if err != nil {
		return complaintsView{}, err
	}
	v := complaintsView{Query: q, Items: items, Statuses: complaint.ComplaintStatuses, Categories: complaint.ComplaintCategories,
		Estates: estates, Now: time.Now()}
	for _, it := range items {
		if it.Overdue {
			v.Overdue++
		}
	}
	return v, nil
}

func (c *Console) complaintsPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.complaintsData(r)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "complaints", c.newView(r, "民意速办", "complaints", v))
}

// complaintsQueue is the queue table alone, for the 5 s refresh.
func (c *Console) complaintsQueue(w http.ResponseWriter, r *http.Request) {
	v, err := c.complaintsData(r)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.fragment(w, r, http.StatusOK, "complaints", "queue", c.newView(r, "民意速办", "complaints", v))
}

// complaintView is one work order's page.
type complaintView struct {
	C      complaint.Complaint
	Step   string
	DueAt  time.Time
	Filer  string
	Back   string
	Photos []int64
}

func (c *Console) complaintPage(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "诉求不存在")
		return
	}
	me := callerOf(r)
	cp, err := c.d.Complaints.Get(r.Context(), id, me.Principal, true)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	v := complaintView{C: cp, Step: complaint.CurrentStep(cp.Status), Back: "/console/complaints"}
	if v.Step != "" {
		v.DueAt = cp.DueAt(v.Step)
	}
	if u, err := c.d.Users.Get(r.Context(), cp.UserID); err == nil {
		v.Filer = residentName(u)
	}
	if ref := r.URL.Query().Get("from"); strings.HasPrefix(ref, "/console/complaints") {
		v.Back = ref
	}
	c.page(w, r, http.StatusOK, "complaint", c.newView(r, "诉求 #"+strconv.FormatInt(id, 10), "complaints", v))
}

// complaintAction runs one step of the 10-30-24 workflow through the same
// domain operation the API's staff routes call, then shows the work order again.
func (c *Console) complaintAction(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "诉求不存在")
		return
	}
	to := "/console/complaints/" + strconv.FormatInt(id, 10)
	ctx, steps, actor := r.Context(), c.d.Ops.Complaints, c.actor(w, r)
	var err error
	var msg string
	switch r.PathValue("action") {
	case "accept":
		_, err = steps.Accept(ctx, actor, id, r.FormValue("note"))
		msg = "已受理，请在 30 分钟时限内联系居民。"
	case "contact":
		_, err = steps.Contact(ctx, actor, id, r.FormValue("note"))
		msg = "已记录联系情况。"
	case "resolve":
		_, err = steps.Resolve(ctx, actor, id, complaint.ResolveInput{
			Resolution:         r.FormValue("resolution"),
			MediationAgreement: r.FormValue("mediation_agreement") == "1",
		})
		msg = "已办结，居民会收到通知并评价。"
	default:
		c.fail(w, r, http.StatusNotFound, "页面不存在")
		return
	}
	if err != nil {
		c.refused(w, r, to, err)
		return
	}
	c.done(w, r, to, msg)
}

// uploadFile serves a work order's photo to staff (the API's GET
// /api/v1/uploads/{id}, for a cookie session).
func (c *Console) uploadFile(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	u, err := c.d.Uploads.Get(r.Context(), id, callerOf(r).Principal)
	if err != nil {
		status, _ := errorText(err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	f, err := c.d.Uploads.Open(u)
	if err != nil {
		http.Error(w, "照片无法读取", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", u.ContentType)
	w.Header().Set("Content-Length", strconv.FormatInt(u.Size, 10))
	w.Header().Set("Cache-Control", "private, max-age=86400")
	_, _ = io.Copy(w, f)
}

// pathID reads the {id} path value.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// complaintStatusText names statuses for staff.
var complaintStatusText = map[string]string{
	complaint.ComplaintSubmitted: "待受理", complaint.ComplaintAccepted: "已受理", complaint.ComplaintContacted: "已联系",
	complaint.ComplaintResolved: "已办结", complaint.ComplaintClosed: "已关闭", complaint.ComplaintReopened: "重办待受理",
}

// stepText names the limit a work order is racing.
var stepText = map[string]string{
	complaint.StepAccept: "受理", complaint.StepContact: "联系居民", complaint.StepResolve: "办结",
}

var actorRoleText = map[string]string{
	models.RoleResident: "居民", models.RoleStaff: "工作人员", models.RoleAdmin: "管理员", complaint.ActorSystem: "系统",
}

// remainText is the countdown's text without JavaScript: "剩 7 分", "超时 3 分",
// "剩 5 时 20 分".
func remainText(due, now time.Time) string {
	d := due.Sub(now)
	prefix := "剩 "
	if d < 0 {
		prefix, d = "超时 ", -d
	}
	m := int(d / time.Minute)
	if m < 60 {
		return prefix + strconv.Itoa(m) + " 分"
	}
	return prefix + strconv.Itoa(m/60) + " 时 " + strconv.Itoa(m%60) + " 分"
}
