package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian"
	"nantian/handlers"
)

// maxBodyBytes caps JSON bodies; uploads set their own, larger limit.
const maxBodyBytes = 1 << 20

// routes builds the router: every route of the API in one place.
func (a *app) routes() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// No trailing-slash redirects: gin answers those before any middleware, so
	// they had no X-Request-Id, no envelope and no access-log line. A path with a
	// trailing slash is an unknown route (404 not_found) like any other.
	r.RedirectTrailingSlash = false
	// ClientIP (per-IP rate limits, access log) believes one header only
	// (TRUSTED_PROXY_HEADER, default X-Forwarded-For) and only from TRUSTED_PROXIES;
	// gin's default also believed X-Real-IP, which a client can set itself when the
	// proxy does not overwrite it. config.Validate has checked the list parses.
	_ = r.SetTrustedProxies(a.cfg.RateLimits.TrustedProxies)
	r.RemoteIPHeaders = []string{a.cfg.RateLimits.ClientIPHeader}
	proxies, err := handlers.ParseProxies(a.cfg.RateLimits.TrustedProxies)
	if err != nil { // cannot happen after Validate; trust nobody rather than guess
		a.logger.Error("TRUSTED_PROXIES not understood; trusting no proxy", "err", err)
		proxies = &handlers.Proxies{}
	}
	r.ContextWithFallback = true
	r.NoRoute(handlers.NoRoute)
	r.NoMethod(handlers.NoMethod)
	metrics := handlers.NewMetrics(a.reg)
	r.Use(handlers.RequestIDMiddleware(proxies), handlers.Recover(), handlers.LocalTimes(a.cfg.Location), metrics.Middleware(), handlers.AccessLog(a.logger))

	health := &handlers.HealthHandler{DB: a.db, Redis: a.rdb}
	r.GET("/healthz", health.Live)
	r.GET("/readyz", health.Ready)
	// No /metrics here: it is served on METRICS_ADDR only (a.metricsHandler).
	r.GET("/api/v1/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml; charset=utf-8", nantian.OpenAPI) })

	authn := &handlers.Authenticator{Tokens: a.tokens, Cache: a.authCache}
	authH := &handlers.AuthHandler{Users: a.users, Tokens: a.tokens, Cache: a.authCache, WeChat: a.wx}
	me := &handlers.MeHandler{Users: a.users, Children: a.children, WeChat: a.wx, WalkIns: a.walkin.walkIns, Privacy: a.privacy.service}
	op := a.operations
	catalog := &handlers.CatalogHandler{Catalog: a.catalog, Cache: a.bookings.catalogCache, Programs: op.Programs, Sessions: op.Sessions}
	admin := &handlers.AdminHandler{Admin: op.Admin}
	audit := &handlers.AuditHandler{Audit: a.audit}

	// Rate limits (issue 7; logins: issue 14, see AuthHandler); handlers.RateLimit with ByUser /
	// ByParam / ByHeader and a.cfg.RateLimits for booking, complaints and devices.
	limits := handlers.NewRateLimiter(a.redis, a.logger)

	api := r.Group("/api/v1", handlers.BodyLimit(maxBodyBytes))
	// Public.
	// JSON bodies only (415 otherwise) on the JSON routes: the public ones below,
	// the user group and the bins' webhooks; not on uploads, imports or callbacks.
	jsonOnly := handlers.RequireJSON()
	authH.Refused = &handlers.Rule{Limiter: limits, Name: "login_refused", Key: handlers.ByIP, Limit: handlers.PerMinute(a.cfg.RateLimits.LoginRefusedPerIP)}
	authH.PerOpenID = &handlers.Rule{Limiter: limits, Name: "login_openid", Limit: handlers.PerMinute(a.cfg.RateLimits.LoginPerOpenID)}
	api.POST("/auth/wechat", jsonOnly, authH.Login)
	api.POST("/auth/refresh", jsonOnly, authH.Refresh)
	api.GET("/programs", catalog.ListPrograms)
	api.GET("/programs/:id", catalog.GetProgram)
	api.GET("/sessions/:id", catalog.GetSession)

	// Any logged-in user.
	user := api.Group("", authn.Required(), jsonOnly)
	user.POST("/auth/logout", authH.Logout)
	user.GET("/me", me.Get)
	user.PATCH("/me", me.Patch)
	user.POST("/me/phone", me.Phone)
	user.POST("/me/subscriptions", handlers.RateLimit(limits, "subscription", handlers.ByUser, handlers.PerMinute(a.cfg.RateLimits.SubscriptionPerUser)), me.Subscriptions)
	user.GET("/me/children", me.ListChildren)
	user.POST("/me/children", me.CreateChild)
	user.GET("/me/children/:id", me.GetChild)
	user.PATCH("/me/children/:id", me.PatchChild)
	user.DELETE("/me/children/:id", me.DeleteChild)
	// --- resident routes: privacy ---
	privacyH := &handlers.PrivacyHandler{Privacy: a.privacy.service, Cache: a.authCache}
	user.GET("/me/export", privacyH.Export)
	user.DELETE("/me", privacyH.Delete)
	// --- resident routes: bookings ---
	bookingsH := &handlers.BookingsHandler{Bookings: a.bookings.engine,
		Limit: &handlers.Rule{Limiter: limits, Name: "booking", Key: handlers.ByUser, Limit: handlers.PerMinute(a.cfg.RateLimits.BookingPerUser)}}
	idem := handlers.Idempotent(a.bookings.idempotency)
	user.POST("/bookings", idem, bookingsH.Create)
	user.GET("/bookings", bookingsH.List)
	user.GET("/bookings/:id", bookingsH.Get)
	user.POST("/bookings/:id/cancel", bookingsH.Cancel)
	user.POST("/programs/:id/enrollments", idem, bookingsH.Enroll)
	// --- resident routes: payments ---
	paymentsH := &handlers.PaymentsHandler{Payments: a.payments, Bookings: a.bookings.engine, Refunds: op.Bookings, Loc: a.cfg.Location}
	user.POST("/bookings/:id/payment", paymentsH.Pay)
	calendarH := &handlers.CalendarHandler{Bookings: a.bookings.engine}
	user.GET("/bookings/:id/calendar.ics", calendarH.Booking)
	// --- resident routes: complaints ---
	uploadsH := &handlers.UploadsHandler{Uploads: a.uploads}
	complaintsH := &handlers.ComplaintsHandler{Complaints: a.complaints, Users: a.users, Checker: a.wx, CheckContent: a.cfg.Complaints.ContentCheck}
	// Uploads bypass the 1 MiB JSON limit of the api group with their own.
	r.POST("/api/v1/uploads", handlers.BodyLimit(handlers.UploadBodyLimit), authn.Required(), uploadsH.Create)
	user.GET("/uploads/:id", uploadsH.Get)
	user.POST("/complaints", handlers.RateLimit(limits, "complaint", handlers.ByUser, handlers.PerMinute(a.cfg.RateLimits.ComplaintPerUser)), complaintsH.Create)
	user.GET("/complaints", complaintsH.List)
	user.GET("/complaints/:id", handlers.StaffReader(), complaintsH.Get) // StaffReader: a staff read of the full contact phone is audited
	user.POST("/complaints/:id/rating", complaintsH.Rate)
	user.POST("/complaints/:id/reopen", complaintsH.Reopen)
	// --- resident routes: points ---
	pointsH := &handlers.PointsHandler{Points: a.pts.points}
	user.POST("/points/code", pointsH.Code)
	user.GET("/points", pointsH.Summary)
	user.GET("/points/ledger", pointsH.Ledger)
	user.GET("/rewards", pointsH.Rewards)
	user.POST("/redemptions", idem, pointsH.Redeem)
	user.GET("/redemptions", pointsH.Redemptions)

	// Staff and admins. Every state change here is a models/ops operation, which
	// audits itself (actor, door, before and after) whichever door called it.
	staff := user.Group("/staff", handlers.RequireStaff())
	staff.POST("/programs", catalog.CreateProgram)
	staff.PATCH("/programs/:id", catalog.PatchProgram)
	staff.POST("/programs/:id/sessions", catalog.CreateSession)
	staff.PATCH("/sessions/:id", catalog.PatchSession)
	// --- staff routes: bookings ---
	staffBookings := &handlers.StaffBookingsHandler{Bookings: a.bookings.engine, Decisions: op.Bookings, Sessions: op.Sessions}
	staff.GET("/bookings", staffBookings.List)
	staff.POST("/bookings/:id/confirm", staffBookings.Confirm)
	staff.POST("/bookings/:id/reject", staffBookings.Reject)
	staff.POST("/checkins", staffBookings.CheckIn)
	staff.POST("/sessions/:id/close", staffBookings.CloseSession)
	staff.POST("/sessions/:id/cancel", staffBookings.CancelSession)
	consoleLogins := &handlers.ConsoleLoginsHandler{Admin: op.Admin}
	staff.POST("/console-logins", consoleLogins.Approve)
	staff.GET("/sessions/:id/roster.csv", handlers.StaffReader(), staffBookings.Roster) // StaffReader: child names are audited
	// --- staff routes: payments ---
	staff.GET("/payments", paymentsH.List)
	staff.GET("/payments/summary", paymentsH.Summary)
	staff.GET("/payments.csv", paymentsH.CSV)
	staff.POST("/bookings/:id/refund", paymentsH.Refund)
	walkInH := &handlers.WalkInHandler{WalkIns: a.walkin.walkIns, Residents: op.Residents}
	staff.POST("/residents", walkInH.Create)
	staff.GET("/residents", walkInH.List)
	staff.GET("/residents/:id", walkInH.Get)
	staff.POST("/residents/:id/children", walkInH.CreateChild)
	staff.GET("/residents/:id/bookings", walkInH.ListBookings)
	staff.POST("/residents/:id/bookings", idem, walkInH.Book)
	staff.POST("/residents/:id/enrollments", idem, walkInH.Enroll)
	staff.POST("/residents/:id/bookings/:booking_id/cancel", walkInH.Cancel)
	staff.POST("/residents/:id/bookings/:booking_id/checkin", walkInH.CheckIn)
	// --- staff routes: complaints ---
	staffComplaints := &handlers.StaffComplaintsHandler{Complaints: a.complaints, Steps: op.Complaints, Loc: a.cfg.Location}
	staff.GET("/complaints", staffComplaints.List)
	staff.GET("/complaints/stats", staffComplaints.Stats)
	staff.POST("/complaints/:id/accept", staffComplaints.Accept)
	staff.POST("/complaints/:id/contact", staffComplaints.Contact)
	staff.POST("/complaints/:id/resolve", staffComplaints.Resolve)
	// --- staff routes: points ---
	staffPts := &handlers.StaffPointsHandler{Devices: a.pts.devices, Points: a.pts.points, Ops: op.Points}
	staff.POST("/devices", staffPts.CreateDevice)
	staff.GET("/devices", staffPts.ListDevices)
	staff.POST("/devices/:id/disable", staffPts.DisableDevice)
	staff.POST("/devices/:id/enable", staffPts.EnableDevice)
	staff.POST("/devices/:id/rotate-secret", staffPts.RotateDevice)
	staff.GET("/rewards", staffPts.ListRewards)
	staff.POST("/rewards", staffPts.CreateReward)
	staff.PATCH("/rewards/:id", staffPts.PatchReward)
	staff.GET("/redemptions", staffPts.ListRedemptions)
	staff.POST("/redemptions/:pickup_code/fulfil", staffPts.Fulfil)
	staff.POST("/points/adjustments", idem, staffPts.Adjust) // a retried adjustment must not credit twice
	staff.GET("/points/stats", staffPts.Stats)

	// --- staff routes: imports ---
	// History import: up to 5,000 CSV rows, so it sits outside the api group's
	// 1 MiB body limit (limits nest, the smaller wins) with its own 5 MiB.
	importsH := &handlers.ImportsHandler{Imports: op.Imports, Loc: a.cfg.Location}
	importG := r.Group("/api/v1/staff", handlers.BodyLimit(handlers.MaxImportBytes), authn.Required(), handlers.RequireStaff())
	importG.POST("/imports/sessions", importsH.Sessions)
	reports := &handlers.ReportsHandler{Reports: a.reports, Loc: a.cfg.Location}
	staff.GET("/reports/annual", reports.Annual)

	// Admins only.
	adminG := user.Group("/admin", handlers.RequireAdmin())
	adminG.PUT("/users/:id/role", admin.SetRole)
	adminG.GET("/audit", audit.List)

	// --- payment callbacks ---
	// WeChat Pay is not a user: no token; each body is verified (signature, or
	// decryption with the API key) before anything is read from it.
	api.POST("/payments/wechat/notify", paymentsH.Notify)
	api.POST("/payments/wechat/refund-notify", paymentsH.RefundNotify)
	// --- staff web console (issue 12): its own net/http mux under /console/ ---
	r.Any("/console", gin.WrapH(a.console))
	r.Any("/console/*path", gin.WrapH(a.console))

	// --- device routes ---
	// Bins are not users: no bearer token, their own HMAC auth, a small body limit
	// (handlers.MaxDepositBody, on top of the group's).
	devicesH := &handlers.DeviceHandler{Devices: a.pts.devices, Points: a.pts.points, Skew: a.cfg.Points.ClockSkew, Logger: a.logger}
	deviceLimit := handlers.RateLimit(limits, "device", handlers.ByHeaderAndIP("X-Device-Id"), handlers.PerMinute(a.cfg.RateLimits.DeviceWebhookPerDev))
	api.POST("/devices/deposits", jsonOnly, deviceLimit, devicesH.Deposit)
	api.POST("/devices/deposits/batch", jsonOnly, deviceLimit, devicesH.DepositBatch)
	return r
}
