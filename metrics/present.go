package metrics

import "reflect"

// present reports whether a source was given: not a nil interface, and not
// a typed nil pointer in one (a *trading.Manager left nil when trading is
// off), which would only fail at the first scrape.
func present(src any) bool {
	if src == nil {
		return false
	}
	v := reflect.ValueOf(src)
	return v.Kind() != reflect.Pointer || !v.IsNil()
}
