package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"nantian/models/points"
)

// MaxDepositBatchBody caps a batch upload: 500 events of ~250 bytes, with room.
const MaxDepositBatchBody = 512 << 10

// batchResult is one event's answer in a batch: what the single webhook would
// have answered, with a refusal in error (the envelope's code and message)
// instead of a failed request.
type batchResult struct {
	EventID       string       `json:"event_id"`
	PointsAwarded int          `json:"points_awarded"`
	Duplicate     bool         `json:"duplicate"`
	Error         *errorDetail `json:"error,omitempty"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DepositBatch records an offline bin's buffered events (POST
// /devices/deposits/batch): the same authentication as Deposit, over the whole
// body, then {"events": [...]} (1 to 500) applied each at most once. The answer
// is 200 with one result per event in order; an event that is malformed or
// refused carries its own error and does not fail the others. The request fails
// as a whole only for what concerns all of it: authentication (401), a body that
// is not {"events": [...]} or has too many (400), too large (413), or the store
// down (503; events applied before it answer duplicate on the retry).
func (h *DeviceHandler) DepositBatch(c *gin.Context) {
	ctx := c.Request.Context()
	dev, body, ok := h.authenticate(c, MaxDepositBatchBody)
	if !ok {
		return
	}
	raw, msg := ParseDepositBatch(body)
	if msg != "" {
		Abort(c, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	results := make([]batchResult, len(raw))
	var valid []points.DepositInput
	var at []int // index in raw of each valid event
	for i, ev := range raw {
		in, msg := decodeDepositEvent(ev)
		results[i].EventID = in.EventID
		if msg != "" {
			results[i].Error = &errorDetail{Code: "invalid_request", Message: "events[" + strconv.Itoa(i) + "]" + msg}
			continue
		}
		valid = append(valid, in)
		at = append(at, i)
	}
	if len(valid) > 0 {
		out, err := h.Points.RecordDeposits(ctx, dev, valid)
		if err != nil {
			Fail(c, err)
			return
		}
		for k, o := range out {
			r := &results[at[k]]
			r.PointsAwarded, r.Duplicate = o.PointsAwarded, o.Duplicate
			if o.Err != nil {
				r.Error = &errorDetail{Code: o.Err.Code, Message: o.Err.Message}
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"results": results})
}

// ParseDepositBatch splits a batch body into its events, undecoded: the body must
// be one JSON object whose "events" is an array of 1 to points.MaxDepositBatch
// elements (each checked on its own later, so one bad event does not fail the
// upload). msg is the 400 message when it is not.
func ParseDepositBatch(body []byte) ([]json.RawMessage, string) {
	var b struct {
		Events *[]json.RawMessage `json:"events"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return nil, bindMessage(err)
	}
	if dec.More() {
		return nil, "请求体只能是一个 JSON 对象"
	}
	if b.Events == nil {
		return nil, "events: 必填"
	}
	if n := len(*b.Events); n < 1 || n > points.MaxDepositBatch {
		return nil, "events: 应有 1 到 " + strconv.Itoa(points.MaxDepositBatch) + " 条事件，收到 " + strconv.Itoa(n) + " 条"
	}
	return *b.Events, ""
}

// decodeDepositEvent decodes and validates one event as the single webhook does;
// msg names the failing field, to follow "events[i]" ("" when it is fine). The event id is returned
// whenever it could be read, so the bin can match the result.
func decodeDepositEvent(raw json.RawMessage) (points.DepositInput, string) {
	var in points.DepositInput
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return in, ": 应为 JSON 对象"
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		var id struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(raw, &id)
		in = points.DepositInput{EventID: id.EventID}
		return in, "." + decodeMessage(err, raw, &points.DepositInput{})
	}
	if err := binding.Validator.ValidateStruct(&in); err != nil {
		return in, "." + bindMessage(err)
	}
	return in, ""
}
