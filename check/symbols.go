package check

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"tvbridge"
)

// symbolRef is what the other checks need of one /symbol_info symbol.
type symbolRef struct {
	Name     string
	Ticker   string // the id of /history and /streaming: ticker, or name without one
	Type     string
	Timezone string
	Session  string
	HasDaily bool
	Sched    *tvbridge.Schedule // nil when session or timezone is unusable
}

// symbolSet is the /symbol_info catalogue.
type symbolSet struct {
	list []*symbolRef
	byID map[string]*symbolRef // name and ticker
}

var requiredColumns = []string{"symbol", "description", "currency", "exchange-listed", "exchange-traded",
	"minmovement", "pricescale", "timezone", "type", "session-regular"}

// checkSymbols runs the /groups and /symbol_info checks and keeps the
// catalogue for the others.
func (r *runner) checkSymbols(ctx context.Context) {
	groups, groupsEx := r.checkGroupsResponse(ctx)
	ex := r.c.get(ctx, "/symbol_info", nil, withToken)
	table, err := r.symbolInfoAnswer(ex)
	if err != nil {
		r.symbolsErr = "/symbol_info could not be read: " + err.Error()
		r.fail("symbol_info/response", ex, "%v", err)
		r.skipAll("symbol_info", "needs a readable /symbol_info")
		r.skipAll("groups/limits", "needs a readable /symbol_info")
		return
	}
	r.pass("symbol_info/response", "%s", plural(table.n, "symbol"))
	r.symbols = r.checkColumns(table, ex)
	if groups != nil {
		r.checkGroupLimits(ctx, groups, groupsEx)
	}
}

// symbolInfoAnswer validates the envelope of a /symbol_info answer.
func (r *runner) symbolInfoAnswer(ex *exchange) (*symbolTable, error) {
	if err := ex.failed(); err != nil {
		return nil, err
	}
	r.obs.schema("schema/symbol_info", "SymbolInfoResponse", ex)
	if !ex.jsonContentType() {
		return nil, fmt.Errorf("Content-Type is %q, want JSON", ex.header.Get("Content-Type"))
	}
	t, err := parseSymbolInfo(ex.body)
	if err != nil {
		return nil, err
	}
	if t.n == 0 {
		return nil, fmt.Errorf("no symbols")
	}
	return t, nil
}

// checkGroupsResponse checks /groups; it returns the ids, or nil when
// there is no usable /groups.
func (r *runner) checkGroupsResponse(ctx context.Context) ([]string, *exchange) {
	ex := r.c.get(ctx, "/groups", nil, withToken)
	if ex.status == http.StatusNotFound {
		r.skipAll("groups", "/groups answers HTTP 404: it is optional when symbols are not grouped")
		return nil, ex
	}
	if err := ex.failed(); err != nil {
		r.fail("groups/response", ex, "%v", err)
		r.skipAll("groups", "needs a working /groups")
		return nil, ex
	}
	r.obs.schema("schema/groups", "GroupListResponse", ex)
	ids, err := parseGroups(ex.body)
	switch {
	case err != nil:
		r.fail("groups/response", ex, "%v", err)
	case !ex.jsonContentType():
		r.fail("groups/response", ex, "Content-Type is %q, want JSON", ex.header.Get("Content-Type"))
	default:
		r.pass("groups/response", "%s", plural(len(ids), "group"))
	}
	if err != nil {
		r.skipAll("groups", "needs a readable /groups")
		return nil, ex
	}
	r.checkGroupIDs(ids, ex)
	return ids, ex
}

var groupID = regexp.MustCompile(`^[a-z_]+$`)

func (r *runner) checkGroupIDs(ids []string, ex *exchange) {
	t := &tally{}
	prefix := ""
	if len(ids) > 0 {
		if i := strings.IndexByte(ids[0], '_'); i >= 0 {
			prefix = ids[0][:i+1]
		}
	}
	for _, id := range ids {
		switch {
		case !groupID.MatchString(id):
			t.fail(ex, "group id %q: only lowercase Latin letters and _ are allowed", id)
		case prefix == "" || !strings.HasPrefix(id, prefix):
			t.fail(ex, "group id %q does not start with the common prefix %q (ids share one prefix ending in _)", id, prefix)
		}
	}
	if len(ids) == 0 {
		t.warn(ex, "/groups lists no groups")
	}
	t.pass("%s with prefix %q", plural(len(ids), "group id"), prefix)
	r.setTally("groups/ids", t)
}

// checkGroupLimits reads /symbol_info?group= for every group.
func (r *runner) checkGroupLimits(ctx context.Context, ids []string, groupsEx *exchange) {
	if !r.sel.enabled("groups/limits") {
		return
	}
	if len(ids) == 0 {
		r.skip("groups/limits", "/groups lists no groups")
		return
	}
	t := &tally{}
	if len(ids) > 10 {
		t.fail(groupsEx, "%d groups; TradingView allows at most 10", len(ids))
	}
	owner := make(map[string]string) // symbol -> group
	for _, id := range ids {
		ex := r.c.get(ctx, "/symbol_info", url.Values{"group": {id}}, withToken)
		table, err := r.symbolInfoAnswer(ex)
		if err != nil {
			t.fail(ex, "/symbol_info?group=%s: %v", id, err)
			continue
		}
		if table.n > 10000 {
			t.fail(ex, "group %s has %d symbols; at most 10 000 are allowed", id, table.n)
		}
		names, err := table.strings("symbol")
		if err != nil {
			t.fail(ex, "%v", err)
			continue
		}
		for _, n := range names {
			if g, ok := owner[str(n)]; ok && g != id {
				t.fail(ex, "symbol %s is in groups %s and %s; a symbol may be in one group only", str(n), g, id)
			}
			owner[str(n)] = id
		}
	}
	if r.symbols != nil && !t.failed() {
		r.compareGroupUnion(t, owner)
	}
	t.pass("%s in %s", plural(len(owner), "symbol"), plural(len(ids), "group"))
	r.setTally("groups/limits", t)
}

// compareGroupUnion requires the groups together to list /symbol_info.
func (r *runner) compareGroupUnion(t *tally, owner map[string]string) {
	var missing []string
	for _, s := range r.symbols.list {
		if _, ok := owner[s.Name]; !ok {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		t.fail(nil, "%s of /symbol_info in no group: %s", plural(len(missing), "symbol"), joinLimited(missing, 10))
	}
	var extra []string
	for name := range owner {
		if _, ok := r.symbols.byID[name]; !ok {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.fail(nil, "%s listed by a group but not by /symbol_info: %s", plural(len(extra), "symbol"), joinLimited(extra, 10))
	}
}

// columns holds the decoded columns the checks read; a column that does
// not decode is reported once, by the check it belongs to.
type columns struct {
	table *symbolTable
	ex    *exchange
	names []string
}

// checkColumns runs the per-column rules and builds the symbol set.
func (r *runner) checkColumns(table *symbolTable, ex *exchange) *symbolSet {
	cols := &columns{table: table, ex: ex}
	raw, err := table.strings("symbol")
	if err != nil {
		raw = make([]*string, table.n) // symbol-names reports it
	}
	for i, n := range raw {
		if n == nil {
			cols.names = append(cols.names, fmt.Sprintf("#%d", i))
		} else {
			cols.names = append(cols.names, *n)
		}
	}
	r.checkRequiredColumns(cols)
	r.checkSymbolNames(cols)
	set := r.checkTickers(cols)
	r.checkExchanges(cols)
	r.checkMinMovement(cols)
	r.checkPriceScale(cols)
	r.checkTimezones(cols)
	r.checkSessions(cols, set)
	r.checkTypes(cols, set)
	r.checkCurrency(cols)
	r.checkEnums(cols)
	r.checkNaming(cols)
	return set
}

func (r *runner) checkRequiredColumns(cols *columns) {
	t := &tally{}
	var missing []string
	for _, c := range requiredColumns {
		if !cols.table.has(c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.fail(cols.ex, "missing columns: %s", strings.Join(missing, ", "))
	}
	t.pass("all %d required columns present", len(requiredColumns))
	r.setTally("symbol_info/required-columns", t)
}

var symbolName = regexp.MustCompile(`^[A-Z0-9._]+$`)

func (r *runner) checkSymbolNames(cols *columns) {
	t := &tally{}
	names, err := cols.table.strings("symbol")
	if err != nil {
		t.fail(cols.ex, "%v", err)
	}
	seen := make(map[string]bool)
	for i, n := range names {
		switch {
		case n == nil:
			t.fail(cols.ex, "symbol #%d has no name", i)
		case !symbolName.MatchString(*n):
			t.fail(cols.ex, "symbol %q: only A-Z, 0-9, '.' and '_' are allowed (use ticker for other ids)", *n)
		case seen[*n]:
			t.fail(cols.ex, "symbol %s is listed twice", *n)
		}
		if n != nil {
			seen[*n] = true
		}
	}
	t.pass("%s, valid and unique", plural(len(names), "name"))
	r.setTally("symbol_info/symbol-names", t)
}

// checkTickers checks the ticker column and builds the symbol set, whose
// ids are tickers where given.
func (r *runner) checkTickers(cols *columns) *symbolSet {
	t := &tally{}
	tickers, err := cols.table.strings("ticker")
	if err != nil {
		t.fail(cols.ex, "%v", err)
		tickers = make([]*string, cols.table.n)
	}
	set := &symbolSet{byID: make(map[string]*symbolRef)}
	seen := make(map[string]string)
	for i, name := range cols.names {
		s := &symbolRef{Name: name, Ticker: name, HasDaily: true}
		if tk := tickers[i]; tk != nil {
			switch {
			case *tk == "":
				t.fail(cols.ex, "%s: ticker is empty", name)
			case strings.Contains(*tk, ","):
				t.fail(cols.ex, "%s: ticker %q contains a comma", name, *tk)
			case seen[*tk] != "" && seen[*tk] != name:
				t.fail(cols.ex, "ticker %q is used by %s and %s", *tk, seen[*tk], name)
			}
			if *tk != "" {
				s.Ticker = *tk
				seen[*tk] = name
			}
		}
		set.list = append(set.list, s)
		set.byID[s.Name] = s
		set.byID[s.Ticker] = s
	}
	if !cols.table.has("ticker") {
		t.pass("no ticker column: symbol names are the ids")
	}
	t.pass("%s without commas, unique", plural(len(seen), "ticker"))
	r.setTally("symbol_info/tickers", t)
	return set
}

func (r *runner) checkExchanges(cols *columns) {
	t := &tally{}
	for _, col := range []string{"exchange-listed", "exchange-traded"} {
		vals, err := cols.table.strings(col)
		if err != nil {
			t.fail(cols.ex, "%v", err)
			continue
		}
		for i, v := range vals {
			switch {
			case v == nil || *v == "":
				t.fail(cols.ex, "%s: %s is empty", cols.names[i], col)
			case *v != strings.ToUpper(*v):
				t.fail(cols.ex, "%s: %s %q is not uppercase", cols.names[i], col, *v)
			}
		}
	}
	t.pass("%s with uppercase exchanges", plural(cols.table.n, "symbol"))
	r.setTally("symbol_info/exchanges", t)
}

func (r *runner) checkMinMovement(cols *columns) {
	t := &tally{}
	vals, err := cols.table.numbers("minmovement")
	if err != nil {
		t.fail(cols.ex, "%v", err)
	}
	for i, v := range vals {
		switch {
		case v == nil:
			t.fail(cols.ex, "%s: minmovement is missing", cols.names[i])
		case *v <= 0 || *v != math.Trunc(*v):
			t.fail(cols.ex, "%s: minmovement %g is not a positive integer", cols.names[i], *v)
		}
	}
	t.pass("%s with an integer minmovement", plural(len(vals), "symbol"))
	r.setTally("symbol_info/minmovement", t)
}

// checkPriceScale requires a power of ten, as TradingView's test does; a
// power of two on a fractional symbol is valid in the spec, so it warns.
func (r *runner) checkPriceScale(cols *columns) {
	t := &tally{}
	vals, err := cols.table.numbers("pricescale")
	if err != nil {
		t.fail(cols.ex, "%v", err)
	}
	fractional, _ := cols.table.bools("fractional")
	for i, v := range vals {
		switch {
		case v == nil:
			t.fail(cols.ex, "%s: pricescale is missing", cols.names[i])
		case powerOf(*v, 10):
		case powerOf(*v, 2) && fractional != nil && fractional[i] != nil && *fractional[i]:
			t.warn(cols.ex, "%s: fractional pricescale %g; TradingView's test accepts only powers of ten", cols.names[i], *v)
		default:
			t.fail(cols.ex, "%s: pricescale %g is not a power of ten (tick = minmovement/pricescale)", cols.names[i], *v)
		}
	}
	t.pass("%s with a power-of-ten pricescale", plural(len(vals), "symbol"))
	r.setTally("symbol_info/pricescale", t)
}

// powerOf reports whether v is base^n for some n >= 0.
func powerOf(v, base float64) bool {
	if v < 1 || v != math.Trunc(v) || v > 1e18 {
		return false
	}
	for v > 1 {
		if math.Mod(v, base) != 0 {
			return false
		}
		v /= base
	}
	return v == 1
}

func (r *runner) checkTimezones(cols *columns) {
	t := &tally{}
	vals, err := cols.table.strings("timezone")
	if err != nil {
		t.fail(cols.ex, "%v", err)
	}
	for i, v := range vals {
		if v == nil {
			t.fail(cols.ex, "%s: timezone is missing", cols.names[i])
			continue
		}
		if _, err := time.LoadLocation(*v); err != nil || *v == "" || *v == "Local" {
			t.fail(cols.ex, "%s: timezone %q is not an IANA zone", cols.names[i], *v)
		} else if !tradingViewZones[*v] {
			t.warn(cols.ex, "%s: timezone %q is not in TradingView's list (spec 1.4.14)", cols.names[i], *v)
		}
	}
	t.pass("%s with a valid timezone", plural(len(vals), "symbol"))
	r.setTally("symbol_info/timezone", t)
}

func (r *runner) checkSessions(cols *columns, set *symbolSet) {
	t := &tally{}
	zones, _ := cols.table.strings("timezone")
	for _, col := range []string{"session-regular", "session-extended", "session-premarket", "session-postmarket"} {
		vals, err := cols.table.strings(col)
		if err != nil {
			t.fail(cols.ex, "%v", err)
			continue
		}
		for i, v := range vals {
			if v == nil {
				if col == "session-regular" {
					t.fail(cols.ex, "%s: session-regular is missing", cols.names[i])
				}
				continue
			}
			for _, p := range sessionProblems(*v) {
				t.fail(cols.ex, "%s: %s %q: %s", cols.names[i], col, *v, p)
			}
			if col == "session-regular" && set != nil {
				s := set.list[i]
				s.Session, s.Timezone = *v, str(zones[i])
				s.Sched = schedule(s.Session, s.Timezone)
			}
		}
	}
	t.pass("%s with valid sessions", plural(cols.table.n, "symbol"))
	r.setTally("symbol_info/session", t)
}

func (r *runner) checkTypes(cols *columns, set *symbolSet) {
	t := &tally{}
	vals, err := cols.table.strings("type")
	if err != nil {
		t.fail(cols.ex, "%v", err)
	}
	for i, v := range vals {
		switch {
		case v == nil:
			t.fail(cols.ex, "%s: type is missing", cols.names[i])
		case *v == "fund":
			t.warn(cols.ex, "%s: type \"fund\" is in TradingView's test list but not in the 1.4.14 spec", cols.names[i])
		case !symbolTypes[*v]:
			t.fail(cols.ex, "%s: type %q is not a TradingView symbol type", cols.names[i], *v)
		}
		if v != nil && set != nil {
			set.list[i].Type = *v
		}
	}
	if daily, err := cols.table.bools("has-daily"); err == nil && set != nil {
		for i, d := range daily {
			set.list[i].HasDaily = d == nil || *d
		}
	}
	t.pass("%s with a valid type", plural(len(vals), "symbol"))
	r.setTally("symbol_info/type", t)
}

func (r *runner) checkCurrency(cols *columns) {
	t := &tally{}
	vals, err := cols.table.strings("currency")
	if err != nil {
		t.fail(cols.ex, "%v", err)
	}
	for i, v := range vals {
		if v == nil || *v == "" {
			t.fail(cols.ex, "%s: currency is missing (TradingView's test requires it)", cols.names[i])
		}
	}
	t.pass("%s with a currency", plural(len(vals), "symbol"))
	r.setTally("symbol_info/currency", t)
}

var columnEnums = map[string][]string{
	"bar-source":    {"bid", "ask", "mid", "trade"},
	"bar-transform": {"none", "openprev", "prevopen"},
	"volume-type":   {"base", "quote", "tick", "contract"},
}

func (r *runner) checkEnums(cols *columns) {
	t := &tally{}
	for _, col := range []string{"bar-source", "bar-transform", "volume-type"} {
		vals, err := cols.table.strings(col)
		if err != nil {
			t.fail(cols.ex, "%v", err)
			continue
		}
		for i, v := range vals {
			if v != nil && !slices.Contains(columnEnums[col], *v) {
				t.fail(cols.ex, "%s: %s %q is not one of %s", cols.names[i], col, *v, strings.Join(columnEnums[col], ", "))
			}
		}
	}
	t.pass("bar-source, bar-transform and volume-type valid for %s", plural(cols.table.n, "symbol"))
	r.setTally("symbol_info/enums", t)
}

// futuresName is ROOT + month code + year, with an optional 2-digit day
// before the month code.
func futuresName(root string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(root) + `([0-3][0-9])?[FGHJKMNQUVXZ][0-9]{4}$`)
}

// checkNaming compares names with TradingView's conventions; they are
// advice, so a deviation is a warning.
func (r *runner) checkNaming(cols *columns) {
	t := &tally{}
	types, _ := cols.table.strings("type")
	bases, _ := cols.table.strings("base-currency")
	quotes, _ := cols.table.strings("currency")
	roots, _ := cols.table.strings("root")
	for i, name := range cols.names {
		typ := ""
		if types != nil {
			typ = str(types[i])
		}
		switch {
		case typ == "forex" && bases != nil && quotes != nil && bases[i] != nil && quotes[i] != nil:
			if want := *bases[i] + *quotes[i]; !strings.HasPrefix(name, want) {
				t.warn(cols.ex, "%s: a forex pair is named BASEQUOTE (%s)", name, want)
			}
		case typ == "futures" && roots != nil && roots[i] != nil && *roots[i] != "":
			if !futuresName(*roots[i]).MatchString(name) {
				t.warn(cols.ex, "%s: a future is named ROOT+month code+year, e.g. %sM2026", name, *roots[i])
			}
		}
	}
	t.pass("%s follow the conventions", plural(len(cols.names), "name"))
	r.setTally("symbol_info/naming", t)
}
