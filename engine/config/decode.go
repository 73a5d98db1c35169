package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// decodeObject decodes a whole JSON document that must be an object.
// Syntax errors are reported with the line and column they occur at.
func decodeObject(p problems, data []byte) (map[string]any, bool) {
	// A byte order mark from a Windows editor is not an error in the data.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		p.errorf(syntaxPosition(data, err), "valid JSON", "%s", jsonErrorText(err))
		return nil, false
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		p.errorf("/", "a JSON object", "%s", describe(doc))
		return nil, false
	}
	checkDuplicateKeys(p, data)
	return obj, true
}

// syntaxPosition turns a decoding error into "line L, column C" (1-based).
// encoding/json reports the number of bytes read when it gave up, so the
// offending byte is the one before; at the end of input the position is
// just after the last byte.
func syntaxPosition(data []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return "line 1, column 1"
	}
	at := se.Offset - 1
	if isUnexpectedEnd(se) {
		at = int64(len(data))
	}
	return position(data, at)
}

// position renders the byte index at as a 1-based line and column.
func position(data []byte, at int64) string {
	at = max(0, min(at, int64(len(data))))
	before := data[:at]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

func isUnexpectedEnd(se *json.SyntaxError) bool {
	return se.Error() == "unexpected end of JSON input"
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) && isUnexpectedEnd(se) {
		return "the end of the file (is it empty or cut short?)"
	}
	return err.Error()
}
