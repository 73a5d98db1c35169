package luaapi

import (
	"fmt"

	"github.com/yuin/gopher-lua/ast"
)

// maxSyntaxDepth bounds how deeply blocks and expressions nest. gopher-lua's
// compiler recurses along the nesting and is quadratic on long
// right-associative chains: a 300,000-term `a..a..a` chain takes it minutes,
// with no context check. PUC Lua stops at 200 C levels ("chunk has too many
// syntax levels"); left-associative chains count here too, hence more.
const maxSyntaxDepth = 1000

type depthError struct{ line int }

func (e *depthError) Error() string {
	return fmt.Sprintf("too many syntax levels (more than %d nested blocks or operators): split the expression or the function", maxSyntaxDepth)
}

// checkDepth walks the chunk and fails at the first node nested deeper
// than maxSyntaxDepth. The walk itself stops there, so its own recursion
// is bounded.
func checkDepth(chunk []ast.Stmt) (err error) {
	defer func() {
		if r := recover(); r != nil {
			de, ok := r.(*depthError)
			if !ok {
				panic(r)
			}
			err = de
		}
	}()
	w := walker{}
	w.stmts(chunk, 0)
	return nil
}

type walker struct{}

func (w walker) enter(line, depth int) {
	if depth > maxSyntaxDepth {
		panic(&depthError{line: line})
	}
}

func (w walker) stmts(ss []ast.Stmt, d int) {
	for _, s := range ss {
		w.stmt(s, d+1)
	}
}

func (w walker) exprs(es []ast.Expr, d int) {
	for _, e := range es {
		w.expr(e, d+1)
	}
}

func (w walker) stmt(s ast.Stmt, d int) {
	w.enter(s.Line(), d)
	switch x := s.(type) {
	case *ast.AssignStmt:
		w.exprs(x.Lhs, d)
		w.exprs(x.Rhs, d)
	case *ast.LocalAssignStmt:
		w.exprs(x.Exprs, d)
	case *ast.FuncCallStmt:
		w.expr(x.Expr, d+1)
	case *ast.DoBlockStmt:
		w.stmts(x.Stmts, d)
	case *ast.WhileStmt:
		w.expr(x.Condition, d+1)
		w.stmts(x.Stmts, d)
	case *ast.RepeatStmt:
		w.expr(x.Condition, d+1)
		w.stmts(x.Stmts, d)
	case *ast.IfStmt:
		w.expr(x.Condition, d+1)
		w.stmts(x.Then, d)
		w.stmts(x.Else, d)
	case *ast.NumberForStmt:
		w.expr(x.Init, d+1)
		w.expr(x.Limit, d+1)
		if x.Step != nil {
			w.expr(x.Step, d+1)
		}
		w.stmts(x.Stmts, d)
	case *ast.GenericForStmt:
		w.exprs(x.Exprs, d)
		w.stmts(x.Stmts, d)
	case *ast.FuncDefStmt:
		if x.Name != nil {
			if x.Name.Func != nil {
				w.expr(x.Name.Func, d+1)
			}
			if x.Name.Receiver != nil {
				w.expr(x.Name.Receiver, d+1)
			}
		}
		w.expr(x.Func, d+1)
	case *ast.ReturnStmt:
		w.exprs(x.Exprs, d)
	}
}

func (w walker) expr(e ast.Expr, d int) {
	if e == nil {
		return
	}
	w.enter(e.Line(), d)
	switch x := e.(type) {
	case *ast.AttrGetExpr:
		w.expr(x.Object, d+1)
		w.expr(x.Key, d+1)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			w.expr(f.Key, d+1)
			w.expr(f.Value, d+1)
		}
	case *ast.FuncCallExpr:
		w.expr(x.Func, d+1)
		w.expr(x.Receiver, d+1)
		w.exprs(x.Args, d)
	case *ast.LogicalOpExpr:
		w.expr(x.Lhs, d+1)
		w.expr(x.Rhs, d+1)
	case *ast.RelationalOpExpr:
		w.expr(x.Lhs, d+1)
		w.expr(x.Rhs, d+1)
	case *ast.StringConcatOpExpr:
		w.expr(x.Lhs, d+1)
		w.expr(x.Rhs, d+1)
	case *ast.ArithmeticOpExpr:
		w.expr(x.Lhs, d+1)
		w.expr(x.Rhs, d+1)
	case *ast.UnaryMinusOpExpr:
		w.expr(x.Expr, d+1)
	case *ast.UnaryNotOpExpr:
		w.expr(x.Expr, d+1)
	case *ast.UnaryLenOpExpr:
		w.expr(x.Expr, d+1)
	case *ast.FunctionExpr:
		w.stmts(x.Stmts, d)
	}
}
