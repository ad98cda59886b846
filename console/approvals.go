package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"nantian/models"
	"nantian/models/desk"
)

// Journey 2 — Approvals: pending bookings oldest first with the participant
// (a child's age on the day, the guardian), confirm one or many, reject with a
// reason. Confirm and Reject are the booking engine's operations the API's
// staff routes call; they notify the resident through the outbox.

type approvalsView struct {
	Items     []desk.PendingBooking
	SessionID int64
}

func (c *Console) approvalsPage(w http.ResponseWriter, r *http.Request) {
	sid, _ := strconv.ParseInt(r.URL.Query().Get("session"), 10, 64)
	items, err := c.d.Desk.PendingQueue(r.Context(), max(sid, 0))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "approvals", c.newView(r, "预约审核", "approvals", approvalsView{Items: items, SessionID: sid}))
}

// approvalsBack is where a decision returns to: the queue, still filtered.
func approvalsBack(r *http.Request) string {
	if sid, err := strconv.ParseInt(r.PostFormValue("session"), 10, 64); err == nil && sid > 0 {
		return "/console/approvals?session=" + strconv.FormatInt(sid, 10)
	}
	return "/console/approvals"
}

// approvalsConfirm confirms the ticked bookings (ids), or the one whose row
// button was pressed (one). Each is its own guarded transition: one that was
// decided meanwhile fails alone and is named.
func (c *Console) approvalsConfirm(w http.ResponseWriter, r *http.Request) {
	var ids []int64
	if one := r.PostFormValue("one"); one != "" {
		ids = parseIDs([]string{one})
	} else {
		ids = parseIDs(r.PostForm["ids"])
	}
	back := approvalsBack(r)
	if len(ids) == 0 {
		c.refused(w, r, back, models.Invalid("ids", "请先勾选要确认的预约"))
		return
	}
	var failed []string
	done := 0
	for _, id := range ids {
		_, err := c.d.Ops.Bookings.Confirm(r.Context(), c.actor(w, r), id)
		if err == nil {
			done++
		} else {
			_, msg := errorText(err)
			failed = append(failed, fmt.Sprintf("#%d %s", id, msg))
		}
	}
	if len(failed) > 0 {
		c.setFlash(w, "error", fmt.Sprintf("已确认 %d 条；%d 条未能确认：%s", done, len(failed), strings.Join(failed, "；")))
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	c.done(w, r, back, fmt.Sprintf("已确认 %d 条预约，已通知居民。", done))
}

// approvalsReject rejects one booking with the reason typed in its row.
func (c *Console) approvalsReject(w http.ResponseWriter, r *http.Request) {
	back := approvalsBack(r)
	ids := parseIDs([]string{r.PostFormValue("reject")})
	if len(ids) != 1 {
		c.refused(w, r, back, models.Invalid("reject", "缺少预约编号"))
		return
	}
	id := ids[0]
	reason := strings.TrimSpace(r.PostFormValue("reason-" + strconv.FormatInt(id, 10)))
	if reason == "" {
		c.refused(w, r, back, models.Invalid("reason", "请填写拒绝原因，居民会收到它"))
		return
	}
	if len([]rune(reason)) > 200 { // the API's limit (max=200)
		c.refused(w, r, back, models.Invalid("reason", "拒绝原因最多 200 字"))
		return
	}
	if _, err := c.d.Ops.Bookings.Reject(r.Context(), c.actor(w, r), id, reason); err != nil {
		c.refused(w, r, back, err)
		return
	}
	c.done(w, r, back, fmt.Sprintf("已拒绝预约 #%d，已通知居民。", id))
}

// parseIDs keeps the positive integer ids of a form list, at most 200.
func parseIDs(vals []string) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, v := range vals {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil && id > 0 && !seen[id] && len(out) < 200 {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
