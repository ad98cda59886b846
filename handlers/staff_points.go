package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/models/ops"
	"nantian/models/points"
)

// StaffPointsHandler serves staff: bins, rewards, pickups, adjustments, statistics.
type StaffPointsHandler struct {
	Devices *points.Devices // reads
	Points  *points.Points  // reads
	// Ops are the points' staff operations (audited).
	Ops *ops.Points
}

// DeviceSecret is the one-time answer carrying a bin's secret.
type DeviceSecret struct {
	DeviceID int64  `json:"device_id"`
	Secret   string `json:"secret"`
	points.Device
}

// CreateDevice registers a bin: 201 with its secret, shown this once.
func (h *StaffPointsHandler) CreateDevice(c *gin.Context) {
	var in points.DeviceInput
	if !BindJSON(c, &in) {
		return
	}
	d, secret, err := h.Ops.CreateDevice(c.Request.Context(), Actor(c), in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, DeviceSecret{DeviceID: d.ID, Secret: secret, Device: d})
}

// ListDevices lists bins, optionally of one ?estate=.
func (h *StaffPointsHandler) ListDevices(c *gin.Context) {
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Devices.List(c.Request.Context(), c.Query("estate"), page)
	writePage(c, page, items, err, func(x points.Device) int64 { return x.ID })
}

func (h *StaffPointsHandler) setDeviceStatus(c *gin.Context, to string) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	d, err := h.Ops.SetDeviceStatus(c.Request.Context(), Actor(c), id, to)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// DisableDevice stops a bin's events being accepted (401 from then on).
func (h *StaffPointsHandler) DisableDevice(c *gin.Context) {
	h.setDeviceStatus(c, points.DeviceDisabled)
}

// EnableDevice re-enables a disabled bin.
func (h *StaffPointsHandler) EnableDevice(c *gin.Context) { h.setDeviceStatus(c, points.DeviceActive) }

// RotateDevice issues a new secret; the old one stops working at once.
func (h *StaffPointsHandler) RotateDevice(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	d, secret, err := h.Ops.RotateDevice(c.Request.Context(), Actor(c), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, DeviceSecret{DeviceID: d.ID, Secret: secret, Device: d})
}

// CreateReward adds a reward.
func (h *StaffPointsHandler) CreateReward(c *gin.Context) {
	var in points.RewardInput
	if !BindJSON(c, &in) {
		return
	}
	r, err := h.Ops.CreateReward(c.Request.Context(), Actor(c), in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

// PatchReward edits a reward (name, cost, stock, active).
func (h *StaffPointsHandler) PatchReward(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in points.RewardPatch
	if !BindJSON(c, &in) {
		return
	}
	r, err := h.Ops.PatchReward(c.Request.Context(), Actor(c), id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// ListRewards lists every reward, inactive ones too.
func (h *StaffPointsHandler) ListRewards(c *gin.Context) {
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Points.ListRewards(c.Request.Context(), false, page)
	writePage(c, page, items, err, func(x points.Reward) int64 { return x.ID })
}

// ListRedemptions lists redemptions (?status=), newest first.
func (h *StaffPointsHandler) ListRedemptions(c *gin.Context) {
	status := c.Query("status")
	if !validRedemptionStatus(status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 必须是 pending|fulfilled|cancelled 之一")
		return
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Points.ListRedemptions(c.Request.Context(), points.RedemptionFilter{Status: status, Page: page})
	writePage(c, page, items, err, func(x points.Redemption) int64 { return x.ID })
}

// Fulfil hands a reward over by its pickup code.
func (h *StaffPointsHandler) Fulfil(c *gin.Context) {
	code := strings.TrimSpace(c.Param("pickup_code"))
	if len(code) != 8 {
		Abort(c, http.StatusNotFound, "not_found", "资源不存在")
		return
	}
	r, err := h.Ops.Fulfil(c.Request.Context(), Actor(c), code)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// AdjustmentEntry is the staff view of an adjustment: who made it and why.
type AdjustmentEntry struct {
	points.LedgerEntry
	UserID  int64 `json:"user_id"`
	ActorID int64 `json:"actor_id"`
}

// Adjust records a signed correction with a reason and the staff id.
func (h *StaffPointsHandler) Adjust(c *gin.Context) {
	var in points.AdjustmentInput
	if !BindJSON(c, &in) {
		return
	}
	e, err := h.Ops.Adjust(c.Request.Context(), Actor(c), in)
	if err != nil {
		Fail(c, err)
		return
	}
	out := AdjustmentEntry{LedgerEntry: e, UserID: e.UserID}
	if e.ActorID != nil {
		out.ActorID = *e.ActorID
	}
	c.JSON(http.StatusCreated, out)
}

// Stats returns deposits, kilograms, participants and points by estate and month
// for ?from=YYYY-MM-DD&to=YYYY-MM-DD (default: this year so far, APP_TIMEZONE).
func (h *StaffPointsHandler) Stats(c *gin.Context) {
	now := h.Points.Now().In(h.Points.Loc)
	from := models.DateOf(time.Date(now.Year(), 1, 1, 0, 0, 0, 0, h.Points.Loc))
	to := models.DateOf(now)
	var err error
	if s := c.Query("from"); s != "" {
		if from, err = models.ParseDate(s); err != nil {
			Abort(c, http.StatusBadRequest, "invalid_request", "from: 日期格式应为 YYYY-MM-DD")
			return
		}
	}
	if s := c.Query("to"); s != "" {
		if to, err = models.ParseDate(s); err != nil {
			Abort(c, http.StatusBadRequest, "invalid_request", "to: 日期格式应为 YYYY-MM-DD")
			return
		}
	}
	if to.Time().Before(from.Time()) {
		Abort(c, http.StatusBadRequest, "invalid_request", "to: 不能早于 from")
		return
	}
	st, err := points.DepositStats(c.Request.Context(), h.Points.DB, from, to)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}
