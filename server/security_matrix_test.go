package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Who may call a route.
type accessLevel int

const (
	public    accessLevel = iota // anyone, no token
	loggedIn                     // any logged-in user: no token → 401
	staffOnly                    // staff and admin: no token → 401, resident → 403
	adminOnly                    // admin: resident and staff → 403
	device                       // smart bins: HMAC headers, bearer tokens mean nothing → 401
)

// resource names what a route's :id is, for routes where one resident's id must
// be 404 to another resident.
type resource string

const (
	none         resource = ""
	resBooking   resource = "booking"
	resChild     resource = "child"
	resComplaint resource = "complaint"
	resUpload    resource = "upload"
)

// routeRule is the declared expectation for one route.
type routeRule struct {
	level accessLevel
	owned resource // the :id belongs to a resident; another resident gets 404
	// staffSees: staff may read the owned resource (api.md: "owner or staff").
	staffSees bool
}

// routeRules declares, for every route the router has, who may call it. The
// matrix test walks the router's own route list, so a route added without a line
// here fails the test.
var routeRules = map[string]routeRule{
	"GET /healthz":              {level: public},
	"GET /readyz":               {level: public},
	"GET /api/v1/openapi.yaml":  {level: public},
	"POST /api/v1/auth/wechat":  {level: public},
	"POST /api/v1/auth/refresh": {level: public},
	"GET /api/v1/programs":      {level: public},
	"GET /api/v1/programs/:id":  {level: public},
	"GET /api/v1/sessions/:id":  {level: public},

	"POST /api/v1/auth/logout":              {level: loggedIn},
	"GET /api/v1/me":                        {level: loggedIn},
	"PATCH /api/v1/me":                      {level: loggedIn},
	"GET /api/v1/me/export":                 {level: loggedIn},
	"DELETE /api/v1/me":                     {level: loggedIn},
	"POST /api/v1/me/phone":                 {level: loggedIn},
	"POST /api/v1/me/subscriptions":         {level: loggedIn},
	"GET /api/v1/me/children":               {level: loggedIn},
	"POST /api/v1/me/children":              {level: loggedIn},
	"GET /api/v1/me/children/:id":           {level: loggedIn, owned: resChild},
	"PATCH /api/v1/me/children/:id":         {level: loggedIn, owned: resChild},
	"DELETE /api/v1/me/children/:id":        {level: loggedIn, owned: resChild},
	"GET /api/v1/bookings":                  {level: loggedIn},
	"POST /api/v1/bookings":                 {level: loggedIn},
	"GET /api/v1/bookings/:id":              {level: loggedIn, owned: resBooking, staffSees: true},
	"POST /api/v1/bookings/:id/cancel":      {level: loggedIn, owned: resBooking},
	"GET /api/v1/bookings/:id/calendar.ics": {level: loggedIn, owned: resBooking}, // owner only
	"POST /api/v1/programs/:id/enrollments": {level: loggedIn},
	"POST /api/v1/bookings/:id/payment":     {level: loggedIn, owned: resBooking}, // owner only
	"POST /api/v1/uploads":                  {level: loggedIn},
	"GET /api/v1/uploads/:id":               {level: loggedIn, owned: resUpload, staffSees: true},
	"GET /api/v1/complaints":                {level: loggedIn},
	"POST /api/v1/complaints":               {level: loggedIn},
	"GET /api/v1/complaints/:id":            {level: loggedIn, owned: resComplaint, staffSees: true},
	"POST /api/v1/complaints/:id/rating":    {level: loggedIn, owned: resComplaint},
	"POST /api/v1/complaints/:id/reopen":    {level: loggedIn, owned: resComplaint},
	"POST /api/v1/points/code":              {level: loggedIn},
	"GET /api/v1/points":                    {level: loggedIn},
	"GET /api/v1/points/ledger":             {level: loggedIn},
	"GET /api/v1/rewards":                   {level: loggedIn},
	"GET /api/v1/redemptions":               {level: loggedIn},
	"POST /api/v1/redemptions":              {level: loggedIn},

	"POST /api/v1/staff/console-logins":                             {level: staffOnly},
	"POST /api/v1/staff/programs":                                   {level: staffOnly},
	"PATCH /api/v1/staff/programs/:id":                              {level: staffOnly},
	"POST /api/v1/staff/programs/:id/sessions":                      {level: staffOnly},
	"PATCH /api/v1/staff/sessions/:id":                              {level: staffOnly},
	"POST /api/v1/staff/sessions/:id/cancel":                        {level: staffOnly},
	"POST /api/v1/staff/sessions/:id/close":                         {level: staffOnly},
	"GET /api/v1/staff/sessions/:id/roster.csv":                     {level: staffOnly},
	"GET /api/v1/staff/bookings":                                    {level: staffOnly},
	"POST /api/v1/staff/bookings/:id/confirm":                       {level: staffOnly},
	"POST /api/v1/staff/bookings/:id/reject":                        {level: staffOnly},
	"POST /api/v1/staff/checkins":                                   {level: staffOnly},
	"GET /api/v1/staff/complaints":                                  {level: staffOnly},
	"GET /api/v1/staff/complaints/stats":                            {level: staffOnly},
	"POST /api/v1/staff/complaints/:id/accept":                      {level: staffOnly},
	"POST /api/v1/staff/complaints/:id/contact":                     {level: staffOnly},
	"POST /api/v1/staff/complaints/:id/resolve":                     {level: staffOnly},
	"GET /api/v1/staff/devices":                                     {level: staffOnly},
	"POST /api/v1/staff/devices":                                    {level: staffOnly},
	"POST /api/v1/staff/devices/:id/disable":                        {level: staffOnly},
	"POST /api/v1/staff/devices/:id/enable":                         {level: staffOnly},
	"POST /api/v1/staff/devices/:id/rotate-secret":                  {level: staffOnly},
	"GET /api/v1/staff/rewards":                                     {level: staffOnly},
	"POST /api/v1/staff/rewards":                                    {level: staffOnly},
	"PATCH /api/v1/staff/rewards/:id":                               {level: staffOnly},
	"GET /api/v1/staff/redemptions":                                 {level: staffOnly},
	"POST /api/v1/staff/redemptions/:pickup_code/fulfil":            {level: staffOnly},
	"POST /api/v1/staff/points/adjustments":                         {level: staffOnly},
	"GET /api/v1/staff/points/stats":                                {level: staffOnly},
	"POST /api/v1/staff/imports/sessions":                           {level: staffOnly},
	"GET /api/v1/staff/reports/annual":                              {level: staffOnly},
	"GET /api/v1/staff/payments":                                    {level: staffOnly},
	"GET /api/v1/staff/payments/summary":                            {level: staffOnly},
	"GET /api/v1/staff/payments.csv":                                {level: staffOnly},
	"POST /api/v1/staff/bookings/:id/refund":                        {level: staffOnly},
	"POST /api/v1/staff/residents":                                  {level: staffOnly},
	"GET /api/v1/staff/residents":                                   {level: staffOnly},
	"GET /api/v1/staff/residents/:id":                               {level: staffOnly},
	"POST /api/v1/staff/residents/:id/children":                     {level: staffOnly},
	"GET /api/v1/staff/residents/:id/bookings":                      {level: staffOnly},
	"POST /api/v1/staff/residents/:id/bookings":                     {level: staffOnly},
	"POST /api/v1/staff/residents/:id/enrollments":                  {level: staffOnly},
	"POST /api/v1/staff/residents/:id/bookings/:booking_id/cancel":  {level: staffOnly},
	"POST /api/v1/staff/residents/:id/bookings/:booking_id/checkin": {level: staffOnly},

	"PUT /api/v1/admin/users/:id/role": {level: adminOnly},
	"GET /api/v1/admin/audit":          {level: adminOnly},

	"POST /api/v1/devices/deposits":       {level: device},
	"POST /api/v1/devices/deposits/batch": {level: device},

	// Called by WeChat Pay: no token; every body is verified (answered XML FAIL
	// when it does not), so anyone may call them.
	"POST /api/v1/payments/wechat/notify":        {level: public},
	"POST /api/v1/payments/wechat/refund-notify": {level: public},
}

// validBodies are well-formed bodies for owned routes, so the answer another
// resident gets is about ownership, not about a missing field.
var validBodies = map[string]map[string]any{
	"POST /api/v1/complaints/:id/rating": {"score": 5, "comment": "好"},
	"POST /api/v1/complaints/:id/reopen": {"reason": "还没修好"},
	"PATCH /api/v1/me/children/:id":      {"allergies": "无"},
	"POST /api/v1/bookings/:id/cancel":   {},
}

// TestSecurityMatrix calls every route of the router without a token, as a
// resident, as staff and as an admin, and for resident-owned ids as another
// resident, and checks each answer against the route's declared rule. No call may
// end in a 5xx.
func TestSecurityMatrix(t *testing.T) {
	a := newPayApp(t).testApp // with a (fake) merchant: the payment routes answer for real
	owner, _ := a.resident("mx-owner")
	other, _ := a.resident("mx-other")
	staffTok, _ := a.staff("mx-staff")
	adminTok, _ := a.staff("mx-admin", "admin")

	// One resource of each kind, owned by `owner`.
	ids := map[resource]int64{}
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "安全矩阵活动", "requires_approval": false})
	sid := a.createSession(staffTok, pid, 72*time.Hour, 5)
	r := a.do("POST", "/api/v1/bookings", owner, map[string]any{"session_id": sid})
	if r.Status != http.StatusCreated {
		t.Fatalf("fixture resBooking: %d %s", r.Status, r.Body)
	}
	ids[resBooking] = int64(r.JSON(t)["id"].(float64))
	r = a.do("POST", "/api/v1/me/children", owner, map[string]any{"name": "矩阵", "birth_date": "2024-01-01", "guardian_consent": true})
	if r.Status != http.StatusCreated {
		t.Fatalf("fixture resChild: %d %s", r.Status, r.Body)
	}
	ids[resChild] = int64(r.JSON(t)["id"].(float64))
	ids[resUpload] = a.uploadPhoto(owner)
	// Attached: staff see a photo only once it is part of a work order.
	ids[resComplaint] = a.fileComplaint(owner, map[string]any{"photo_ids": []int64{ids[resUpload]}})

	seen := map[string]bool{}
	for _, rt := range routeList(a) {
		key := rt.Method + " " + rt.Path
		if isConsoleRoute(rt.Path) {
			continue // the staff console's own pages and cookie login: console tests
		}
		seen[key] = true
		rule, ok := routeRules[key]
		if !ok {
			t.Errorf("route %s has no declared rule in routeRules: declare who may call it", key)
			continue
		}
		path := strings.NewReplacer(":pickup_code", "NOPE0000", ":booking_id", "999999998", ":id", "999999999").Replace(rt.Path)
		if rule.owned != none {
			path = strings.Replace(rt.Path, ":id", fmt.Sprint(ids[rule.owned]), 1)
		}
		body := validBodies[key]
		if body == nil {
			body = map[string]any{}
		}
		call := func(who, token string) int {
			t.Helper()
			r := a.do(rt.Method, path, token, body)
			if r.Status >= 500 {
				t.Errorf("%s as %s: %d %s", key, who, r.Status, r.Body)
			}
			return r.Status
		}
		denied := func(s int) bool { return s == http.StatusUnauthorized || s == http.StatusForbidden }
		anon := call("anonymous", "")
		switch rule.level {
		case public:
			if denied(anon) {
				t.Errorf("%s is public but anonymous got %d", key, anon)
			}
			continue
		case device:
			if anon != http.StatusUnauthorized {
				t.Errorf("%s without device signature: %d", key, anon)
			}
			if s := call("resident", other); s != http.StatusUnauthorized {
				t.Errorf("%s with a user token instead of a device signature: %d", key, s)
			}
			continue
		}
		if anon != http.StatusUnauthorized {
			t.Errorf("%s without token: %d, want 401", key, anon)
		}
		resTok, stTok, admTok := other, staffTok, adminTok
		if key == "POST /api/v1/auth/logout" || key == "DELETE /api/v1/me" { // would end the shared users' logins
			resTok, _ = a.resident("mx-lo1")
			stTok, _ = a.staff("mx-lo2")
			admTok, _ = a.staff("mx-lo3", "admin")
		}
		res := call("resident", resTok)
		st := call("staff", stTok)
		adm := call("admin", admTok)
		switch rule.level {
		case loggedIn:
			if rule.owned != none {
				if res != http.StatusNotFound {
					t.Errorf("%s: another resident's %s answered %d, want 404", key, rule.owned, res)
				}
				if rule.staffSees && denied(st) || !rule.staffSees && st != http.StatusNotFound {
					t.Errorf("%s: staff got %d (staffSees=%v)", key, st, rule.staffSees)
				}
			} else if denied(res) || denied(st) || denied(adm) {
				t.Errorf("%s: a logged-in user was refused (%d/%d/%d)", key, res, st, adm)
			}
		case staffOnly:
			if res != http.StatusForbidden || denied(st) || denied(adm) {
				t.Errorf("%s: resident %d (want 403), staff %d, admin %d", key, res, st, adm)
			}
		case adminOnly:
			if res != http.StatusForbidden || st != http.StatusForbidden || denied(adm) {
				t.Errorf("%s: resident %d, staff %d (want 403s), admin %d", key, res, st, adm)
			}
		}
	}
	for key := range routeRules {
		if !seen[key] {
			t.Errorf("routeRules declares %s but the router has no such route", key)
		}
	}
	// The owner still reaches their own things: the 404s above are about ownership.
	for res, path := range map[resource]string{resBooking: "/api/v1/bookings/%d", resChild: "/api/v1/me/children/%d", resComplaint: "/api/v1/complaints/%d", resUpload: "/api/v1/uploads/%d"} {
		if r := a.do("GET", fmt.Sprintf(path, ids[res]), owner, nil); r.Status != http.StatusOK {
			t.Errorf("owner reading own %s: %d", res, r.Status)
		}
	}
}

// isConsoleRoute: the staff web console (/console, its own net/http mux with a
// cookie session) is HTML, not the JSON API: neither this matrix nor openapi.yaml
// covers it; server/console_*_test.go do.
func isConsoleRoute(path string) bool {
	return path == "/console" || strings.HasPrefix(path, "/console/")
}
