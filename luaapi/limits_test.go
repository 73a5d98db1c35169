package luaapi

import (
	"context"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Each limit has its own test; every one must end with a *HookError
// carrying the hook's line, and the test process must survive.

func short(o *Options) { o.Limits.Timeout = 300 * time.Millisecond }

func requireStopsInTime(t *testing.T, src string, wantMsg string, mod ...func(*Options)) *HookError {
	t.Helper()
	start := time.Now()
	err, _, _ := run(t, src, append([]func(*Options){short}, mod...)...)
	require.Less(t, time.Since(start), 10*time.Second, "the hook was not stopped in time")
	he := hookErr(t, err)
	require.Contains(t, he.Message, wantMsg)
	require.Greater(t, he.Line, 0, "no line in %v", he)
	return he
}

func TestLimitBusyLoop(t *testing.T) {
	// gopher-lua issues #89, #179: an infinite loop must end at the budget.
	requireStopsInTime(t, "local i = 0\nwhile true do i = i + 1 end", "timed out after 300ms")
}

func TestLimitPcallSwallowingLoop(t *testing.T) {
	requireStopsInTime(t, `
while true do
  pcall(function() while true do end end)
end`, "timed out")
}

func TestLimitTailCallLoop(t *testing.T) {
	// The cap, not the clock, stops these: a budget a loaded machine
	// cannot exhaust first.
	long := func(o *Options) { o.Limits.Timeout = time.Minute }
	requireStopsInTime(t, "local function f(n) return f(n + 1) end\nreturn f(1)", "too many tail calls", long)
	// Swallowing the error with pcall does not help.
	requireStopsInTime(t, "local function f(n) return f(n + 1) end\nwhile true do pcall(f, 1) end", "too many tail calls", long)
	// Slower, it stops at the budget.
	requireStopsInTime(t, "local function f(n)\n  for i = 1, 1000 do end\n  return f(n + 1)\nend\nreturn f(1)", "timed out after 300ms")
}

// gopher-lua's traceback lists every tail call: unbounded, a tail-call
// loop stopped at a 3 s budget took 15 s and 5 GiB to report its timeout
// (at --hook-timeout's 30 min default, the process ran out of memory).
func TestLimitTailCallLoopLongBudget(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	err, _, _ := run(t, "local function f(n) return f(n + 1) end\nreturn f(1)", func(o *Options) { o.Limits.Timeout = 10 * time.Minute })
	runtime.ReadMemStats(&after)
	he := hookErr(t, err)
	require.Contains(t, he.Message, "too many tail calls")
	require.Equal(t, 1, he.Line)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(512<<20))
	// A long chain that ends is fine.
	err, _, _ = run(t, "local function f(n) if n == 0 then return 'done' end return f(n - 1) end\nassert(f(100000) == 'done')")
	require.NoError(t, err)
}

func TestLimitSleepIsCancelled(t *testing.T) {
	requireStopsInTime(t, "sleep(60)", "timed out")
}

// math.huge is gopher-lua's largest float: converted to a Duration it
// overflowed to a negative one and sleep returned at once.
func TestSleepHugeWaitsForTheTimeout(t *testing.T) {
	requireStopsInTime(t, "sleep(math.huge)\nerror('woke up')", "timed out after 300ms")
	requireStopsInTime(t, "sleep(1e300)\nerror('woke up')", "timed out after 300ms")
	var asked []time.Duration
	err, _, _ := run(t, "sleep(math.huge)\nsleep(1e-12)", func(o *Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error { asked = append(asked, d); return nil }
	})
	require.NoError(t, err)
	require.Equal(t, []time.Duration{math.MaxInt64, time.Nanosecond}, asked)
}

// A pcall that catches a stack overflow returns false and the hook goes
// on with its own frames intact (gopher-lua's auto-growing call stack
// returned stale values here, then panicked).
func TestPcallOfStackOverflow(t *testing.T) {
	err, _, ev := run(t, `
local function deep() return 1 + deep() end
local ok, e = pcall(deep)
assert(ok == false, "pcall returned " .. tostring(ok))
assert(tostring(e):find("stack overflow"), tostring(e))
local function nested(n) local ok2 = pcall(nested, n + 1) return n end
local r = {pcall(nested, 1)}
assert(#r == 2 and r[1] == true and r[2] == 1, "nested pcall returned " .. #r .. " values")
local rx = {xpcall(deep, function(m) return "handled" end)}
assert(rx[1] == false, "xpcall returned " .. tostring(rx[1]))
log.info("still running")`)
	require.NoError(t, err)
	require.Equal(t, "still running", ev.all()[len(ev.all())-1].Message)
}

// Every pct_* call is kept as an action until the run ends, in the phoenix
// process: their bytes are bounded per hook run.
func TestLimitActionBytes(t *testing.T) {
	src := "local arg = string.rep('x', 1000)\nfor i = 1, 100 do pct_exec({'echo', arg}) end"
	for _, dry := range []bool{false, true} {
		err, b, _ := run(t, src, func(o *Options) { o.Limits.MaxActionBytes = 10_000; o.DryRun = dry })
		he := hookErr(t, err)
		require.Contains(t, he.Message, "more than 10000 bytes of commands and paths in one hook run")
		require.Equal(t, 2, he.Line)
		require.Len(t, b.Calls(), 9, "dry-run %v", dry) // the 10th would pass 10,000 bytes
	}
	err, _, _ := run(t, "for i = 1, 20 do pct_push('x', '/tmp/' .. string.rep('p', 1000)) end", func(o *Options) { o.Limits.MaxActionBytes = 10_000 })
	require.Contains(t, hookErr(t, err).Message, "of commands and paths")
	require.Equal(t, 16<<20, DefaultLimits.MaxActionBytes)
}

func TestLimitCallStackDepth(t *testing.T) {
	err, _, _ := run(t, "local function f(n) return 1 + f(n + 1) end\nf(1)")
	he := hookErr(t, err)
	require.Contains(t, he.Message, "stack overflow")
	require.Equal(t, 1, he.Line)
}

func TestLimitDeepPcallRecursion(t *testing.T) {
	// Every level is a Go call into the VM: bounded by the call stack, not
	// by the goroutine stack.
	err, _, _ := run(t, "local function f() local ok, e = pcall(f); error(e, 0) end\nf()")
	hookErr(t, err)
}

func TestLimitMetamethodRecursion(t *testing.T) {
	err, _, _ := run(t, "local t = setmetatable({}, {__index = function(t, k) return t[k] end})\nreturn t.x")
	hookErr(t, err)
}

func TestLimitXpcallHandlerThatFails(t *testing.T) {
	err, _, _ := run(t, "xpcall(function() error('a') end, function(e) error(e) end)\nerror('after')")
	hookErr(t, err)
}

func TestLimitStringRep(t *testing.T) {
	requireStopsInTime(t, "local s = string.rep('x', 1e9)", "more than the limit")
	requireStopsInTime(t, "local s = ('xy'):rep(2^40)", "more than the limit")
}

func TestLimitStringFormatWidth(t *testing.T) {
	requireStopsInTime(t, "local s = string.format('%999999999d', 1)", "width or precision too long")
	requireStopsInTime(t, "local big = string.rep('x', 1e6)\nlocal s = string.format(string.rep('%s', 40), "+strings.Repeat("big,", 39)+"big)", "more than the limit")
}

func TestLimitTableConcat(t *testing.T) {
	requireStopsInTime(t, "local big = string.rep('x', 1e6)\nlocal t = {}\nfor i = 1, 40 do t[i] = big end\nlocal s = table.concat(t)", "more than the limit")
}

func TestLimitConcatDoubling(t *testing.T) {
	before := heapMiB()
	he := requireStopsInTime(t, "local s = 'x'\nwhile true do\n  s = s .. s\nend", "memory limit exceeded", func(o *Options) {
		o.Limits.Timeout = 20 * time.Second
	})
	require.Contains(t, []int{2, 3, 4}, he.Line)
	runtime.GC()
	require.Less(t, heapMiB()-before, 200, "memory not released")
}

func TestLimitGlobalConcatDoubling(t *testing.T) {
	requireStopsInTime(t, "S = 'x'\nfor i = 1, 64 do S = S .. S end", "memory limit exceeded", func(o *Options) {
		o.Limits.Timeout = 20 * time.Second
	})
}

func TestLimitTableGrowth(t *testing.T) {
	requireStopsInTime(t, "local t = {}\nlocal i = 0\nwhile true do i = i + 1; t[i] = i end", "memory limit exceeded", func(o *Options) {
		o.Limits.Timeout = 20 * time.Second
	})
}

func TestLimitHugeArrayIndex(t *testing.T) {
	// Stock gopher-lua fills the array part up to the index in one
	// instruction: 64M nils, about 1 GiB, for this one.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err, _, _ := run(t, "local t = {}\nt[67108863] = 1\nreturn #t")
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(100<<20))
}

func TestLimitProcessHeap(t *testing.T) {
	// Many small strings in a hash table escape the per-value checks: the
	// process heap limit stops the hook that is running.
	requireStopsInTime(t, "local t = {}\nlocal i = 0\nwhile true do i = i + 1; t['k' .. i] = string.rep('v', 1000) end", "process heap", func(o *Options) {
		o.Limits.Timeout = 20 * time.Second
		o.Limits.MaxHeapBytes = uint64(heapMiB()+64) << 20
	})
}

func TestLimitPatternBacktracking(t *testing.T) {
	// Stock gopher-lua spends minutes on a 300-character subject here and
	// never checks the context inside the builtin.
	src := "local s = string.rep('a', 300)\nreturn s:find(string.rep('a*', 30) .. 'b')"
	requireStopsInTime(t, src, "pattern too complex", func(o *Options) {
		o.Limits.Timeout = 10 * time.Second
		o.Limits.MaxPatternSteps = 1_000_000
	})
	// Every matching builtin shares the budget.
	for _, call := range []string{
		"return s:match(p)",
		"for m in s:gmatch(p) do end",
		"return s:gsub(p, 'x')",
	} {
		requireStopsInTime(t, "local s, p = string.rep('a', 300), string.rep('a*', 30) .. 'b'\n"+call, "pattern too complex", func(o *Options) {
			o.Limits.Timeout = 10 * time.Second
			o.Limits.MaxPatternSteps = 1_000_000
		})
	}
	// With an unlimited budget, the hook's deadline still stops the
	// matcher: it checks the context as it goes.
	requireStopsInTime(t, src, "timed out", func(o *Options) { o.Limits.MaxPatternSteps = 1 << 62 })
}

func TestLimitPatternDeepRecursion(t *testing.T) {
	// gopher-lua PR #525: the matcher recursed once per character; a long
	// subject ended in "fatal error: stack overflow", killing the process.
	requireStopsInTime(t, "local s = string.rep('a', 4e6)\nreturn s:match('(.-)$')", "too complex", func(o *Options) {
		o.Limits.Timeout = 20 * time.Second
	})
}

func TestLimitGsubManyMatches(t *testing.T) {
	// gopher-lua issue #521: gsub with a function over a long string ran
	// past the context's deadline (quadratic rebuild of the result).
	start := time.Now()
	err, _, _ := run(t, "local s = string.rep('a', 1000000)\nlocal r = s:gsub('a', function(c) return 'b' end)\nassert(#r == 1000000)", func(o *Options) {
		o.Limits.Timeout = 20 * time.Second
	})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	requireStopsInTime(t, "local s = string.rep('a', 1000000)\nwhile true do s:gsub('a', function(c) return 'b' end) end", "timed out")
}

func TestLimitRegistryOverflow(t *testing.T) {
	// gopher-lua issues #323-#325: "registry overflow" must be an error of
	// the hook, never a crash.
	err, _, _ := run(t, "local s = string.rep('x', 1e6)\nlocal t = {s:byte(1, -1)}")
	he := hookErr(t, err)
	require.Contains(t, he.Message, "too many results")
	// The value stack itself overflowing (a vararg call with a huge
	// spread) is an error too, not a crash.
	err, _, _ = run(t, "local t = {}\nfor i = 1, 7000 do t[i] = i end\nlocal n = select('#', unpack(t))", func(o *Options) { o.Limits.MaxRegistry = 4096 })
	he = hookErr(t, err)
	require.Contains(t, he.Message, "overflow")
	err, _, _ = run(t, "local t = {}\nreturn unpack(t, 1, 1e8)")
	he = hookErr(t, err)
	require.Contains(t, he.Message, "too many results")
}

func TestLimitLogVolume(t *testing.T) {
	err, _, ev := run(t, "for i = 1, 5000 do log.info('line %d', i) end", func(o *Options) { o.Limits.MaxLogLines = 10 })
	require.NoError(t, err)
	got := ev.all()
	require.Len(t, got, 11)
	require.Contains(t, got[10].Message, "4990 log lines dropped")
}

func TestLogEscapesControlCharacters(t *testing.T) {
	err, _, ev := run(t, "log.warn('a\\nfake [ERROR] line\\27[31m')\nprint('x\\ry')")
	require.NoError(t, err)
	got := ev.all()
	require.Equal(t, `a\x0afake [ERROR] line\x1b[31m`, got[0].Message)
	require.Equal(t, `x\x0dy`, got[1].Message)
	require.Equal(t, "WARN", got[0].Level)
}

func TestLogNonStrings(t *testing.T) {
	err, _, ev := run(t, "log.info(setmetatable({}, {__tostring = function() error('x') end}))\nlog.info(nil)\nlog.info(42)")
	require.NoError(t, err)
	got := ev.all()
	require.Equal(t, []string{"(table)", "nil", "42"}, []string{got[0].Message, got[1].Message, got[2].Message})
}

func TestLogLineIsCut(t *testing.T) {
	err, _, ev := run(t, "log.info(string.rep('x', 10000))", func(o *Options) { o.Limits.MaxLogLineBytes = 100 })
	require.NoError(t, err)
	require.Less(t, len(ev.all()[0].Message), 200)
}

func TestErrorObjectToStringNotCalled(t *testing.T) {
	err, _, _ := run(t, "CALLED = false\nlocal e = setmetatable({}, {__tostring = function() CALLED = true; while true do end end})\nerror(e)")
	he := hookErr(t, err)
	require.Equal(t, "(error object is a table value)", he.Message)
	require.Equal(t, 3, he.Line)
}

func TestErrorMessageTruncated(t *testing.T) {
	err, _, _ := run(t, "error(string.rep('x', 100000))")
	he := hookErr(t, err)
	require.Less(t, len(he.Message), 3000)
	require.Contains(t, he.Message, "bytes cut")
}

func TestSourceTooLarge(t *testing.T) {
	err, _, _ := run(t, "-- "+strings.Repeat("x", 2<<20))
	require.Contains(t, hookErr(t, err).Message, "more than the limit")
}

func heapMiB() int {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc >> 20)
}

func TestLimitSyntaxDepth(t *testing.T) {
	// gopher-lua's compiler is recursive and quadratic on long
	// right-associative chains: unbounded, this source takes it minutes,
	// and compiling has no context to check.
	for _, src := range []string{
		"local a = 'x'\nlocal x = a" + strings.Repeat("..a", 300000),
		"local x = " + strings.Repeat("{", 400000) + strings.Repeat("}", 400000),
		"local x = 1" + strings.Repeat("+1", 450000),
		strings.Repeat("do ", 2000) + strings.Repeat("end ", 2000),
	} {
		start := time.Now()
		err, _, _ := run(t, src)
		he := hookErr(t, err)
		require.Contains(t, he.Message, "too many syntax levels")
		require.Greater(t, he.Line, 0)
		require.Less(t, time.Since(start), 15*time.Second)
	}
	// Parentheses leave no node: deep ones parse and compile at once.
	start := time.Now()
	err, _, _ := run(t, "local x = "+strings.Repeat("(", 400000)+"1"+strings.Repeat(")", 400000))
	require.NoError(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
	// Ordinary code nests far less.
	err, _, _ = run(t, "local x = 1"+strings.Repeat("+1", 900)+"\nlocal s = 'a'"+strings.Repeat("..'a'", 150))
	require.NoError(t, err)
	require.NoError(t, Compile("x.lua", []byte("local t = "+strings.Repeat("{", 100)+strings.Repeat("}", 100))))
}

// Known gopher-lua crash cases: each must be an error of the hook (or
// succeed), never a panic of the process.
func TestKnownCrashCases(t *testing.T) {
	for name, src := range map[string]string{
		"issue 331/282: where() index out of range": "return select(0)(select(1/9))",
		"issue 524: index a string value":           "do ('Lua').key = 1 end",
		"issue 187: table.concat index":             "local t = {1, 2, nil, 4}\nreturn table.concat(t, ',', 1, 4)",
		"issue 209: channel receive cannot block":   "return channel.make()",
		"select negative":                           "return select(-5, 1)",
		"unpack negative range":                     "return unpack({}, -10, -1)",
		"string.rep negative":                       "return string.rep('x', -1)",
		"tostring recursion":                        "local t = setmetatable({}, {}); getmetatable(t).__tostring = function(x) return tostring(x) end\nreturn tostring(t)",
		"error in __index chain":                    "local a = {}; setmetatable(a, {__index = a}); return a.x",
		"sort with bad comparator":                  "local t = {}\nfor i = 1, 100 do t[i] = i end\ntable.sort(t, function(a, b) return true end)",
		"sort with erroring comparator":             "table.sort({3, 2, 1}, function() error('cmp') end)",
		"gsub bad capture":                          "return ('abc'):gsub('(a)', '%2')",
		"find bad pattern":                          "return ('abc'):find('[a')",
		"format bad option":                         "return string.format('%y', 1)",
		"huge format precision":                     "return string.format('%.99f', 1)",
		"math.random huge":                          "return math.random(1, 2^53)",
		"math.random empty interval":                "return math.random(0)",
		"math.random reversed interval":             "return math.random(5, 1)",
		"math.random full range":                    "return math.random(-2^63, 2^63)",
		"concat number overflow":                    "return 1e308 * 10 .. ''",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			require.NotPanics(t, func() {
				err, _, _ := run(t, src, short)
				if err != nil {
					require.NotContains(t, hookErr(t, err).Message, "internal error")
				}
			})
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

func TestLimitBackendCalls(t *testing.T) {
	err, b, _ := run(t, "for i = 1, 100 do pct_exec({'true'}) end", func(o *Options) { o.Limits.MaxBackendCalls = 10 })
	he := hookErr(t, err)
	require.Contains(t, he.Message, "more than 10 container calls")
	require.Equal(t, 1, he.Line)
	require.Len(t, b.Calls(), 10)
}

func TestMathRandomIsLua51(t *testing.T) {
	err, _, _ := run(t, `for i = 1, 200 do
  local a, b, c = math.random(3), math.random(-2, 2), math.random()
  assert(a >= 1 and a <= 3 and a % 1 == 0, a)
  assert(b >= -2 and b <= 2 and b % 1 == 0, b)
  assert(c >= 0 and c < 1, c)
end
assert(math.random(7, 7) == 7)`)
	require.NoError(t, err)
	err, _, _ = run(t, "\nreturn math.random(0)")
	he := hookErr(t, err)
	require.Equal(t, 2, he.Line)
	require.Contains(t, he.Message, "interval is empty")
}

// string.format (and log.* with arguments) check their arguments as Lua
// 5.1 does; Go's fmt printed "%!d(MISSING)" and dumped tables with %#v.
func TestStringFormatChecksArguments(t *testing.T) {
	err, _, _ := run(t, `assert(string.format('%d|%5.2f|%s|%x|%c|%%|%s', '12', 1.5, 7, 255, 65, 'z') == '12| 1.50|7|ff|A|%|z')`)
	require.NoError(t, err)
	for src, want := range map[string]string{
		"return string.format('%d')":          "bad argument #2 to format (number expected, got nil)",
		"return string.format('%d', 'x')":     "bad argument #2 to format (number expected, got string)",
		"return string.format('%s', {})":      "bad argument #2 to format (string expected, got table)",
		"return string.format('%#v', {})":     "invalid option '%v' to 'format'",
		"log.info('%s and %s', 'a')":          "bad argument #3 to info (string expected, got nil)",
		"return ('%s %s'):format('a', print)": "bad argument #3 to format (string expected, got function)",
	} {
		err, _, _ := run(t, src)
		require.Contains(t, hookErr(t, err).Message, want, src)
	}
}
