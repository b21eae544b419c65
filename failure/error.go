package failure

import (
	"errors"
	"fmt"
)

// Error is an error with a stable Code.
type Error struct {
	Code Code
	Msg  string
	Err  error // cause, may be nil
}

func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return fmt.Sprintf("%s: %s", e.Code, e.Msg)
	case e.Msg == "":
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	default:
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is compare codes, so a sentinel built with New(code, "")
// matches any error of that code.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with code around err. A nil err gives nil.
func Wrap(code Code, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the outermost *Error in err's chain, Internal
// for any other non-nil error, and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Has reports whether any error in err's chain has code.
func Has(err error, code Code) bool {
	return errors.Is(err, &Error{Code: code})
}
