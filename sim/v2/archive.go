package v2sim

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"tvbridge"
	"tvbridge/tinvest/wire"
)

// archiveAPI serves GET /history-data?instrument_id=...&year=YYYY: a ZIP of
// one CSV file per UTC day with the year's 1-minute candles
// (wire.WriteArchive's format), without the current UTC day. A year
// without candles answers 404, as the service does; the archive has its
// own limit (Config.ArchiveRateLimit a minute per token).
type archiveAPI struct {
	srv     *Server
	windows *windows
}

func (a *archiveAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := a.srv
	s.stats.archiveRequests.Add(1)
	w.Header().Set(wire.HeaderTrackingID, s.trackingID())
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("archive handler panicked", "panic", p)
			s.writeError(w, http.StatusInternalServerError, wire.CodeInternal, codeInternal, "internal error")
		}
	}()
	if r.Method != http.MethodGet {
		s.writeError(w, http.StatusMethodNotAllowed, wire.CodeUnimplemented, "", "use GET")
		return
	}
	token, ok := bearer(r)
	if !ok || !s.acceptToken(token) {
		s.writeError(w, http.StatusUnauthorized, wire.CodeUnauthenticated, wire.ErrUnauthenticated,
			"authentication token is missing or invalid")
		return
	}
	now := s.clock.Now()
	if limit := s.cfg.ArchiveRateLimit; limit > 0 {
		ok, remaining := a.windows.take(token, limit, now)
		setRateHeaders(w, limit, remaining, resetSeconds(now))
		if !ok {
			s.stats.restRateLimited.Add(1)
			s.writeError(w, http.StatusTooManyRequests, wire.CodeResourceExhausted, wire.ErrRequestLimit,
				"archive request limit exceeded")
			return
		}
	}
	q := r.URL.Query()
	in, ok := s.cat.lookup(q.Get("instrument_id"))
	if !ok {
		s.writeError(w, http.StatusNotFound, wire.CodeNotFound, codeInstrumentNotFound, "instrument not found")
		return
	}
	year, err := strconv.Atoi(q.Get("year"))
	if err != nil || year < 1970 || year > 9999 {
		s.writeError(w, http.StatusBadRequest, wire.CodeInvalidArgument, codeBadRequest, "year must be a four-digit year")
		return
	}
	body, ok := a.build(in, year, now)
	if !ok {
		s.writeError(w, http.StatusNotFound, wire.CodeNotFound, "", "no data for "+strconv.Itoa(year))
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Write(body)
}

// build zips the year's 1-minute candles before the current UTC day, or
// reports that there are none.
func (a *archiveAPI) build(in *instrument, year int, now time.Time) ([]byte, bool) {
	from := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	to := earlier(from.AddDate(1, 0, 0), now.UTC().Truncate(24*time.Hour))
	if !from.Before(to) || !in.Listed.Before(to) {
		return nil, false
	}
	from = later(from, in.Listed.Truncate(24*time.Hour))
	var rows []wire.ArchiveCandle
	// A day at a time keeps each model call small.
	for day := from; day.Before(to); day = day.Add(24 * time.Hour) {
		for _, c := range a.srv.market.Candles(in.FIGI, tvbridge.Interval1Min, day, earlier(day.Add(24*time.Hour), to), now) {
			rows = append(rows, wire.ArchiveCandle{ID: in.uid, Time: c.Time, Open: in.price(c.Open),
				Close: in.price(c.Close), High: in.price(c.High), Low: in.price(c.Low), Volume: int64(c.Volume)})
		}
	}
	if len(rows) == 0 {
		return nil, false
	}
	var buf bytes.Buffer
	if err := wire.WriteArchive(&buf, rows); err != nil {
		a.srv.log.Error("archive not written", "figi", in.FIGI, "year", year, "err", err)
		return nil, false
	}
	return buf.Bytes(), true
}
