// Package handlers is the HTTP layer: bind a request, validate it, call models, map
// errors to the contract's envelope, respond. No SQL and no business rules here.
package handlers

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
	"github.com/go-playground/validator/v10"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"nantian/models"
)

// ErrorBody is the contract's error envelope.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of the envelope.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var kindStatus = map[models.Kind]int{
	models.KindInvalid:      http.StatusBadRequest,
	models.KindUnauthorized: http.StatusUnauthorized,
	models.KindForbidden:    http.StatusForbidden,
	models.KindNotFound:     http.StatusNotFound,
	models.KindConflict:     http.StatusConflict,
	models.KindTooLarge:     http.StatusRequestEntityTooLarge,
	models.KindRule:         http.StatusUnprocessableEntity,
	models.KindTooMany:      http.StatusTooManyRequests,
	models.KindUnavailable:  http.StatusServiceUnavailable,
}

// Abort writes an error envelope and stops the handler chain.
func Abort(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, ErrorBody{ErrorDetail{Code: code, Message: message}})
}

// Fail maps err to the envelope: domain errors keep their code; a dependency that
// is down is 503 `unavailable`; anything else is a 500 whose details go only to
// the log, never to the client.
func Fail(c *gin.Context, err error) {
	if ClientGone(c) {
		// Not a failure of ours: the client hung up and its context cancelled the
		// work (killconn.go stops the statement on the server). Nothing is written
		// (nobody reads it); the status is nginx's 499 so the access log and
		// http_requests_total show a disconnect, not a 500.
		Logger(c).InfoContext(c.Request.Context(), "client closed request", "request_id", RequestID(c), "err", err)
		c.AbortWithStatus(StatusClientClosed)
		return
	}
	if e, ok := models.AsError(err); ok {
		status := kindStatus[e.Kind]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status >= 500 {
			Logger(c).WarnContext(c.Request.Context(), "request failed", "request_id", RequestID(c), "err", err)
		}
		Abort(c, status, e.Code, e.Message)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		Abort(c, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("请求体不能超过 %d 字节", mbe.Limit))
		return
	}
	if IsUnavailable(err) {
		Logger(c).WarnContext(c.Request.Context(), "dependency unavailable", "request_id", RequestID(c), "err", err)
		Abort(c, http.StatusServiceUnavailable, "unavailable", "服务暂时不可用，请稍后再试")
		return
	}
	Logger(c).ErrorContext(c.Request.Context(), "internal error", "request_id", RequestID(c), "err", err)
	Abort(c, http.StatusInternalServerError, "internal", "服务器内部错误")
}

// StatusClientClosed is the status recorded for a request whose client went away
// before the answer (nginx's 499; never sent to anyone).
const StatusClientClosed = 499

// ClientGone reports whether the request's client disconnected: net/http
// cancels the request's context when the connection closes.
func ClientGone(c *gin.Context) bool {
	return errors.Is(c.Request.Context().Err(), context.Canceled)
}

// IsUnavailable reports errors that mean MySQL or Redis could not be reached in
// time, as opposed to a bug: these answer 503 so clients retry.
func IsUnavailable(err error) bool {
	var ne net.Error
	var me *mysql.MySQLError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, redis.ErrClosed),
		errors.As(err, &ne):
		return true
	case errors.As(err, &me):
		// 1040 too many connections, 1205 lock wait timeout, 1213 deadlock after
		// retries; 1969 (MariaDB) and 3024 (MySQL): the statement ran past
		// MYSQL_STATEMENT_TIMEOUT and the server stopped it.
		return me.Number == 1040 || me.Number == 1205 || me.Number == 1213 || me.Number == 1969 || me.Number == 3024
	}
	return false
}

func init() {
	// Validation messages name the JSON field, not the Go one.
	if v, ok := binding.Validator.Engine().(*validator.Validate); ok {
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			return name
		})
	}
}

// BindJSON decodes and validates the body into v. On failure it answers 400
// `invalid_request` naming the field (or 413 for an oversize body) and returns false.
// The body is read whole first (the route's BodyLimit bounds it) so that a value
// refused by its own decoder can still be traced to its field (decodeMessage).
func BindJSON(c *gin.Context, v any) bool {
	var body []byte
	if c.Request.Body != nil {
		var err error
		if body, err = io.ReadAll(c.Request.Body); err != nil {
			Abort(c, statusOf(err), codeOf(err), bindMessage(err))
			return false
		}
	}
	err := binding.JSON.BindBody(body, v)
	if err == nil {
		return true
	}
	Abort(c, statusOf(err), codeOf(err), decodeMessage(err, body, v))
	return false
}

// bindOptional is BindJSON for routes whose body may be left out (an optional
// note, reason or child): no body leaves v as it is.
func bindOptional(c *gin.Context, v any) bool {
	if c.Request.ContentLength == 0 {
		return true
	}
	return BindJSON(c, v)
}

func statusOf(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func codeOf(err error) string {
	if statusOf(err) == http.StatusRequestEntityTooLarge {
		return "payload_too_large"
	}
	return "invalid_request"
}

// decodeMessage is bindMessage for a body decoded into v. encoding/json reports
// the error of a field's own UnmarshalJSON (time.Time's, models.Date's) without
// the field's name, so that field is found by decoding the body's top-level
// fields one at a time.
func decodeMessage(err error, body []byte, v any) string {
	if !fieldless(err) {
		return bindMessage(err)
	}
	field := failingField(body, v)
	if field == "" {
		return bindMessage(err)
	}
	return field + ": " + valueMessage(err)
}

// fieldless reports the decode errors that carry no field name.
func fieldless(err error) bool {
	var ve validator.ValidationErrors
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	return !errors.As(err, &ve) && !errors.As(err, &se) && !errors.As(err, &te) && !errors.As(err, &mbe) &&
		!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)
}

// failingField names the first top-level field of body, in the body's order,
// whose value on its own fails to decode into a fresh value of v's type with an
// error that carries no field name; "" if none does.
func failingField(body []byte, v any) string {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return ""
		}
		one, err := json.Marshal(map[string]json.RawMessage{name: raw})
		if err != nil {
			continue
		}
		if err := json.Unmarshal(one, reflect.New(t.Elem()).Interface()); err != nil && fieldless(err) {
			return name
		}
	}
	return ""
}

// valueMessage says what was wrong with a field's value, for errors that come
// from the value's own decoder.
func valueMessage(err error) string {
	var pe *time.ParseError
	switch {
	case errors.Is(err, models.ErrDateFormat):
		return "日期格式应为 YYYY-MM-DD，例如 2024-06-01"
	case errors.As(err, &pe):
		return "时间格式应为 RFC 3339（含时区），例如 2026-12-20T14:00:00+08:00"
	}
	return "格式无效"
}

func bindMessage(err error) string {
	var ve validator.ValidationErrors
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ve):
		msgs := make([]string, 0, len(ve))
		for _, fe := range ve {
			msgs = append(msgs, fieldMessage(fe))
		}
		return strings.Join(msgs, "; ")
	case errors.As(err, &mbe):
		return fmt.Sprintf("请求体不能超过 %d 字节", mbe.Limit)
	case errors.Is(err, io.EOF):
		return "请求体不能为空，需要 JSON"
	case errors.As(err, &se):
		return "JSON 格式错误（位置 " + strconv.FormatInt(se.Offset, 10) + "）"
	case errors.As(err, &te):
		if te.Field == "" {
			return "请求体应为 JSON 对象"
		}
		return te.Field + ": 类型应为" + typeName(te.Type)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "JSON 不完整"
	}
	if msg := valueMessage(err); msg != "格式无效" {
		return msg
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return "请求无效: " + msg
}

// typeName says in Chinese which JSON type a Go type expects.
func typeName(t reflect.Type) string {
	if t == nil {
		return "其他类型"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeOf(time.Time{}):
		return "时间字符串"
	case reflect.TypeOf(models.Date{}):
		return "日期字符串（YYYY-MM-DD）"
	}
	switch t.Kind() {
	case reflect.String:
		return "字符串"
	case reflect.Bool:
		return "布尔值（true 或 false）"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "整数"
	case reflect.Float32, reflect.Float64:
		return "数字"
	case reflect.Slice, reflect.Array:
		return "数组"
	case reflect.Struct, reflect.Map:
		return "对象"
	}
	return t.String()
}

func fieldMessage(fe validator.FieldError) string {
	field := fe.Field()
	unit := ""
	switch fe.Kind() {
	case reflect.String:
		unit = " 个字符"
	case reflect.Slice, reflect.Array, reflect.Map:
		unit = " 项"
	}
	switch fe.Tag() {
	case "required":
		return field + ": 必填"
	case "max":
		if unit != "" {
			return field + ": 最多 " + fe.Param() + unit
		}
		return field + ": 不能超过 " + fe.Param()
	case "min":
		if unit == " 个字符" && fe.Param() == "1" {
			return field + ": 不能为空"
		}
		if unit != "" {
			return field + ": 至少 " + fe.Param() + unit
		}
		return field + ": 不能小于 " + fe.Param()
	case "oneof":
		return field + ": 必须是 " + strings.ReplaceAll(fe.Param(), " ", "|") + " 之一"
	case "gt", "gte", "lt", "lte":
		return field + ": 超出范围 (" + fe.Tag() + " " + fe.Param() + ")"
	case "dive", "len":
		return field + ": 长度或内容无效"
	}
	return field + ": 无效 (" + fe.Tag() + ")"
}

// PathID reads a positive integer path parameter, answering 404 for anything else
// (an id that cannot exist is simply not found).
func PathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		Abort(c, http.StatusNotFound, "not_found", "资源不存在")
		return 0, false
	}
	return id, true
}

// ParsePage reads ?limit= (default 20, max 100) and ?cursor=.
func ParsePage(c *gin.Context) (models.Page, bool) {
	p := models.Page{Limit: 20}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			Abort(c, http.StatusBadRequest, "invalid_request", "limit: 必须是 1 到 100 的整数")
			return p, false
		}
		p.Limit = n
	}
	after, err := models.DecodeCursor(c.Query("cursor"))
	if err != nil {
		Fail(c, err)
		return p, false
	}
	p.AfterID = after
	return p, true
}

// List is the contract's list shape.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// writePage answers one page of a list (or the error that stopped it), with the
// cursor for the next page taken from the last item's id.
func writePage[T any](c *gin.Context, page models.Page, items []T, err error, id func(T) int64) {
	if err != nil {
		Fail(c, err)
		return
	}
	var last int64
	if len(items) > 0 {
		last = id(items[len(items)-1])
	}
	c.JSON(http.StatusOK, List[T]{Items: items, NextCursor: models.NextCursor(len(items), page.Limit, last)})
}
