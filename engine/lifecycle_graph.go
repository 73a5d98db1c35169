package engine

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Graph is the deployment as a picture: containers, the clone edges
// (labelled with the snapshot a clone is made from) and the dependency
// edges, in build order.
type Graph struct {
	Nodes []GraphNode
	Edges []GraphEdge
}

// GraphNode is one container.
type GraphNode struct {
	CTID     int
	Name     string
	Template bool   // is_template or template_snapshot_name: clones are made from it
	Hook     string // HookLua, HookShell or "" (none)
	State    string // with --status: built, drifted, failed, missing; else ""
}

// GraphEdge goes from what comes first to what is built from it or needs it.
type GraphEdge struct {
	From, To int
	Clone    bool   // a clone edge; else a dependency
	Label    string // the snapshot of a clone edge, "" when the source has none
}

// text is what the edge says: the snapshot of a clone ("clone" when its
// source has none) or "dependency".
func (e GraphEdge) text() string {
	switch {
	case !e.Clone:
		return "dependency"
	case e.Label != "":
		return e.Label
	}
	return "clone"
}

// BuildGraph draws cfg; status (may be nil) adds each container's state.
func BuildGraph(cfg *Config, hooks HookRunner, status *StatusReport) *Graph {
	if hooks == nil {
		hooks = NoHooks{}
	}
	states := map[int]string{}
	if status != nil {
		for _, c := range status.Containers {
			states[c.CTID] = c.State
		}
	}
	ids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	g := &Graph{}
	for _, id := range ids {
		ct := cfg.Containers[id]
		g.Nodes = append(g.Nodes, GraphNode{CTID: id, Name: ct.Hostname, Template: isTemplate(ct), Hook: hooks.Describe(ct).Kind, State: states[id]})
		if src := cfg.Containers[ct.CloneFrom]; src != nil {
			e := GraphEdge{From: src.CTID, To: id, Clone: true}
			if isTemplate(src) {
				e.Label = templateSnapshot(src)
			}
			g.Edges = append(g.Edges, e)
		}
		for _, d := range containerDeps(ct) {
			if d != ct.CloneFrom && cfg.Containers[d] != nil {
				g.Edges = append(g.Edges, GraphEdge{From: d, To: id})
			}
		}
	}
	return g
}

// describe is a node's second line: "template · lua hook · built".
func (n GraphNode) describe() string {
	var parts []string
	if n.Template {
		parts = append(parts, "template")
	}
	if n.Hook != "" {
		parts = append(parts, n.Hook+" hook")
	} else {
		parts = append(parts, "no hook")
	}
	if n.State != "" {
		parts = append(parts, n.State)
	}
	return strings.Join(parts, " · ")
}

func nodeID(ctid int) string { return "ct" + strconv.Itoa(ctid) }

// stateColors fill the nodes of each state (DOT and Mermaid alike).
var stateColors = map[string]string{StateBuilt: "#d4edda", StateDrifted: "#fff3cd", StateFailed: "#f8d7da", StateMissing: "#e2e3e5"}

// WriteMermaid writes g as a Mermaid flowchart (renders in a README or an
// issue): templates as subroutine boxes, clone edges solid with their
// snapshot, dependency edges dotted.
func WriteMermaid(w io.Writer, g *Graph) {
	fmt.Fprintln(w, "flowchart LR")
	for _, n := range g.Nodes {
		label := mermaidText(strconv.Itoa(n.CTID)+" "+n.Name) + "<br/>" + mermaidText(n.describe())
		open, end := "[\"", "\"]"
		if n.Template {
			open, end = "[[\"", "\"]]"
		}
		fmt.Fprintf(w, "    %s%s%s%s\n", nodeID(n.CTID), open, label, end)
	}
	for _, e := range g.Edges {
		arrow := "-->"
		if !e.Clone {
			arrow = "-.->"
		}
		fmt.Fprintf(w, "    %s %s|%s| %s\n", nodeID(e.From), arrow, mermaidText(e.text()), nodeID(e.To))
	}
	for _, st := range graphStates(g) {
		fmt.Fprintf(w, "    classDef %s fill:%s\n", st, stateColors[st])
		var ids []string
		for _, n := range g.Nodes {
			if n.State == st {
				ids = append(ids, nodeID(n.CTID))
			}
		}
		fmt.Fprintf(w, "    class %s %s\n", strings.Join(ids, ","), st)
	}
}

// mermaidText escapes what would end a quoted label or an edge label.
func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "|", "#124;", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}

// WriteDOT writes g as a Graphviz digraph (`phoenix graph --format dot |
// dot -Tsvg`): templates as 3D boxes, clone edges solid with their
// snapshot, dependency edges dashed.
func WriteDOT(w io.Writer, g *Graph) {
	fmt.Fprintln(w, "digraph phoenix {")
	fmt.Fprintln(w, "    rankdir=LR;")
	fmt.Fprintln(w, "    node [shape=box, style=rounded];")
	for _, n := range g.Nodes {
		attrs := []string{"label=" + dotQuote(strconv.Itoa(n.CTID)+" "+n.Name+"\n"+n.describe())}
		style := "rounded"
		if n.Template {
			attrs = append(attrs, "shape=box3d")
			style = "solid"
		}
		if c := stateColors[n.State]; c != "" {
			style += ",filled"
			attrs = append(attrs, "fillcolor="+dotQuote(c))
		}
		if style != "rounded" {
			attrs = append(attrs, "style="+dotQuote(style))
		}
		fmt.Fprintf(w, "    %s [%s];\n", nodeID(n.CTID), strings.Join(attrs, ", "))
	}
	for _, e := range g.Edges {
		style := ""
		if !e.Clone {
			style = "style=dashed, "
		}
		fmt.Fprintf(w, "    %s -> %s [%slabel=%s];\n", nodeID(e.From), nodeID(e.To), style, dotQuote(e.text()))
	}
	fmt.Fprintln(w, "}")
}

// dotQuote is a DOT double-quoted string; a newline becomes \n.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// graphStates are the states present in g, in a fixed order.
func graphStates(g *Graph) []string {
	var out []string
	for _, st := range []string{StateBuilt, StateDrifted, StateFailed, StateMissing} {
		for _, n := range g.Nodes {
			if n.State == st {
				out = append(out, st)
				break
			}
		}
	}
	return out
}
