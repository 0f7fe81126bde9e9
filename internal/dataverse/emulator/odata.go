package emulator

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// A small OData $filter: comparisons (eq, ne) of a property with a literal, joined by and/or,
// with parentheses. It covers what the operator's client sends; anything else is a 400, as the
// service answers a filter it cannot parse.

type expr interface{ eval(r record) bool }

type comparison struct {
	field string
	op    string
	value any // string, float64, bool or nil
}

type logical struct {
	op   string // and | or
	l, r expr
}

func (c comparison) eval(r record) bool {
	eq := valueEqual(r[c.field], c.value)
	if c.op == "ne" {
		return !eq
	}
	return eq
}

func (l logical) eval(r record) bool {
	if l.op == "and" {
		return l.l.eval(r) && l.r.eval(r)
	}
	return l.l.eval(r) || l.r.eval(r)
}

func valueEqual(have, want any) bool {
	if want == nil || have == nil {
		return have == nil && want == nil
	}
	switch w := want.(type) {
	case string:
		h, ok := have.(string)
		return ok && strings.EqualFold(h, w) // GUIDs and names compare case-insensitively
	case float64:
		switch h := have.(type) {
		case int:
			return float64(h) == w
		case float64:
			return h == w
		case bool:
			return (w != 0) == h
		}
	case bool:
		switch h := have.(type) {
		case bool:
			return h == w
		case int:
			return (h != 0) == w
		}
	}
	return false
}

type lexer struct {
	toks []string
	pos  int
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			j := i + 1
			var b strings.Builder
			b.WriteByte('\'')
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string literal")
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			toks = append(toks, b.String())
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

func parseFilter(s string) (expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	l := &lexer{toks: toks}
	e, err := l.or()
	if err != nil {
		return nil, err
	}
	if l.pos != len(l.toks) {
		return nil, fmt.Errorf("unexpected %q", l.toks[l.pos])
	}
	return e, nil
}

func (l *lexer) peek() string {
	if l.pos < len(l.toks) {
		return l.toks[l.pos]
	}
	return ""
}

func (l *lexer) next() string { t := l.peek(); l.pos++; return t }

func (l *lexer) or() (expr, error) {
	left, err := l.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(l.peek(), "or") {
		l.next()
		right, err := l.and()
		if err != nil {
			return nil, err
		}
		left = logical{op: "or", l: left, r: right}
	}
	return left, nil
}

func (l *lexer) and() (expr, error) {
	left, err := l.term()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(l.peek(), "and") {
		l.next()
		right, err := l.term()
		if err != nil {
			return nil, err
		}
		left = logical{op: "and", l: left, r: right}
	}
	return left, nil
}

func (l *lexer) term() (expr, error) {
	if l.peek() == "(" {
		l.next()
		e, err := l.or()
		if err != nil {
			return nil, err
		}
		if l.next() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		return e, nil
	}
	field := l.next()
	if field == "" || !isIdent(field) {
		return nil, fmt.Errorf("expected a property name, got %q", field)
	}
	op := strings.ToLower(l.next())
	if op != "eq" && op != "ne" {
		return nil, fmt.Errorf("operator %q is not supported by the emulator", op)
	}
	lit := l.next()
	v, err := literal(lit)
	if err != nil {
		return nil, err
	}
	return comparison{field: strings.ToLower(field), op: op, value: v}, nil
}

func isIdent(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			return false
		}
	}
	return true
}

func literal(s string) (any, error) {
	switch {
	case strings.HasPrefix(s, "'"):
		return s[1:], nil
	case s == "null":
		return nil, nil
	case s == "true":
		return true, nil
	case s == "false":
		return false, nil
	case guidRE.MatchString(s):
		return strings.ToLower(s), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return nil, fmt.Errorf("bad literal %q", s)
	}
	return f, nil
}
