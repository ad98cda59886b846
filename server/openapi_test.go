package main

// openapi.yaml against the router, for the front-end team (issue 14, item 7):
// every route documented and every documented operation routed, each with an
// operationId, and every status the shared middleware can send declared. The
// handlers' own statuses are checked where tests meet them (checkSpec refuses an
// undeclared status on every response); TestSpecRefusalsDeclared sends every
// body route the refusals any client can provoke.

import (
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"nantian"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(nantian.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// specOps maps "METHOD /gin/:path" to the operation openapi.yaml documents.
func specOps(doc *openapi3.T) map[string]*openapi3.Operation {
	toGin := regexp.MustCompile(`\{([a-z_]+)\}`)
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+toGin.ReplaceAllString(path, ":$1")] = op
		}
	}
	return out
}

// notJSONRoutes take bodies that are not JSON; they are outside the JSON groups
// and RequireJSON. A route is also taken as such when openapi.yaml declares its
// request body with no application/json content (e.g. XML payment callbacks).
var notJSONRoutes = map[string]bool{
	"POST /api/v1/uploads":                true, // multipart
	"POST /api/v1/staff/imports/sessions": true, // CSV
}

// rateLimited are the routes a client can be limited on (429): the router's
// RateLimit middleware, the booking handlers' rule, and per-user caps.
var rateLimited = map[string]bool{
	"POST /api/v1/auth/wechat":              true, // per IP
	"POST /api/v1/bookings":                 true, // per user
	"POST /api/v1/programs/:id/enrollments": true, // per user (same rule)
	"POST /api/v1/complaints":               true, // per user, and the daily cap
	"POST /api/v1/uploads":                  true, // UPLOAD_MAX_PENDING
	"POST /api/v1/devices/deposits":         true, // per device
}

// ownProtocol routes answer in their caller's protocol whatever happens (WeChat
// Pay's callbacks: 200 with an XML SUCCESS or FAIL, so WeChat retries), never 503.
var ownProtocol = map[string]bool{
	"POST /api/v1/payments/wechat/notify":        true,
	"POST /api/v1/payments/wechat/refund-notify": true,
}

// probes never refuse: no input, no credentials.
var probes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /api/v1/openapi.yaml": true}

func jsonBodyRoute(key string, op *openapi3.Operation) bool {
	method, _, _ := strings.Cut(key, " ")
	switch method {
	case "POST", "PUT", "PATCH", "DELETE":
	default:
		return false
	}
	if notJSONRoutes[key] {
		return false
	}
	if op != nil && op.RequestBody != nil && op.RequestBody.Value != nil && op.RequestBody.Value.Content.Get("application/json") == nil {
		return false
	}
	return true
}

var lowerCamel = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

func TestSpecMatchesRouterWithOperationIDs(t *testing.T) {
	a := newTestApp(t)
	doc := loadSpec(t)
	ops := specOps(doc)
	routed := map[string]bool{}
	for _, rt := range routeList(a) {
		key := rt.Method + " " + rt.Path
		if isConsoleRoute(rt.Path) {
			continue
		}
		routed[key] = true
		if ops[key] == nil {
			t.Errorf("%s is routed but not in openapi.yaml", key)
		}
	}
	ids := map[string]string{}
	for key, op := range ops {
		if !routed[key] && key != "GET /metrics" { // /metrics: METRICS_ADDR only
			t.Errorf("openapi.yaml documents %s but the router has no such route", key)
		}
		if !lowerCamel.MatchString(op.OperationID) {
			t.Errorf("%s: operationId %q is not lowerCamelCase", key, op.OperationID)
		}
		if other, dup := ids[op.OperationID]; dup {
			t.Errorf("operationId %q on both %s and %s", op.OperationID, key, other)
		}
		ids[op.OperationID] = key
	}
}

// TestSpecDeclaresMiddlewareStatuses: the statuses the shared middleware sends,
// whatever the handler does, are declared on every route they apply to.
func TestSpecDeclaresMiddlewareStatuses(t *testing.T) {
	a := newTestApp(t)
	ops := specOps(loadSpec(t))
	for _, rt := range routeList(a) {
		key := rt.Method + " " + rt.Path
		op := ops[key]
		if op == nil || probes[key] {
			continue // TestSpecMatchesRouterWithOperationIDs reports the missing
		}
		rule, ok := routeRules[key]
		if !ok {
			continue // TestSecurityMatrix reports a route without a rule
		}
		want := map[int]string{}
		if !ownProtocol[key] {
			want[http.StatusServiceUnavailable] = "MySQL or Redis down"
		}
		switch rule.level {
		case loggedIn, device:
			want[401] = "no or bad credentials"
		case staffOnly, adminOnly:
			want[401], want[403] = "no or bad token", "RequireStaff/RequireAdmin"
		}
		if strings.Contains(rt.Path, ":") {
			want[404] = "PathID: an id that is not a positive integer, or no such thing"
		}
		if jsonBodyRoute(key, op) {
			want[415] = "RequireJSON: a non-JSON body"
			if op.RequestBody != nil {
				want[400], want[413] = "BindJSON: malformed or invalid body", "BodyLimit"
			}
		}
		if rateLimited[key] {
			want[429] = "rate limit"
		}
		for _, p := range op.Parameters {
			if p.Value != nil && p.Value.Name == "Idempotency-Key" {
				want[400], want[409], want[422] = "Idempotency-Key too long", "idempotency_in_progress", "idempotency_key_reused"
			}
		}
		var missing []string
		for status, why := range want {
			if op.Responses.Value(strconv.Itoa(status)) == nil {
				missing = append(missing, strconv.Itoa(status)+" ("+why+")")
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s (%s) does not declare %s", key, op.OperationID, strings.Join(missing, ", "))
		}
	}
}

// TestSpecRefusalsDeclared sends every JSON body route, as an admin (past every
// role check), a text/plain body, a malformed JSON body and an oversize one. The
// first must be 415 on every such route (RequireJSON is on all of them); every
// answer is checked against openapi.yaml by checkSpec, so a status the route can
// send but does not declare fails here. None of these bodies changes anything.
func TestSpecRefusalsDeclared(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.staff("spec-admin", "admin")
	ops := specOps(loadSpec(t))
	big := `{"x":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	for _, rt := range routeList(a) {
		key := rt.Method + " " + rt.Path
		if isConsoleRoute(rt.Path) || !jsonBodyRoute(key, ops[key]) || key == "DELETE /api/v1/me" || key == "POST /api/v1/auth/logout" {
			continue // the last two would end the admin's login before the others ran
		}
		path := strings.NewReplacer(":pickup_code", "NOPE0000", ":booking_id", "999999998", ":id", "999999999").Replace(rt.Path)
		if r := a.do(rt.Method, path, admin, `{"a":1}`, "Content-Type", "text/plain"); r.Status != http.StatusUnsupportedMediaType {
			t.Errorf("%s with a text/plain body: %d %s, want 415", key, r.Status, r.Body)
		}
		for _, body := range []string{`{"a":`, big} {
			if r := a.do(rt.Method, path, admin, body); r.Status >= 500 {
				t.Errorf("%s: %d %.200s", key, r.Status, r.Body)
			}
		}
	}
}
