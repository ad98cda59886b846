package console

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin/binding"
	"github.com/go-playground/validator/v10"

	"nantian/models"
	"nantian/models/catalog"
	"nantian/models/desk"
)

// Journey 4 — Programs: create and edit programs; add sessions one by one or
// as a weekly series, previewed before saving. Every change is the catalogue
// operation the API's staff routes call (CreateProgram, PatchProgram,
// CreateSession), checked against the same binding rules as the API's JSON, and
// invalidates the API's cached program reads as the API handler does. The
// series is expanded and checked for clashes by desk.PlanSeries; nothing here
// decides what a valid session is.

func (c *Console) routesPrograms() {
	m := c.mux
	m.Handle("GET /console/programs", c.staff(c.programsPage))
	m.Handle("POST /console/programs", c.staff(c.programCreate))
	m.Handle("GET /console/programs/{id}", c.staff(c.programPage))
	m.Handle("POST /console/programs/{id}", c.staff(c.programPatch))
	m.Handle("POST /console/programs/{id}/sessions", c.staff(c.programSessionCreate))
	m.Handle("GET /console/programs/{id}/series", c.staff(c.seriesPreview))
	m.Handle("POST /console/programs/{id}/series", c.staff(c.seriesSave))
}

func (c *Console) programsPage(w http.ResponseWriter, r *http.Request) {
	rows, err := c.d.Desk.Programs(r.Context())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "programs", c.newView(r, "项目", "programs", rows))
}

// validate holds a form's input to the binding rules of the API's JSON body
// (the `binding` tags on catalog.ProgramInput and friends), so a console form
// can accept nothing the API would refuse.
func validate(v any) error {
	err := binding.Validator.ValidateStruct(v)
	var ve validator.ValidationErrors
	if err == nil || !errors.As(err, &ve) || len(ve) == 0 {
		return err
	}
	fe := ve[0]
	label := fieldLabel[fe.Field()]
	if label == "" {
		label = fe.Field()
	}
	msg := "无效"
	switch fe.Tag() {
	case "required":
		msg = "必填"
	case "max":
		msg = "不能超过 " + fe.Param()
		if fe.Kind().String() == "string" {
			msg = "最多 " + fe.Param() + " 个字符"
		}
	case "min":
		msg = "不能小于 " + fe.Param()
		if fe.Kind().String() == "string" {
			msg = "不能为空"
		}
	case "oneof":
		msg = "取值无效"
	}
	return formErr(label + "：" + msg)
}

// fieldLabel names the API's JSON fields for a clerk.
var fieldLabel = map[string]string{
	"kind": "类型", "title": "名称", "description": "介绍", "category": "分类", "audience": "对象",
	"venue": "地点", "fee_fen": "费用", "min_age_months": "最小月龄", "max_age_months": "最大月龄",
	"status": "状态", "capacity": "名额", "starts_at": "开始时间", "ends_at": "结束时间",
	"booking_opens_at": "开放预约时间", "weeks": "周数", "weekdays": "星期", "start": "开始", "end": "结束",
	"from": "开始日期", "opens_days_before": "提前开放天数", "real_name": "姓名", "phone": "手机号",
}

// fieldsInChinese turns a domain message's leading JSON field name
// ("starts_at: 不能早于现在") into the clerk's word for it ("开始时间：不能早于现在").
func fieldsInChinese(msg string) string {
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return msg
	}
	if l, ok := fieldLabel[field]; ok {
		return l + "：" + strings.ReplaceAll(strings.ReplaceAll(rest, "min_age_months", "最小月龄"), "starts_at", "开始时间")
	}
	return msg
}

// optInt reads an optional whole-number field: "" is nil.
func optInt(r *http.Request, name, label string) (*int, error) {
	s := strings.TrimSpace(r.PostFormValue(name))
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, formErr(label + "应为整数")
	}
	return &n, nil
}

// feeFen reads a fee typed in yuan ("30", "12.5") as fen.
func feeFen(r *http.Request) (*int64, error) {
	s := strings.TrimSpace(r.PostFormValue("fee"))
	if s == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e7 {
		return nil, formErr("费用应为不小于 0 的金额（元）")
	}
	fen := int64(math.Round(f * 100))
	return &fen, nil
}

func formStr(r *http.Request, name string) *string {
	if _, ok := r.PostForm[name]; !ok {
		return nil
	}
	s := strings.TrimSpace(r.PostFormValue(name))
	return &s
}

// programForm reads the program form as the API's patch body: every field
// the form carries, nil for those it does not.
func programForm(r *http.Request) (catalog.ProgramPatch, error) {
	_ = r.ParseForm()
	p := catalog.ProgramPatch{Title: formStr(r, "title"), Description: formStr(r, "description"), Category: formStr(r, "category"),
		Audience: formStr(r, "audience"), Venue: formStr(r, "venue"), Status: formStr(r, "status")}
	var err error
	if p.FeeFen, err = feeFen(r); err != nil {
		return p, err
	}
	if p.MinAgeMonths, err = optInt(r, "min_age_months", "最小月龄"); err != nil {
		return p, err
	}
	if p.MaxAgeMonths, err = optInt(r, "max_age_months", "最大月龄"); err != nil {
		return p, err
	}
	if _, ok := r.PostForm["approval"]; ok { // the form always sends the select
		v := r.PostFormValue("approval") == "yes"
		p.RequiresApproval = &v
	}
	return p, nil
}

func (c *Console) programCreate(w http.ResponseWriter, r *http.Request) {
	p, err := programForm(r)
	in := catalog.ProgramInput{Kind: r.PostFormValue("kind"), FeeFen: p.FeeFen, RequiresApproval: p.RequiresApproval,
		MinAgeMonths: p.MinAgeMonths, MaxAgeMonths: p.MaxAgeMonths}
	in.Title, in.Description, in.Category = deref(p.Title), deref(p.Description), deref(p.Category)
	in.Audience, in.Venue = deref(p.Audience), deref(p.Venue)
	if r.PostFormValue("approval") == "" { // "按类型默认"
		in.RequiresApproval = nil
	}
	if err == nil {
		err = validate(&in)
	}
	var prog catalog.Program
	if err == nil {
		prog, err = c.d.Ops.Programs.Create(r.Context(), c.actor(w, r), in)
	}
	if err != nil {
		c.refused(w, r, "/console/programs", err)
		return
	}
	c.done(w, r, programBack(prog.ID), "项目已创建：“"+prog.Title+"”。现在可以添加场次。")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func programBack(id int64) string { return "/console/programs/" + strconv.FormatInt(id, 10) }

func (c *Console) programID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.fail(w, r, http.StatusNotFound, "项目不存在")
		return 0, false
	}
	return id, true
}

type programView struct {
	Program  catalog.Program
	Sessions []catalog.Session
	// Series is the series form's values: the last preview's, or defaults.
	Series seriesForm
	// Plan is set on the preview page.
	Plan *desk.SeriesPlan
	// Picked marks the plan rows to create (by PlannedSession.Key).
	Picked map[string]bool
}

func (c *Console) programPage(w http.ResponseWriter, r *http.Request) {
	v, ok := c.program(w, r)
	if !ok {
		return
	}
	v.Series = defaultSeries(time.Now().In(c.d.Loc))
	c.page(w, r, http.StatusOK, "program", c.newView(r, v.Program.Title, "programs", v))
}

// program reads the program of the path's id with its sessions, answering
// the error page itself when it cannot.
func (c *Console) program(w http.ResponseWriter, r *http.Request) (programView, bool) {
	id, ok := c.programID(w, r)
	if !ok {
		return programView{}, false
	}
	v, err := c.programData(r, id)
	if err != nil {
		c.failErr(w, r, err)
		return programView{}, false
	}
	return v, true
}

func (c *Console) programData(r *http.Request, id int64) (programView, error) {
	p, err := c.d.Catalog.ProgramWithSessions(r.Context(), id)
	if err != nil {
		return programView{}, err
	}
	return programView{Program: p.Program, Sessions: p.Sessions}, nil
}

func (c *Console) programPatch(w http.ResponseWriter, r *http.Request) {
	id, ok := c.programID(w, r)
	if !ok {
		return
	}
	p, err := programForm(r)
	if err == nil {
		err = validate(&p)
	}
	if err == nil {
		_, err = c.d.Ops.Programs.Patch(r.Context(), c.actor(w, r), id, p)
	}
	if err != nil {
		c.refused(w, r, programBack(id), err)
		return
	}
	c.done(w, r, programBack(id), "项目已保存。")
}

// localTime reads a <input type=datetime-local> value in the community's zone.
func (c *Console) localTime(r *http.Request, name, label string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02T15:04", strings.TrimSpace(r.PostFormValue(name)), c.d.Loc)
	if err != nil {
		return time.Time{}, formErr(label + "格式应为 2026-01-31 19:00")
	}
	return t, nil
}

// programSessionCreate adds one session.
func (c *Console) programSessionCreate(w http.ResponseWriter, r *http.Request) {
	id, ok := c.programID(w, r)
	if !ok {
		return
	}
	in, err := c.sessionForm(r)
	if err == nil {
		err = validate(&in)
	}
	if err == nil {
		var s catalog.Session
		s, err = c.createSession(w, r, id, in)
		if err == nil {
			c.done(w, r, programBack(id), fmt.Sprintf("已添加场次：%s %s–%s，名额 %d。",
				s.StartsAt.In(c.d.Loc).Format("2006-01-02"), s.StartsAt.In(c.d.Loc).Format("15:04"), s.EndsAt.In(c.d.Loc).Format("15:04"), s.Capacity))
			return
		}
	}
	c.refused(w, r, programBack(id), err)
}

func (c *Console) sessionForm(r *http.Request) (catalog.SessionInput, error) {
	var in catalog.SessionInput
	var err error
	if in.StartsAt, err = c.localTime(r, "starts_at", "开始时间"); err != nil {
		return in, err
	}
	if in.EndsAt, err = c.localTime(r, "ends_at", "结束时间"); err != nil {
		return in, err
	}
	if s := strings.TrimSpace(r.PostFormValue("booking_opens_at")); s != "" {
		o, err := c.localTime(r, "booking_opens_at", "开放预约时间")
		if err != nil {
			return in, err
		}
		in.BookingOpensAt = &o
	}
	in.Venue = strings.TrimSpace(r.PostFormValue("venue"))
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("capacity")))
	if err != nil {
		return in, formErr("名额应为整数")
	}
	in.Capacity = n
	return in, nil
}

// createSession is the API's POST /staff/programs/{id}/sessions: the same
// operation (audited, the catalogue cache invalidated).
func (c *Console) createSession(w http.ResponseWriter, r *http.Request, programID int64, in catalog.SessionInput) (catalog.Session, error) {
	return c.d.Ops.Programs.CreateSession(r.Context(), c.actor(w, r), programID, in)
}

// seriesForm is the series form as typed, kept to refill it.
type seriesForm struct {
	From, Start, End, Venue string
	Weeks, Capacity, Opens  string
	Days                    map[int]bool
}

func defaultSeries(now time.Time) seriesForm {
	next := now.AddDate(0, 0, 1)
	return seriesForm{From: next.Format("2006-01-02"), Weeks: "8", Start: "19:00", End: "20:30", Capacity: "20", Opens: "0",
		Days: map[int]bool{int(next.Weekday()): true}}
}

func readSeriesForm(q url.Values) seriesForm {
	f := seriesForm{From: q.Get("from"), Weeks: q.Get("weeks"), Start: q.Get("start"), End: q.Get("end"),
		Capacity: q.Get("capacity"), Venue: q.Get("venue"), Opens: q.Get("opens"), Days: map[int]bool{}}
	for _, d := range q["day"] {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 && n <= 6 {
			f.Days[n] = true
		}
	}
	return f
}

// values is the form again as query parameters, for the save form's hidden
// fields and links.
func (f seriesForm) values() url.Values {
	v := url.Values{"from": {f.From}, "weeks": {f.Weeks}, "start": {f.Start}, "end": {f.End}, "capacity": {f.Capacity},
		"venue": {f.Venue}, "opens": {f.Opens}}
	for d := 0; d <= 6; d++ {
		if f.Days[d] {
			v.Add("day", strconv.Itoa(d))
		}
	}
	return v
}

func (c *Console) seriesSpec(f seriesForm) (desk.SeriesSpec, error) {
	from, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(f.From), c.d.Loc)
	if err != nil {
		return desk.SeriesSpec{}, formErr("开始日期格式应为 2026-01-31")
	}
	num := func(s, label string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, formErr(label + "应为整数")
		}
		return n, nil
	}
	spec := desk.SeriesSpec{From: from, Start: f.Start, End: f.End, Venue: f.Venue}
	if spec.Weeks, err = num(f.Weeks, "周数"); err != nil {
		return spec, err
	}
	if spec.Capacity, err = num(f.Capacity, "名额"); err != nil {
		return spec, err
	}
	if strings.TrimSpace(f.Opens) != "" {
		if spec.OpensDaysBefore, err = num(f.Opens, "提前开放天数"); err != nil {
			return spec, err
		}
	}
	for d := 0; d <= 6; d++ {
		if f.Days[d] {
			spec.Weekdays = append(spec.Weekdays, time.Weekday(d))
		}
	}
	return spec, nil
}

// seriesPreview shows every date the series yields, in Asia/Shanghai, with
// those in the past (never created) and those clashing with another session
// (left unticked) marked. Nothing is written.
func (c *Console) seriesPreview(w http.ResponseWriter, r *http.Request) {
	v, ok := c.program(w, r)
	if !ok {
		return
	}
	v.Series = readSeriesForm(r.URL.Query())
	c.showPlan(w, r, v, nil, nil)
}

// showPlan renders the program page with the series plan. picked is nil for a
// fresh preview (every row that can be created and clashes with nothing is
// ticked); refusal, when set, is shown in red above the plan.
func (c *Console) showPlan(w http.ResponseWriter, r *http.Request, v programView, picked map[string]bool, refusal error) {
	spec, err := c.seriesSpec(v.Series)
	var plan desk.SeriesPlan
	if err == nil {
		plan, err = c.d.Desk.PlanSeries(r.Context(), v.Program, spec)
	}
	view := c.newView(r, v.Program.Title, "programs", nil)
	status := http.StatusOK
	if err != nil {
		refusal = err
	} else {
		v.Plan = &plan
		if picked == nil {
			picked = map[string]bool{}
			for _, row := range plan.Rows {
				picked[row.Key()] = !row.Past && len(row.Clashes) == 0
			}
		}
		v.Picked = picked
	}
	if refusal != nil {
		var msg string
		status, msg = errorText(refusal)
		if status >= 500 {
			c.d.Logger.ErrorContext(r.Context(), "console: series", "err", refusal)
		}
		view.Flash = &flash{Kind: "error", Text: msg}
	}
	view.Data = v
	c.page(w, r, status, "program", view)
}

// seriesLocks serialises saving a series per program in this process, so a
// double click cannot pass the fingerprint check twice before either creates.
var seriesLocks sync.Map // program id → *sync.Mutex

// errPlanChanged answers a save whose preview is no longer what the plan is.
var errPlanChanged = &models.Error{Kind: models.KindConflict, Code: "plan_changed", Message: "预览之后场次有变化（可能已保存过，或有日期已过去），请核对新的预览后再保存。"}

// seriesSave creates exactly the previewed sessions that were ticked. The plan
// is made again from the same form; if it differs from what the preview
// showed (its fingerprint), nothing is created and the new preview is shown.
func (c *Console) seriesSave(w http.ResponseWriter, r *http.Request) {
	id, ok := c.programID(w, r)
	if !ok {
		return
	}
	mu, _ := seriesLocks.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	v, err := c.programData(r, id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	_ = r.ParseForm()
	v.Series = readSeriesForm(r.PostForm)
	picked := map[string]bool{}
	for _, k := range r.PostForm["pick"] {
		picked[k] = true
	}
	spec, err := c.seriesSpec(v.Series)
	var plan desk.SeriesPlan
	if err == nil {
		plan, err = c.d.Desk.PlanSeries(r.Context(), v.Program, spec)
	}
	if err != nil {
		c.showPlan(w, r, v, picked, err)
		return
	}
	if plan.Fingerprint != r.PostFormValue("fingerprint") {
		c.showPlan(w, r, v, nil, errPlanChanged)
		return
	}
	var todo []catalog.SessionInput
	for _, row := range plan.Rows {
		if !picked[row.Key()] {
			continue
		}
		if row.Past {
			c.showPlan(w, r, v, picked, formErr("已过去的日期不能创建"))
			return
		}
		todo = append(todo, row.Input)
		delete(picked, row.Key())
	}
	if len(picked) > 0 {
		c.showPlan(w, r, v, nil, formErr("所选日期不在预览中"))
		return
	}
	if len(todo) == 0 {
		c.showPlan(w, r, v, map[string]bool{}, formErr("没有勾选要创建的场次"))
		return
	}
	for i, in := range todo {
		if _, err := c.createSession(w, r, id, in); err != nil {
			_, msg := errorText(err)
			c.setFlash(w, "error", fmt.Sprintf("已创建 %d 场；第 %d 场（%s）未能创建：%s", i, i+1, in.StartsAt.In(c.d.Loc).Format("01-02 15:04"), msg))
			http.Redirect(w, r, programBack(id), http.StatusSeeOther)
			return
		}
	}
	c.done(w, r, programBack(id), fmt.Sprintf("已创建 %d 场。", len(todo)))
}

// formErr is a form value the clerk must correct (400), in words for them.
func formErr(msg string) error {
	return &models.Error{Kind: models.KindInvalid, Code: "invalid_request", Message: msg}
}

// programFuncs are the template functions of the program pages.
func (c *Console) programFuncs() template.FuncMap {
	type day struct {
		N    int
		Name string
	}
	week := []day{{1, "周一"}, {2, "周二"}, {3, "周三"}, {4, "周四"}, {5, "周五"}, {6, "周六"}, {0, "周日"}}
	return template.FuncMap{
		"weekdayList": func() []day { return week },
		"audienceList": func() []string {
			return []string{catalog.AudienceAll, catalog.AudienceElderly, catalog.AudienceChildren, catalog.AudienceYouth}
		},
		"seriesValues": func(f seriesForm) url.Values { return f.values() },
	}
}

// withFuncs adds more template functions to fm.
func withFuncs(fm template.FuncMap, more template.FuncMap) template.FuncMap {
	for k, f := range more {
		fm[k] = f
	}
	return fm
}
