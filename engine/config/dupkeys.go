package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// encoding/json keeps the last of two equal keys and drops the first
// without a word. In lxc_configs that is a whole container lost to a
// copy-paste slip, so duplicate keys are reported, with both positions.

// checkDuplicateKeys walks the tokens of data, which is known to be valid
// JSON, and reports every key repeated within one object.
func checkDuplicateKeys(p problems, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := keyWalker{p: p, data: data, dec: dec}
	w.value(nil)
}

type keyWalker struct {
	p    problems
	data []byte
	dec  *json.Decoder
}

// value consumes one JSON value at path.
func (w *keyWalker) value(path []string) bool {
	tok, err := w.dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		return w.object(path)
	case json.Delim('['):
		for i := 0; w.dec.More(); i++ {
			if !w.value(append(path, strconv.Itoa(i))) {
				return false
			}
		}
		_, err = w.dec.Token() // ]
		return err == nil
	}
	return true
}

func (w *keyWalker) object(path []string) bool {
	seen := map[string]int64{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return false
		}
		key, _ := tok.(string)
		end := w.dec.InputOffset() // just after the key's closing quote
		keyPath := append(path[:len(path):len(path)], key)
		if first, dup := seen[key]; dup {
			w.p.errorf(pointer(keyPath), fmt.Sprintf("each key once per object (first at %s)", keyPosition(w.data, first)),
				"%q again at %s: the earlier value would be silently ignored; remove or renumber one", key, keyPosition(w.data, end))
		} else {
			seen[key] = end
		}
		if !w.value(keyPath) {
			return false
		}
	}
	_, err := w.dec.Token() // }
	return err == nil
}

// keyPosition is the position of the opening quote of the key that ends
// just before offset end.
func keyPosition(data []byte, end int64) string {
	start := end - 1 // the closing quote
	for start > 0 {
		start--
		if data[start] == '"' && !escaped(data, start) {
			break
		}
	}
	return position(data, start)
}

// escaped reports whether the quote at i is preceded by an odd number of
// backslashes.
func escaped(data []byte, i int64) bool {
	n := 0
	for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}
