package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"nantian/models"
	"nantian/models/points"
)

// MaxDepositBody caps a bin's event body; real events are ~250 bytes.
const MaxDepositBody = 8 << 10

// DeviceHandler serves the smart bins' webhook. It sits outside user auth: the
// bin authenticates with its own HMAC signature (points.Devices.Authenticate).
type DeviceHandler struct {
	Devices *points.Devices
	Points  *points.Points
	Skew    time.Duration
	Logger  *slog.Logger
}

// Deposit records a weighed deposit: headers parsed strictly, timestamp window,
// device active, HMAC in constant time, nonce not seen (Redis; down → 503), then
// the body decoded and the event credited once per event_id.
func (h *DeviceHandler) Deposit(c *gin.Context) {
	ctx := c.Request.Context()
	dev, body, ok := h.authenticate(c, MaxDepositBody)
	if !ok {
		return
	}
	var in points.DepositInput
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		Abort(c, http.StatusBadRequest, "invalid_request", decodeMessage(err, body, &in))
		return
	}
	if err := binding.Validator.ValidateStruct(&in); err != nil {
		Abort(c, http.StatusBadRequest, "invalid_request", bindMessage(err))
		return
	}
	res, err := h.Points.RecordDeposit(ctx, dev, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// authenticate reads at most limit bytes of body and checks the request's
// signature over it (headers, timestamp window, device, HMAC, nonce); on failure
// it has answered (401, 413 or 503) and ok is false.
func (h *DeviceHandler) authenticate(c *gin.Context, limit int64) (points.Authenticated, []byte, bool) {
	hdr, reason, err := points.ParseDeviceAuth(c.GetHeader)
	if err != nil {
		h.refuse(c, hdr.DeviceID, reason, err)
		return points.Authenticated{}, nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		Fail(c, err)
		return points.Authenticated{}, nil, false
	}
	dev, reason, err := h.Devices.Authenticate(c.Request.Context(), hdr, body, h.Skew)
	if err != nil {
		h.refuse(c, hdr.DeviceID, reason, err)
		return points.Authenticated{}, nil, false
	}
	return dev, body, true
}

// refuse answers an authentication failure (401, one message for all reasons)
// and logs why, without the signature or any secret.
func (h *DeviceHandler) refuse(c *gin.Context, deviceID int64, reason string, err error) {
	var de *models.Error
	if errors.As(err, &de) && de == points.ErrDeviceAuth {
		h.Logger.WarnContext(c.Request.Context(), "device webhook refused", "request_id", RequestID(c), "device_id", deviceID, "reason", reason)
	}
	Fail(c, err)
}
