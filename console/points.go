package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/points"
)

// Journey 6 — Points desk (厨余垃圾积分): hand over redeemed rewards by pickup
// code (the scanner types it and Enter, or the clerk does), keep the rewards and
// their stock, and register bins — a new bin's secret is shown once, on the page
// that answers the registration, and never again.

const pageLimit = 200

// pointsView is the desk's data.
type pointsView struct {
	Waiting []points.Redemption
	Rewards []points.Reward
	Devices []points.Device
	Estates []string
	// NewDevice and Secret are set only on the answer to a registration.
	NewDevice *points.Device
	Secret    string
}

func (c *Console) pointsData(r *http.Request) (pointsView, error) {
	ctx := r.Context()
	var v pointsView
	var err error
	if v.Waiting, err = c.d.Points.ListRedemptions(ctx, points.RedemptionFilter{Status: points.RedemptionPending, Page: models.Page{Limit: pageLimit}}); err != nil {
		return v, err
	}
	if v.Rewards, err = c.d.Points.ListRewards(ctx, false, models.Page{Limit: pageLimit}); err != nil {
		return v, err
	}
	if v.Devices, err = c.d.Devices.List(ctx, "", models.Page{Limit: pageLimit}); err != nil {
		return v, err
	}
	v.Estates, err = models.EstateNames(ctx, c.d.DB)
	return v, err
}

func (c *Console) pointsPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.pointsData(r)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "points", c.newView(r, "积分兑换", "points", v))
}

// fulfilLine is one answer in the scan log.
type fulfilLine struct {
	OK         bool
	Code, Text string
	Reward     string
	Who        string
}

// fulfil hands a reward over by pickup code through the domain's Fulfil (the
// API's POST /staff/redemptions/{code}/fulfil). From the scan box (htmx) it
// answers one log line; a plain form post goes back to the desk with a message.
func (c *Console) fulfil(w http.ResponseWriter, r *http.Request) {
	code := strings.ToUpper(strings.TrimSpace(r.FormValue("code")))
	line := fulfilLine{Code: code}
	var red points.Redemption
	var err error
	if code != "" { // nothing typed is no attempt
		red, err = c.d.Ops.Points.Fulfil(r.Context(), c.actor(w, r), code)
	}
	switch {
	case code == "":
		line.Text = "请输入取货码"
	case err == nil:
		line.OK, line.Reward = true, red.RewardName
		line.Text = "已兑换：" + red.RewardName + "（" + strconv.Itoa(red.CostPoints) + " 积分）"
		if u, uerr := c.d.Users.Get(r.Context(), red.UserID); uerr == nil {
			line.Who = residentName(u)
		}
	case isKind(err, models.KindNotFound):
		line.Text = "取货码不存在，请核对"
	case isKind(err, models.KindConflict):
		line.Text = "此取货码已兑换或已取消，不能重复领取"
	default:
		_, line.Text = errorText(err)
		if status, _ := errorText(err); status >= 500 {
			c.d.Logger.ErrorContext(r.Context(), "console: fulfil", "err", err)
		}
	}
	if r.Header.Get("HX-Request") == "true" {
		c.fragment(w, r, http.StatusOK, "points", "scanline", c.newView(r, "", "points", line))
		return
	}
	msg := line.Text
	if line.Who != "" {
		msg += " · " + line.Who
	}
	if line.OK {
		c.done(w, r, "/console/points", code+" "+msg)
		return
	}
	c.setFlash(w, "error", code+" "+msg)
	http.Redirect(w, r, "/console/points", http.StatusSeeOther)
}

// createReward adds a reward (the API's POST /staff/rewards).
func (c *Console) createReward(w http.ResponseWriter, r *http.Request) {
	cost, _ := strconv.Atoi(r.FormValue("cost_points"))
	stock, _ := strconv.Atoi(r.FormValue("stock"))
	in := points.RewardInput{
		Name: strings.TrimSpace(r.FormValue("name")), Description: strings.TrimSpace(r.FormValue("description")),
		CostPoints: cost, Stock: stock,
	}
	rw, err := c.d.Ops.Points.CreateReward(r.Context(), c.actor(w, r), in)
	if err != nil {
		c.refused(w, r, "/console/points#rewards", err)
		return
	}
	c.done(w, r, "/console/points#rewards", "已添加奖品："+rw.Name)
}

// patchReward sets a reward's stock or takes it on or off the shelf (the API's
// PATCH /staff/rewards/{id}).
func (c *Console) patchReward(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "奖品不存在")
		return
	}
	var p points.RewardPatch
	if s := r.FormValue("stock"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			c.refused(w, r, "/console/points#rewards", models.Invalid("stock", "必须是整数"))
			return
		}
		p.Stock = &n
	}
	if a := r.FormValue("active"); a != "" {
		on := a == "1"
		p.Active = &on
	}
	rw, err := c.d.Ops.Points.PatchReward(r.Context(), c.actor(w, r), id, p)
	if err != nil {
		c.refused(w, r, "/console/points#rewards", err)
		return
	}
	msg := "已更新：" + rw.Name + "，库存 " + strconv.Itoa(rw.Stock)
	if p.Active != nil && *p.Active {
		msg = "已上架：" + rw.Name
	} else if p.Active != nil {
		msg = "已下架：" + rw.Name
	}
	c.done(w, r, "/console/points#rewards", msg)
}

// createDevice registers a bin (the API's POST /staff/devices) and answers with
// the desk showing its secret once. The answer is the POST's own page (no
// redirect, no-store), so the secret is in no cookie, URL or later page.
func (c *Console) createDevice(w http.ResponseWriter, r *http.Request) {
	in := points.DeviceInput{Estate: strings.TrimSpace(r.FormValue("estate")), Name: strings.TrimSpace(r.FormValue("name"))}
	dev, secret, err := c.d.Ops.Points.CreateDevice(r.Context(), c.actor(w, r), in) // the secret is never audited
	if err != nil {
		c.refused(w, r, "/console/points#bins", err)
		return
	}
	v, err := c.pointsData(r)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	v.NewDevice, v.Secret = &dev, secret
	view := c.newView(r, "积分兑换", "points", v)
	view.Flash = &flash{Kind: "ok", Text: "已登记垃圾桶「" + dev.Name + "」。密钥只显示这一次，请立即配置到设备中。"}
	c.page(w, r, http.StatusOK, "points", view)
}

// deviceStatus disables or re-enables a bin (the API's POST
// /staff/devices/{id}/disable|enable).
func (c *Console) deviceStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "设备不存在")
		return
	}
	to := points.DeviceDisabled
	word := "已停用"
	if r.PathValue("action") == "enable" {
		to, word = points.DeviceActive, "已启用"
	} else if r.PathValue("action") != "disable" {
		c.fail(w, r, http.StatusNotFound, "页面不存在")
		return
	}
	dev, err := c.d.Ops.Points.SetDeviceStatus(r.Context(), c.actor(w, r), id, to)
	if err != nil {
		c.refused(w, r, "/console/points#bins", err)
		return
	}
	c.done(w, r, "/console/points#bins", word+"垃圾桶「"+dev.Name+"」")
}

func isKind(err error, k models.Kind) bool {
	var e *models.Error
	return errors.As(err, &e) && e.Kind == k
}

// residentName is how staff see a resident: the real name, else the nickname,
// else the account number.
func residentName(u account.User) string {
	switch {
	case u.RealName != "":
		return u.RealName
	case u.Nickname != "":
		return u.Nickname
	}
	return "居民 #" + strconv.FormatInt(u.ID, 10)
}
