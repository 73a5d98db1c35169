package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A control character in an argv element or an env value is shown
// escaped: one action stays one line of the console and the run log.
func TestFormatArgvEscapesControlCharacters(t *testing.T) {
	argv := ExecArgv(950, []string{"echo", "a\nb", "it's\t\x1b[31m"}, map[string]string{"K": "v\nw"})
	got := FormatArgv(argv)
	require.Equal(t, `pct exec 950 -- env $'K=v\nw' echo $'a\nb' $'it\'s\t\x1b[31m'`, got)
	require.NotContains(t, FormatAction(Event{Kind: EventAction, Argv: argv}), "\n")
	// Printable text keeps the plain quoting.
	require.Equal(t, `pct exec 950 -- echo 'a b' 'it'\''s'`, FormatArgv(ExecArgv(950, []string{"echo", "a b", "it's"}, nil)))
}
