package handlers

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// HealthHandler answers liveness and readiness probes.
type HealthHandler struct {
	DB    *sql.DB
	Redis redis.UniversalClient
}

// Live is 200 while the process serves HTTP.
func (h *HealthHandler) Live(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// Ready is 200 only when MySQL and Redis both answer within a second, so a load
// balancer takes an instance out while its stores are unreachable.
func (h *HealthHandler) Ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
	defer cancel()
	checks := gin.H{"mysql": "ok", "redis": "ok"}
	ok := true
	if err := h.DB.PingContext(ctx); err != nil {
		checks["mysql"], ok = "down", false
	}
	if err := h.Redis.Ping(ctx).Err(); err != nil {
		checks["redis"], ok = "down", false
	}
	if !ok {
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": ErrorDetail{Code: "unavailable", Message: "依赖服务不可用"}, "checks": checks})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": checks})
}
