package main

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	r.ContextWithFallback = true
	r.NoRoute(handlers.NoRoute)
	r.NoMethod(handlers.NoMethod)
	metrics := handlers.NewMetrics(a.reg)
	r.Use(handlers.RequestIDMiddleware(), handlers.Recover(), metrics.Middleware(), handlers.AccessLog(a.logger))

	health := &handlers.HealthHandler{DB: a.db, Redis: a.rdb}
	r.GET("/healthz", health.Live)
	r.GET("/readyz", health.Ready)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})))
	r.GET("/api/v1/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml; charset=utf-8", nantian.OpenAPI) })

	authn := &handlers.Authenticator{Tokens: a.tokens, Cache: a.authCache}
	authH := &handlers.AuthHandler{Users: a.users, Tokens: a.tokens, Cache: a.authCache, WeChat: a.wx}
	me := &handlers.MeHandler{Users: a.users, Children: a.children, WeChat: a.wx}
	catalog := &handlers.CatalogHandler{Catalog: a.catalog}
	admin := &handlers.AdminHandler{Users: a.users, Cache: a.authCache}

	api := r.Group("/api/v1", handlers.BodyLimit(maxBodyBytes))
	// Public.
	api.POST("/auth/wechat", authH.Login)
	api.POST("/auth/refresh", authH.Refresh)
	api.GET("/programs", catalog.ListPrograms)
	api.GET("/programs/:id", catalog.GetProgram)
	api.GET("/sessions/:id", catalog.GetSession)

	// Any logged-in user.
	user := api.Group("", authn.Required())
	user.POST("/auth/logout", authH.Logout)
	user.GET("/me", me.Get)
	user.PATCH("/me", me.Patch)
	user.POST("/me/phone", me.Phone)
	user.POST("/me/subscriptions", me.Subscriptions)
	user.GET("/me/children", me.ListChildren)
	user.POST("/me/children", me.CreateChild)
	user.GET("/me/children/:id", me.GetChild)
	user.PATCH("/me/children/:id", me.PatchChild)
	user.DELETE("/me/children/:id", me.DeleteChild)
	// --- resident routes: bookings ---
	// --- resident routes: complaints ---
	// --- resident routes: points ---

	// Staff and admins.
	staff := user.Group("/staff", handlers.RequireStaff())
	staff.POST("/programs", catalog.CreateProgram)
	staff.PATCH("/programs/:id", catalog.PatchProgram)
	staff.POST("/programs/:id/sessions", catalog.CreateSession)
	staff.PATCH("/sessions/:id", catalog.PatchSession)
	// --- staff routes: bookings ---
	// --- staff routes: complaints ---
	// --- staff routes: points ---
	reports := &handlers.ReportsHandler{Reports: a.reports, Loc: a.cfg.Location}
	staff.GET("/reports/annual", reports.Annual)

	// Admins only.
	adminG := user.Group("/admin", handlers.RequireAdmin())
	adminG.PUT("/users/:id/role", admin.SetRole)

	// --- device routes ---
	return r
}
