package models_test

import (
	"context"
	"database/sql"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"nantian/models/testdb"
)

// Queries that name an index (FORCE INDEX, USE INDEX, IGNORE INDEX) fail at run
// time with error 1176 once a migration renames or drops it; nothing at build
// time or in the plan test's EXPLAIN of other queries would notice first. The
// names are collected from the sources themselves (every non-test .go file of
// the module), not from a list someone must keep, so a new hint is checked the
// day it is written; a hint the scanner cannot resolve to literal names fails
// the test rather than being skipped.

// indexHint is one index named by a hint in the sources.
type indexHint struct {
	table, index string
	at           string // file:line of the hint
}

// hintRE finds a hint in a query's text, written out or with {{ident}} standing
// for a Go variable spliced into it; group 1 is what the parentheses hold.
var hintRE = regexp.MustCompile(`(?i)\b(?:FORCE|USE|IGNORE)\s+(?:INDEX|KEY)(?:\s+FOR\s+(?:JOIN|ORDER\s+BY|GROUP\s+BY))?\s*\(([^)]*)\)?`)

// tableBeforeRE finds the table a hint belongs to in the text before it: the last
// FROM/JOIN table with an optional alias, or (for a FROM clause kept in a
// variable) the text's only table.
var (
	tableBeforeRE = regexp.MustCompile("(?is)(?:FROM|JOIN|UPDATE)\\s+`?(\\w+)`?(?:\\s+(?:AS\\s+)?\\w+)?\\s*$")
	bareTableRE   = regexp.MustCompile("(?is)^\\s*`?(\\w+)`?(?:\\s+(?:AS\\s+)?\\w+)?\\s*$")
	identRE       = regexp.MustCompile(`^\{\{(\w+)\}\}$`)
	indexNameRE   = regexp.MustCompile("^`?(\\w+)`?$")
)

// collectIndexHints scans every non-test Go file under root.
func collectIndexHints(root string) (hints []indexHint, problems []string, err error) {
	fset := token.NewFileSet()
	byDir := map[string][]*ast.File{}
	var dirs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "vendor", "node_modules", ".git", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if byDir[dir] == nil {
			dirs = append(dirs, dir)
		}
		byDir[dir] = append(byDir[dir], f)
		return nil
	})
	for _, dir := range dirs {
		vars := packageVars(byDir[dir])
		for _, f := range byDir[dir] {
			h, p := hintsInFile(fset, f, vars)
			hints = append(hints, h...)
			problems = append(problems, p...)
		}
	}
	return hints, problems, err
}

// packageVars maps each package-level variable of files to its declaration.
func packageVars(files []*ast.File) map[string]*ast.ValueSpec {
	vars := map[string]*ast.ValueSpec{}
	for _, f := range files {
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for _, n := range vs.Names {
					vars[n.Name] = vs
				}
			}
		}
	}
	return vars
}

// hintsInFile finds the hints in one file's string literals. A literal joined
// with others by + is read with them (variables standing as {{name}}, a field
// as {{v.field}}). In the parentheses a variable is resolved to the string
// literals assigned to it in the same function, and v.field, where v ranges
// over a package-level table of struct literals (vars), to that field's
// literals; a name may be a literal joined to one of those.
func hintsInFile(fset *token.FileSet, f *ast.File, vars map[string]*ast.ValueSpec) (hints []indexHint, problems []string) {
	for _, decl := range f.Decls {
		var scope ast.Node = decl
		seen := map[ast.Node]bool{} // operands of a chain already read with it
		ast.Inspect(decl, func(n ast.Node) bool {
			switch e := n.(type) {
			case *ast.BinaryExpr:
				if seen[e] || e.Op != token.ADD {
					return true
				}
				var parts []ast.Expr
				flattenAdd(e, &parts, seen)
				text, ok := chainText(parts)
				if !ok || !hintRE.MatchString(text) {
					return true
				}
				h, p := hintsInText(text, fset.Position(e.Pos()).String(), scope, vars)
				hints, problems = append(hints, h...), append(problems, p...)
			case *ast.BasicLit:
				if seen[e] || e.Kind != token.STRING {
					return true
				}
				text, err := strconv.Unquote(e.Value)
				if err != nil || !hintRE.MatchString(text) {
					return true
				}
				h, p := hintsInText(text, fset.Position(e.Pos()).String(), scope, vars)
				hints, problems = append(hints, h...), append(problems, p...)
			}
			return true
		})
	}
	return hints, problems
}

// flattenAdd lists the operands of a chain of + in order, marking them read.
func flattenAdd(e ast.Expr, parts *[]ast.Expr, seen map[ast.Node]bool) {
	seen[e] = true
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
		flattenAdd(b.X, parts, seen)
		flattenAdd(b.Y, parts, seen)
		return
	}
	if p, ok := e.(*ast.ParenExpr); ok {
		flattenAdd(p.X, parts, seen)
		return
	}
	*parts = append(*parts, e)
}

// chainText is the chain's text, a variable as {{name}} and any other operand
// as {{?}}; false when the chain holds no string literal (numbers).
func chainText(parts []ast.Expr) (string, bool) {
	var b strings.Builder
	str := false
	for _, p := range parts {
		switch v := p.(type) {
		case *ast.BasicLit:
			if v.Kind != token.STRING {
				b.WriteString("{{?}}")
				continue
			}
			s, err := strconv.Unquote(v.Value)
			if err != nil {
				return "", false
			}
			str = true
			b.WriteString(s)
		case *ast.Ident:
			b.WriteString("{{" + v.Name + "}}")
		case *ast.SelectorExpr:
			if x, ok := v.X.(*ast.Ident); ok {
				b.WriteString("{{" + x.Name + "." + v.Sel.Name + "}}")
			} else {
				b.WriteString("{{?}}")
			}
		default:
			b.WriteString("{{?}}")
		}
	}
	return b.String(), str
}

// hintsInText reads each hint of one query text.
func hintsInText(text, at string, scope ast.Node, vars map[string]*ast.ValueSpec) (hints []indexHint, problems []string) {
	for _, m := range hintRE.FindAllStringSubmatchIndex(text, -1) {
		before, inside := text[:m[0]], text[m[2]:m[3]]
		table := ""
		if t := tableBeforeRE.FindStringSubmatch(before); t != nil {
			table = t[1]
		} else if t := bareTableRE.FindStringSubmatch(before); t != nil {
			table = t[1]
		}
		if table == "" || !strings.HasSuffix(text[:m[1]], ")") {
			problems = append(problems, fmt.Sprintf("%s: cannot read the table or the index list of the hint in %q", at, text))
			continue
		}
		for _, name := range strings.Split(inside, ",") {
			names, err := resolveName(strings.Trim(strings.TrimSpace(name), "`"), scope, vars)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v in %q", at, err, text))
				continue
			}
			for _, n := range names {
				hints = append(hints, indexHint{table: table, index: n, at: at})
			}
		}
	}
	return hints, problems
}

// placeholderRE finds the Go values spliced into a name.
var placeholderRE = regexp.MustCompile(`\{\{([\w.]+|\?)\}\}`)

// resolveName turns one name of a hint's list into the index names it can be:
// itself when written out; with one spliced value, the name with each literal
// that value can have.
func resolveName(name string, scope ast.Node, vars map[string]*ast.ValueSpec) ([]string, error) {
	loc := placeholderRE.FindAllStringSubmatchIndex(name, -1)
	switch {
	case len(loc) == 0:
		if !indexNameRE.MatchString(name) {
			return nil, fmt.Errorf("cannot read index name %q", name)
		}
		return []string{name}, nil
	case len(loc) > 1:
		return nil, fmt.Errorf("index name %q splices more than one value", name)
	}
	expr := name[loc[0][2]:loc[0][3]]
	var vals []string
	ok := false
	if x, field, isSel := strings.Cut(expr, "."); isSel {
		vals, ok = tableField(scope, x, field, vars)
		if !ok {
			return nil, fmt.Errorf("the hint's index comes from %s, which is not a field of a package-level table of string literals ranged over here", expr)
		}
	} else if expr != "?" {
		vals, ok = literalAssignments(scope, expr)
		if !ok || len(vals) == 0 {
			return nil, fmt.Errorf("the hint's index comes from %s, which is not only ever assigned string literals in its function", expr)
		}
	} else {
		return nil, fmt.Errorf("cannot read index name %q (an expression spliced in)", name)
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		n := name[:loc[0][0]] + v + name[loc[0][1]:]
		if !indexNameRE.MatchString(n) {
			return nil, fmt.Errorf("cannot read index name %q", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// tableField resolves x.field where scope has `for _, x := range T` over a
// package-level variable T whose value is a slice of struct literals: the
// field's string literal in every element (keyed or by position).
func tableField(scope ast.Node, x, field string, vars map[string]*ast.ValueSpec) ([]string, bool) {
	var table string
	ast.Inspect(scope, func(n ast.Node) bool {
		r, ok := n.(*ast.RangeStmt)
		if !ok {
			return true
		}
		if v, ok := r.Value.(*ast.Ident); ok && v.Name == x {
			if t, ok := r.X.(*ast.Ident); ok {
				table = t.Name
			}
		}
		return true
	})
	spec := vars[table]
	if spec == nil || len(spec.Values) != len(spec.Names) {
		return nil, false
	}
	var lit *ast.CompositeLit
	for i, n := range spec.Names {
		if n.Name == table {
			lit, _ = spec.Values[i].(*ast.CompositeLit)
		}
	}
	if lit == nil {
		return nil, false
	}
	typ := lit.Type
	if typ == nil {
		typ = spec.Type
	}
	pos := -1 // the field's position, for unkeyed elements
	if at, ok := typ.(*ast.ArrayType); ok {
		if st, ok := at.Elt.(*ast.StructType); ok {
			i := 0
			for _, f := range st.Fields.List {
				for _, n := range f.Names {
					if n.Name == field {
						pos = i
					}
					i++
				}
			}
		}
	}
	var vals []string
	for _, e := range lit.Elts {
		el, ok := e.(*ast.CompositeLit)
		if !ok {
			return nil, false
		}
		var v ast.Expr
		for i, fe := range el.Elts {
			if kv, ok := fe.(*ast.KeyValueExpr); ok {
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == field {
					v = kv.Value
				}
			} else if i == pos {
				v = fe
			}
		}
		b, ok := v.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return nil, false
		}
		s, err := strconv.Unquote(b.Value)
		if err != nil {
			return nil, false
		}
		vals = append(vals, s)
	}
	return vals, len(vals) > 0
}

// literalAssignments returns the string literals assigned to the variable name
// in scope (:=, =, var); false if any assignment to it is something else.
func literalAssignments(scope ast.Node, name string) ([]string, bool) {
	var vals []string
	ok := true
	take := func(lhs []ast.Expr, rhs []ast.Expr) {
		for i, l := range lhs {
			id, isIdent := l.(*ast.Ident)
			if !isIdent || id.Name != name {
				continue
			}
			if len(rhs) != len(lhs) {
				ok = false
				return
			}
			lit, isLit := rhs[i].(*ast.BasicLit)
			if !isLit || lit.Kind != token.STRING {
				ok = false
				return
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				ok = false
				return
			}
			vals = append(vals, s)
		}
	}
	ast.Inspect(scope, func(n ast.Node) bool {
		switch a := n.(type) {
		case *ast.AssignStmt:
			take(a.Lhs, a.Rhs)
		case *ast.ValueSpec:
			lhs := make([]ast.Expr, len(a.Names))
			for i, n := range a.Names {
				lhs[i] = n
			}
			take(lhs, a.Values)
		}
		return true
	})
	return vals, ok
}

// missingIndexes names each hinted index that the database's tables lack.
func missingIndexes(ctx context.Context, db *sql.DB, hints []indexHint) ([]string, error) {
	var missing []string
	for _, h := range hints {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.STATISTICS
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?`, h.table, h.index).Scan(&n); err != nil {
			return nil, fmt.Errorf("look up index %s.%s: %w", h.table, h.index, err)
		}
		if n == 0 {
			missing = append(missing, fmt.Sprintf("%s: index %s on table %s does not exist after the migrations (the query fails with error 1176)", h.at, h.index, h.table))
		}
	}
	return missing, nil
}

func moduleHints(t *testing.T) []indexHint {
	t.Helper()
	hints, problems, err := collectIndexHints("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if len(hints) == 0 {
		t.Fatal("no index hint found in the sources: the scanner is broken (there are FORCE INDEX queries in models/)")
	}
	sort.Slice(hints, func(i, j int) bool { return hints[i].at+hints[i].index < hints[j].at+hints[j].index })
	return hints
}

// Every index a hint names exists on its table after the migrations.
func TestIndexHintsNameExistingIndexes(t *testing.T) {
	hints := moduleHints(t)
	for _, h := range hints {
		t.Logf("%s: %s.%s", h.at, h.table, h.index)
	}
	missing, err := missingIndexes(context.Background(), testDB, hints)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Error(m)
	}
}

// The check fails when a hinted index is gone: on a copy of the schema, one
// hinted index is dropped and must be reported, naming the hint.
func TestIndexHintsCheckSeesADroppedIndex(t *testing.T) {
	ctx := context.Background()
	hints := moduleHints(t)
	dsn, drop, err := testdb.CreateLike(ctx, testDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dropped *indexHint
	for i, h := range hints {
		if h.index == "PRIMARY" {
			continue
		}
		if _, err := db.ExecContext(ctx, "ALTER TABLE `"+h.table+"` DROP INDEX `"+h.index+"`"); err == nil {
			dropped = &hints[i]
			break
		}
	}
	if dropped == nil {
		t.Fatal("no hinted index could be dropped on the copy")
	}
	missing, err := missingIndexes(ctx, db, hints)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 || !strings.Contains(strings.Join(missing, "\n"), "index "+dropped.index+" on table "+dropped.table) {
		t.Fatalf("dropped %s.%s, the check reported %q", dropped.table, dropped.index, missing)
	}
}

// The scanner reads the hint shapes the sources use and refuses one it cannot
// resolve, so a hint cannot slip past the check by being written differently.
func TestIndexHintScannerShapes(t *testing.T) {
	src := `package p
func a() { q := "SELECT id FROM users FORCE INDEX (idx_a) WHERE x"; _ = q }
func b(s bool) {
	index := "PRIMARY"
	if s { index = "idx_b" }
	_ = "SELECT b.id FROM bookings b FORCE INDEX (" + index + ") WHERE b.id > ?"
}
func c() { from := ` + "`complaints c USE INDEX (idx_c1, idx_c2)`" + `; _ = from }
func d(x string) { _ = "SELECT 1 FROM t IGNORE INDEX (" + x + ")" }
func e() { _ = fmt.Sprintf("SELECT 1 FROM t FORCE INDEX (%s)", "idx") }
var steps = []struct{ name, col string }{{"a", "a_bucket"}, {name: "b", col: "b_bucket"}}
func f() {
	for _, st := range steps {
		_ = "SELECT 1 FROM complaints FORCE INDEX (idx_complaints_" + st.col + ") WHERE " + st.col + " = ?"
	}
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	hints, problems := hintsInFile(fset, f, packageVars([]*ast.File{f}))
	var got []string
	for _, h := range hints {
		got = append(got, h.table+"."+h.index)
	}
	want := "users.idx_a bookings.PRIMARY bookings.idx_b complaints.idx_c1 complaints.idx_c2 complaints.idx_complaints_a_bucket complaints.idx_complaints_b_bucket"
	if strings.Join(got, " ") != want {
		t.Errorf("hints %q, want %q", strings.Join(got, " "), want)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "x, which is not") || !strings.Contains(problems[1], `"%s"`) {
		t.Errorf("problems %q, want the unresolvable variable x and the %%s placeholder", problems)
	}
}
