package api

import (
	"fmt"
	"time"

	"tvbridge"
)

// tradingViewZones are the zones /symbol_info may use.
var tradingViewZones = tvbridge.TradingViewTimezones

// The window over which a zone outside the enum must keep exactly the same
// UTC offsets as its replacement. It covers the history the bridge serves.
var (
	zoneWindowStart = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	zoneWindowEnd   = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
)

// tradingViewZone maps an IANA zone to one TradingView accepts: the zone
// itself when it is in the enum, otherwise the first enum zone with the same
// UTC offsets and the same transition instants from 2015 to 2040 (UTC for
// Etc/GMT, Europe/Moscow for Europe/Minsk, ...). Session strings mean the same
// in both zones, so they need no conversion.
func tradingViewZone(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("no timezone")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return "", fmt.Errorf("timezone %q: %w", name, err)
	}
	for _, z := range tradingViewZones {
		if z == name {
			return z, nil
		}
	}
	for _, z := range tradingViewZones {
		cand, err := time.LoadLocation(z)
		if err == nil && sameOffsets(loc, cand) {
			return z, nil
		}
	}
	return "", fmt.Errorf("timezone %q matches no zone TradingView accepts", name)
}

// sameOffsets reports whether a and b have the same UTC offset throughout
// the window. It compares them at the start and at every transition of
// either zone, which is where an offset can change.
func sameOffsets(a, b *time.Location) bool {
	for t := zoneWindowStart; t.Before(zoneWindowEnd); {
		_, offA := t.In(a).Zone()
		_, offB := t.In(b).Zone()
		if offA != offB {
			return false
		}
		_, endA := t.In(a).ZoneBounds()
		_, endB := t.In(b).ZoneBounds()
		switch {
		case endA.IsZero() && endB.IsZero():
			return true // neither zone changes again
		case endA.IsZero() || (!endB.IsZero() && endB.Before(endA)):
			t = endB
		default:
			t = endA
		}
	}
	return true
}
