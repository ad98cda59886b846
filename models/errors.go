package models

import (
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
)

// Kind says what sort of failure an Error is; handlers turn it into an HTTP status
// without knowing every domain error by name, so each area can declare its own
// errors next to the code that returns them.
type Kind int

// The kinds of domain error, with the HTTP status handlers give them.
const (
	KindInvalid      Kind = iota + 1 // 400
	KindUnauthorized                 // 401
	KindForbidden                    // 403
	KindNotFound                     // 404
	KindConflict                     // 409
	KindTooLarge                     // 413
	KindRule                         // 422
	KindTooMany                      // 429
	KindUnavailable                  // 503
)

// Error is a domain error with a stable snake_case code (the contract's error code)
// and a human message that is safe to show to the caller.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errors shared by every area. Area-specific ones live in the area's file.
var (
	ErrNotFound          = &Error{KindNotFound, "not_found", "资源不存在"}
	ErrUnauthorized      = &Error{KindUnauthorized, "unauthorized", "请先登录"}
	ErrForbidden         = &Error{KindForbidden, "forbidden", "没有权限"}
	ErrInvalidTransition = &Error{KindConflict, "invalid_transition", "当前状态不允许该操作"}
	ErrUnavailable       = &Error{KindUnavailable, "unavailable", "服务暂时不可用，请稍后再试"}
)

// Invalid builds a 400 invalid_request error naming the offending field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{KindInvalid, "invalid_request", field + ": " + fmt.Sprintf(format, args...)}
}

// Rule builds a 422 rule violation with its own code.
func Rule(code, format string, args ...any) *Error {
	return &Error{KindRule, code, fmt.Sprintf(format, args...)}
}

// AsError returns the domain error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsDuplicate reports a MySQL unique-key violation (1062).
func IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// StatusOf is the HTTP status the contract gives err: the status of its Kind
// for a domain error, 503 for ErrUnavailable, 500 for anything else, 200 for
// nil. The audit log records it for an operation's refused attempts.
func StatusOf(err error) int {
	if err == nil {
		return 200
	}
	if e, ok := AsError(err); ok {
		return e.Kind.Status()
	}
	return 500
}

// Status is the HTTP status handlers give the kind.
func (k Kind) Status() int {
	switch k {
	case KindInvalid:
		return 400
	case KindUnauthorized:
		return 401
	case KindForbidden:
		return 403
	case KindNotFound:
		return 404
	case KindConflict:
		return 409
	case KindTooLarge:
		return 413
	case KindRule:
		return 422
	case KindTooMany:
		return 429
	case KindUnavailable:
		return 503
	}
	return 500
}
