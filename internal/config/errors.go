package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a configuration file, with its position and the
// field path of the value at fault, such as "tokens[2].targets[0].path".
type Error struct {
	File    string
	Line    int
	Column  int
	Path    string
	Message string
}

// Error formats the problem as "FILE:LINE:COLUMN: PATH: MESSAGE", leaving
// out the parts that are not known (a YAML syntax error has no column).
func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if e.Line > 0 && e.Column > 0 {
		fmt.Fprintf(&b, "%d:", e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in one configuration file, in file order.
type Errors []Error

// Error lists every problem, one per line.
func (errs Errors) Error() string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders errs by position and drops exact duplicates, which arise
// when several tokens inherit the same faulty default.
func sortErrors(errs Errors) Errors {
	seen := make(map[Error]bool, len(errs))
	unique := make(Errors, 0, len(errs))
	for _, e := range errs {
		if !seen[e] {
			seen[e] = true
			unique = append(unique, e)
		}
	}
	slices.SortStableFunc(unique, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return unique
}
