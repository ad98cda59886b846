package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/privacy"
)

// PrivacyHandler serves a resident's PIPL rights: downloading their data and
// deleting their account.
type PrivacyHandler struct {
	Privacy *privacy.Privacy
	Cache   *account.AuthCache
}

// Export answers GET /me/export: everything the service holds about the caller,
// as one JSON document offered as a download, never cached.
func (h *PrivacyHandler) Export(c *gin.Context) {
	out, err := h.Privacy.Export(c.Request.Context(), Caller(c).UserID)
	if err != nil {
		Fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="nantian-my-data.json"`)
	c.JSON(http.StatusOK, out)
}

// Delete answers DELETE /me: the account is erased (see Privacy.DeleteAccount),
// and every cached login of it dropped here and on the other instances, so the
// caller's access tokens answer 401 from the next request on.
func (h *PrivacyHandler) Delete(c *gin.Context) {
	ctx := c.Request.Context()
	uid := Caller(c).UserID
	res, err := h.Privacy.DeleteAccount(ctx, uid)
	if err != nil {
		Fail(c, err)
		return
	}
	h.Cache.InvalidateUser(ctx, uid)
	Logger(c).InfoContext(ctx, "account deleted", "request_id", RequestID(c), "user_id", uid,
		"bookings_cancelled", res.BookingsCancelled, "uploads_removed", res.UploadsRemoved)
	c.Status(http.StatusNoContent)
}

// StaffReader puts the caller into the request context as the reader, so stores
// that hand out children's data (the roster, Children.GetAny) audit the read as
// this staff member on this route. Use it behind Required on staff routes.
func StaffReader() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := models.Reader{Principal: Caller(c), Door: models.DoorAPI, RequestID: RequestID(c), IP: c.ClientIP(), Route: c.Request.Method + " " + c.FullPath()}
		c.Request = c.Request.WithContext(models.WithReader(c.Request.Context(), r))
		c.Next()
	}
}
