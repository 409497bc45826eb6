package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"tvbridge"
)

// badRequest is a /history error caused by the request; its message is for
// the user. Every other error is logged and reported as unavailable data.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

// responseKey identifies an exact /history response. to is already clamped
// to now, and from is 0 for countback requests.
type responseKey struct {
	figi      string
	res       resolution
	from, to  int64
	countback int
}

// dayKey identifies the 1-minute bars of one UTC day of one instrument.
type dayKey struct {
	figi string
	day  int64
}

// serveHistory answers /history. Responses are cut from encoded fragments
// (see fragment); a response covering only closed bars that is asked for a
// second time is also kept whole, so from then on it is a map lookup and
// one write.
func (h *Handler) serveHistory(w http.ResponseWriter, r *http.Request, query url.Values) {
	q, err := parseHistoryQuery(query, h.cat, h.cfg.MaxCountback)
	if err != nil {
		h.writeError(w, err.Error())
		h.stats.countHistory(w, resInvalid)
		return
	}
	body, pieces, err := h.history(r.Context(), q)
	var bad badRequest
	switch {
	case errors.As(err, &bad):
		h.writeError(w, bad.msg)
	case err != nil:
		h.log.Error("history: read bars", "symbol", q.sym.Name, "resolution", q.res.String(), "err", err)
		h.writeError(w, "bars of "+q.sym.Name+" are temporarily unavailable; please retry")
	case body != nil:
		writeJSON(w, body)
	default:
		buf := getBuffer()
		*buf = appendHistory((*buf)[:0], pieces)
		writeJSON(w, *buf)
		putBuffer(buf)
	}
	h.stats.countHistory(w, resolutionLabel(q.res))
}

// history answers a validated request with either a complete body or the
// pieces to assemble.
func (h *Handler) history(ctx context.Context, q historyQuery) ([]byte, []piece, error) {
	figi := q.sym.Instrument.FIGI
	to := min(q.to, h.clock.Now().Unix()) // no bar lies in the future
	key := responseKey{figi: figi, res: q.res, from: q.from, to: to, countback: q.countback}
	if q.countback > 0 {
		key.from = 0
	}
	if err := h.checkRange(q, to); err != nil {
		return nil, nil, err
	}
	if body, ok := h.responses.get(key); ok {
		return body, nil, nil
	}
	if to < 0 {
		// Before 1970: the store holds nothing that old. The answer is
		// immediate, as for any range before the first bar.
		return h.emptyBody(-1), nil, nil
	}
	q.from = max(q.from, 0)
	first, known, err := h.cfg.History.FirstBar(ctx, figi)
	if err != nil {
		return nil, nil, fmt.Errorf("first bar of %s: %w", figi, err)
	}
	floor := sourceFloor(q.res, first, known)
	if known && to < floor-intradayWidth(q.res) {
		// Entirely before the first bar: TradingView walks back towards
		// 1800 until it gets this, so answer without reading storage.
		return h.emptyBody(-1), nil, nil
	}
	pieces, err := h.collect(ctx, q, to, floor)
	if err != nil {
		return nil, nil, err
	}
	if countBars(pieces) == 0 {
		body, err := h.emptyAnswer(ctx, q, floor)
		return body, nil, err
	}
	if h.closed(q, to) {
		if body := h.keepIfRepeated(key, pieces); body != nil {
			return body, nil, nil
		}
	}
	return nil, pieces, nil
}

// keepIfRepeated caches the response of a closed range the second time it
// is asked for and returns its bytes; the first time it only notes the key.
// TradingView's several machines repeat requests, while one-off windows
// would just churn the cache.
func (h *Handler) keepIfRepeated(key responseKey, pieces []piece) []byte {
	if _, again := h.seen.get(key); !again {
		h.seen.put(key, struct{}{}, 1)
		return nil
	}
	body := appendHistory(make([]byte, 0, historySize(pieces)), pieces)
	h.responses.put(key, body, int64(len(body))+64)
	return body
}

// Assembly buffers for responses that are not cached, so that serving a
// new range allocates nothing in the steady state.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 128<<10); return &b }}

const maxPooledBuffer = 4 << 20

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		bufferPool.Put(b)
	}
}

// checkRange bounds the minutes an intraday request may read: from..to, or
// countback bars of the resolution, must fit in MaxHistoryRange.
func (h *Handler) checkRange(q historyQuery, to int64) error {
	limit := int64(h.cfg.MaxHistoryRange / time.Second)
	switch {
	case q.res.daily():
		return nil
	case q.countback > 0 && int64(q.countback)*q.res.width() > limit:
		return badRequest{fmt.Sprintf("countback %d of %s-minute bars spans more than %s; ask for at most %d bars",
			q.countback, q.res, formatDays(h.cfg.MaxHistoryRange), limit/q.res.width())}
	case q.countback == 0 && to-q.from > limit:
		return badRequest{fmt.Sprintf("range too long: at most %s of %s-minute bars per request; ask for shorter ranges",
			formatDays(h.cfg.MaxHistoryRange), q.res)}
	}
	return nil
}

// growSpan doubles a walk-back chunk. Intraday chunks stop growing at
// MaxHistoryRange, so that a chunk reaching past a long gap into dense
// history reads a bounded number of minutes.
func (h *Handler) growSpan(span int64, res resolution) int64 {
	if res.daily() {
		return span * 2
	}
	return min(span*2, int64(h.cfg.MaxHistoryRange/time.Second))
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// sourceFloor is the earliest time a source bar of res can carry, or 0 when
// the first bar is unknown. A daily bar is stamped 00:00 UTC of its trading
// day, which can be up to two days before the first minute traded.
func sourceFloor(res resolution, first time.Time, known bool) int64 {
	if !known {
		return 0
	}
	if res.daily() {
		return max(0, first.Unix()-2*secondsPerDay)
	}
	return max(0, first.Unix())
}

// intradayWidth is how far before its first minute an intraday bar can be
// stamped; daily-based bars are covered by sourceFloor.
func intradayWidth(res resolution) int64 {
	if res.daily() {
		return 0
	}
	return res.width()
}

// collect gathers the bars of the request as encoded pieces.
func (h *Handler) collect(ctx context.Context, q historyQuery, to, floor int64) ([]piece, error) {
	if q.countback == 0 && q.from > to {
		return nil, nil // the whole range is in the future
	}
	var bars []tvbridge.Bar
	var err error
	switch {
	case q.countback > 0:
		bars, err = h.countbackBars(ctx, q, to, floor)
	case q.res == resolution{unitMinute, 1}:
		return h.minutePieces(ctx, q.sym.Instrument.FIGI, q.from, to, floor)
	default:
		bars, err = h.rangeBars(ctx, q, q.from, to)
	}
	if err != nil {
		return nil, err
	}
	f := buildFragment(bars, 0, maxUnix+1)
	return []piece{{f, 0, f.len()}}, nil
}

// closed reports whether every bar the request could include is immutable,
// so that its response may be cached. A trading day ends at most 36 hours
// after its 00:00 UTC stamp (12 h west of UTC, overnight sessions end on the
// day itself); 48 hours keeps a margin.
func (h *Handler) closed(q historyQuery, to int64) bool {
	end := to + q.res.width()
	if q.res.daily() {
		end = q.res.blockEnd(to) + 2*secondsPerDay
	}
	return end <= h.cfg.History.ClosedBefore(q.sym.Instrument.FIGI).Unix()
}

// minutePieces serves 1-minute bars from per-day fragments: each closed part
// of a UTC day is encoded once and cached, so a range is a few slices of
// them; only the bars after ClosedBefore are read and encoded per request.
func (h *Handler) minutePieces(ctx context.Context, figi string, from, to, floor int64) ([]piece, error) {
	closedEnd := floorMinute(h.cfg.History.ClosedBefore(figi).Unix())
	var pieces []piece
	day := floorDay(max(from, floor))
	for ; day <= to && day < closedEnd; day += secondsPerDay {
		coverEnd := min(day+secondsPerDay, closedEnd)
		f, err := h.dayFragment(ctx, figi, day, coverEnd)
		if err != nil {
			return nil, err
		}
		i, j := f.search(max(from, day)), f.search(min(to+1, coverEnd))
		if j > i {
			pieces = append(pieces, piece{f, i, j})
		}
	}
	if tail := max(from, closedEnd); tail <= to {
		bars, err := h.cfg.History.Minutes(ctx, figi, unixTime(tail), unixTime(to+1))
		if err != nil {
			return nil, fmt.Errorf("minutes of %s: %w", figi, err)
		}
		f := buildFragment(bars, tail, to+1)
		pieces = append(pieces, piece{f, 0, f.len()})
	}
	return pieces, nil
}

// dayFragment returns the encoded 1-minute bars of [day, coverEnd), which
// must all be closed. The day's fragment is rebuilt when ClosedBefore has
// moved on since it was cached: at most once a minute, for today only.
func (h *Handler) dayFragment(ctx context.Context, figi string, day, coverEnd int64) (*fragment, error) {
	key := dayKey{figi, day}
	if f, ok := h.days.get(key); ok && f.coverEnd >= coverEnd {
		return f, nil
	}
	bars, err := h.cfg.History.Minutes(ctx, figi, unixTime(day), unixTime(coverEnd))
	if err != nil {
		return nil, fmt.Errorf("minutes of %s: %w", figi, err)
	}
	f := buildFragment(bars, day, coverEnd)
	f.coverEnd = coverEnd
	h.days.put(key, f, f.size())
	return f, nil
}

// rangeBars returns the bars of q.res stamped within [from, to].
func (h *Handler) rangeBars(ctx context.Context, q historyQuery, from, to int64) ([]tvbridge.Bar, error) {
	start, end := from, to+q.res.width() // an n-minute bar stamped at to runs n minutes on
	if q.res.daily() {
		start, end = q.res.blockStart(from), q.res.blockEnd(to)
	}
	src, err := h.source(ctx, q, start, end)
	if err != nil {
		return nil, err
	}
	bars := aggregate(src, q.res, q.sym.Schedule)
	return stampedWithin(bars, from, to), nil
}

// countbackBars returns the last q.countback bars stamped at or before to,
// fewer only when no older data exists. It reads back in chunks that grow
// (see growSpan), so a sparse instrument costs a few reads, not one per day.
func (h *Handler) countbackBars(ctx context.Context, q historyQuery, to, floor int64) ([]tvbridge.Bar, error) {
	end := to + q.res.width()
	if q.res.daily() {
		end = q.res.blockEnd(to)
	}
	span := max(secondsPerDay, int64(q.countback)*q.res.width())
	var src []tvbridge.Bar
	for start := end; ; span = h.growSpan(span, q.res) {
		chunkEnd := start
		start = max(floor, chunkEnd-span)
		if q.res.daily() {
			start = max(0, q.res.blockStart(start)) // whole blocks only
		}
		chunk, err := h.source(ctx, q, start, chunkEnd)
		if err != nil {
			return nil, err
		}
		// Prepend into a new slice: chunk may share the store's memory.
		src = append(append(make([]tvbridge.Bar, 0, len(chunk)+len(src)), chunk...), src...)
		bars := stampedWithin(aggregate(src, q.res, q.sym.Schedule), 0, to)
		exhausted := start <= floor
		if !exhausted && !q.res.daily() && !q.res.native() && len(bars) > 0 {
			bars = bars[1:] // may lack minutes before start
		}
		if len(bars) >= q.countback || exhausted {
			return bars[max(0, len(bars)-q.countback):], nil
		}
	}
}

// source reads the bars resolution q.res is built from, from <= Time < to.
func (h *Handler) source(ctx context.Context, q historyQuery, from, to int64) ([]tvbridge.Bar, error) {
	figi := q.sym.Instrument.FIGI
	if q.res.daily() {
		bars, err := h.cfg.History.Daily(ctx, figi, unixTime(from), unixTime(to))
		if err != nil {
			return nil, fmt.Errorf("daily bars of %s: %w", figi, err)
		}
		return bars, nil
	}
	bars, err := h.cfg.History.Minutes(ctx, figi, unixTime(from), unixTime(to))
	if err != nil {
		return nil, fmt.Errorf("minutes of %s: %w", figi, err)
	}
	return bars, nil
}

// emptyAnswer is the response for a range without bars: empty ok arrays, or
// in legacy mode no_data with the stamp of the closest earlier bar.
func (h *Handler) emptyAnswer(ctx context.Context, q historyQuery, floor int64) ([]byte, error) {
	if !h.cfg.LegacyNoData {
		return h.emptyBody(-1), nil
	}
	if q.countback > 0 {
		return h.emptyBody(-1), nil // countback read back to the first bar
	}
	nb, err := h.previousBar(ctx, q, q.from, floor)
	if err != nil {
		return nil, err
	}
	return h.emptyBody(nb), nil
}

var emptyOK = appendHistory(nil, nil)

// emptyBody is the empty answer; nb >= 0 is the legacy next-bar time.
func (h *Handler) emptyBody(nb int64) []byte {
	if !h.cfg.LegacyNoData {
		return emptyOK
	}
	return appendNoData(nil, nb)
}

// previousBar returns the stamp, at q.res, of the closest bar before from,
// or -1 when there is none. The stamp is never after from.
func (h *Handler) previousBar(ctx context.Context, q historyQuery, from, floor int64) (int64, error) {
	span := int64(secondsPerDay)
	if q.res.daily() {
		span = 32 * secondsPerDay
	}
	for end := from; end > floor; span = h.growSpan(span, q.res) {
		start := max(floor, end-span)
		src, err := h.source(ctx, q, start, end)
		if err != nil {
			return 0, err
		}
		for i := len(src) - 1; i >= 0; i-- {
			if servable(src[i]) {
				return h.stampOf(ctx, q, src[i].Time.Unix())
			}
		}
		end = start
	}
	return -1, nil
}

// stampOf returns the stamp of the q.res bar holding the source bar at t.
func (h *Handler) stampOf(ctx context.Context, q historyQuery, t int64) (int64, error) {
	if q.res.native() {
		return t, nil
	}
	start := t
	if q.res.daily() {
		start = q.res.blockStart(t)
	} else {
		start = t - q.res.width() // the bucket starts within one width
	}
	src, err := h.source(ctx, q, start, t+1)
	if err != nil {
		return 0, err
	}
	bars := aggregate(src, q.res, q.sym.Schedule)
	if len(bars) == 0 {
		return t, nil
	}
	return bars[len(bars)-1].Time.Unix(), nil
}

// stampedWithin returns the bars stamped in [from, to]; bars are ascending.
func stampedWithin(bars []tvbridge.Bar, from, to int64) []tvbridge.Bar {
	i := 0
	for i < len(bars) && bars[i].Time.Unix() < from {
		i++
	}
	j := len(bars)
	for j > i && bars[j-1].Time.Unix() > to {
		j--
	}
	return bars[i:j]
}

func unixTime(s int64) time.Time { return time.Unix(s, 0).UTC() }

func floorMinute(t int64) int64 { return t - floorMod(t, 60) }

func floorDay(t int64) int64 { return t - floorMod(t, secondsPerDay) }
