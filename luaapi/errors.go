package luaapi

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// HookError is a failed Lua hook: where it failed and why. Error() is
// "file:line: message", what the console and the summary show; the
// traceback is for the run log.
type HookError struct {
	File      string // the hook's path
	Line      int    // 0 when unknown
	Message   string
	Traceback string
}

func (e *HookError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}

// describe renders an error object for a message without running any of
// its metamethods (a hostile __tostring could loop, raise or lie).
func describe(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return x.String()
	case lua.LBool:
		return strconv.FormatBool(bool(x))
	case *lua.LNilType:
		return "nil"
	default:
		return fmt.Sprintf("(error object is a %s value)", v.Type().String())
	}
}

// escapeControl replaces control characters (but not tab, or newline when
// keepNewline) by visible escapes, so hook text cannot forge log lines or
// drive a terminal. Invalid UTF-8 is escaped byte by byte.
func escapeControl(s string, keepNewline bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && !(keepNewline && c == '\n') || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' || keepNewline && r == '\n':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// truncate cuts s to at most n bytes (on a rune boundary) and says so.
func truncate(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes cut)", len(s)-cut)
}

// tail returns the last n bytes of s, on a rune boundary.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := len(s) - n
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "…" + s[cut:]
}
