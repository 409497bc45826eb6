package wire

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The yearly archive of 1-minute candles (GET {HistoryPath}?instrument_id=
// ...&year=YYYY) is a ZIP of CSV files, one per trading day, whose rows are
//
//	uid;utc time;open;close;high;low;volume
//
// e.g. "e6123145-9665-43e0-8413-cd61b8aa9b13;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;10;"
// (the service writes a trailing separator). Prices are per security,
// volume is in lots. The archive never holds the current day.

// ArchiveCandle is one CSV row.
type ArchiveCandle struct {
	ID                     string // the instrument's uid (older archives: FIGI)
	Time                   time.Time
	Open, Close, High, Low Quotation
	Volume                 int64
}

// ArchiveLimits bounds what ReadArchive accepts, so that a hostile or broken
// archive cannot exhaust memory.
type ArchiveLimits struct {
	MaxFiles int   // entries in the ZIP; default 2000
	MaxBytes int64 // uncompressed bytes in total; default 512 MiB
	MaxRows  int   // rows in total; default 1,000,000 (a year has at most 527,040 minutes)
}

func (l ArchiveLimits) withDefaults() ArchiveLimits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = 2000
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 512 << 20
	}
	if l.MaxRows <= 0 {
		l.MaxRows = 1_000_000
	}
	return l
}

// ReadArchive parses a yearly archive strictly: every entry that is not a
// directory must be a CSV of well-formed rows (seven fields, or eight with
// an empty last one; a non-empty id; a minute-aligned UTC time; exact
// decimal prices with high >= open, close, low and low <= open, close; a
// non-negative integer volume). Rows are returned sorted by time; a minute
// appearing twice with different values is an error, an identical
// duplicate is dropped. Errors name the file and line.
func ReadArchive(data []byte, limits ArchiveLimits) ([]ArchiveCandle, error) {
	limits = limits.withDefaults()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("wire: archive: %w", err)
	}
	if len(zr.File) > limits.MaxFiles {
		return nil, fmt.Errorf("wire: archive has %d files, more than %d", len(zr.File), limits.MaxFiles)
	}
	var out []ArchiveCandle
	var total int64
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || strings.HasSuffix(f.Name, "/") {
			continue
		}
		if !strings.EqualFold(path.Ext(f.Name), ".csv") {
			return nil, fmt.Errorf("wire: archive entry %q is not a CSV file", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("wire: archive entry %q: %w", f.Name, err)
		}
		body, err := io.ReadAll(io.LimitReader(rc, limits.MaxBytes-total+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("wire: archive entry %q: %w", f.Name, err)
		}
		total += int64(len(body))
		if total > limits.MaxBytes {
			return nil, fmt.Errorf("wire: archive larger than %d bytes uncompressed", limits.MaxBytes)
		}
		out, err = parseArchiveCSV(out, f.Name, body, limits.MaxRows)
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b ArchiveCandle) int { return a.Time.Compare(b.Time) })
	dedup := out[:0]
	for _, c := range out {
		if n := len(dedup); n > 0 && dedup[n-1].Time.Equal(c.Time) {
			if dedup[n-1] != c {
				return nil, fmt.Errorf("wire: archive has two different candles for %s", c.Time.Format(time.RFC3339))
			}
			continue
		}
		dedup = append(dedup, c)
	}
	return slices.Clip(dedup), nil
}

// parseArchiveCSV appends the rows of one file.
func parseArchiveCSV(out []ArchiveCandle, name string, body []byte, maxRows int) ([]ArchiveCandle, error) {
	line := 0
	for len(body) > 0 {
		line++
		var row []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			row, body = body[:i], body[i+1:]
		} else {
			row, body = body, nil
		}
		row = bytes.TrimSuffix(row, []byte{'\r'})
		if len(row) == 0 {
			if len(body) == 0 {
				break // the final newline
			}
			return nil, fmt.Errorf("wire: archive %s line %d: empty line", name, line)
		}
		if len(out) >= maxRows {
			return nil, fmt.Errorf("wire: archive has more than %d rows", maxRows)
		}
		c, err := ParseArchiveRow(string(row))
		if err != nil {
			return nil, fmt.Errorf("wire: archive %s line %d: %w", name, line, err)
		}
		out = append(out, c)
	}
	return out, nil
}

var errFieldCount = errors.New("want 7 fields separated by ';'")

// ParseArchiveRow parses one CSV row (without the line break).
func ParseArchiveRow(row string) (ArchiveCandle, error) {
	f := strings.Split(row, ";")
	if len(f) == 8 && f[7] == "" {
		f = f[:7]
	}
	if len(f) != 7 {
		return ArchiveCandle{}, fmt.Errorf("%w, got %d", errFieldCount, len(f))
	}
	var c ArchiveCandle
	c.ID = f[0]
	if c.ID == "" || strings.TrimSpace(c.ID) != c.ID {
		return c, fmt.Errorf("bad instrument id %q", c.ID)
	}
	t, err := ParseTime(f[1])
	if err != nil {
		return c, err
	}
	if !t.Equal(t.Truncate(time.Minute)) {
		return c, fmt.Errorf("time %s is not the start of a minute", f[1])
	}
	c.Time = t
	for i, dst := range []*Quotation{&c.Open, &c.Close, &c.High, &c.Low} {
		q, err := ParseQuotation(f[2+i])
		if err != nil {
			return c, err
		}
		*dst = q
	}
	if !isJSONInteger([]byte(f[6])) {
		return c, fmt.Errorf("volume %q is not an integer", f[6])
	}
	c.Volume, err = strconv.ParseInt(f[6], 10, 64)
	if err != nil || c.Volume < 0 {
		return c, fmt.Errorf("volume %q out of range", f[6])
	}
	if c.High.Cmp(c.Low) < 0 || c.High.Cmp(c.Open) < 0 || c.High.Cmp(c.Close) < 0 ||
		c.Low.Cmp(c.Open) > 0 || c.Low.Cmp(c.Close) > 0 {
		return c, fmt.Errorf("inconsistent candle: open %s close %s high %s low %s", c.Open, c.Close, c.High, c.Low)
	}
	return c, nil
}

// AppendArchiveRow appends c as the service writes it, with the trailing
// separator and a newline.
func AppendArchiveRow(b []byte, c ArchiveCandle) []byte {
	b = append(b, c.ID...)
	b = append(b, ';')
	b = c.Time.UTC().AppendFormat(b, time.RFC3339)
	for _, q := range []Quotation{c.Open, c.Close, c.High, c.Low} {
		b = append(b, ';')
		b = q.AppendDecimal(b)
	}
	b = append(b, ';')
	b = strconv.AppendInt(b, c.Volume, 10)
	return append(b, ';', '\n')
}

// WriteArchive writes candles as a yearly archive: one CSV file per UTC day,
// named "<id>_<YYYYMMDD>.csv" as the service names them.
func WriteArchive(w io.Writer, candles []ArchiveCandle) error {
	zw := zip.NewWriter(w)
	// The fastest deflate level: the same format, for a fraction of the
	// CPU (a simulator builds a year of candles per request).
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	byDay := map[string][]byte{}
	var days []string
	for _, c := range candles {
		name := fmt.Sprintf("%s_%s.csv", c.ID, c.Time.UTC().Format("20060102"))
		if _, ok := byDay[name]; !ok {
			days = append(days, name)
		}
		byDay[name] = AppendArchiveRow(byDay[name], c)
	}
	slices.Sort(days)
	for _, name := range days {
		fw, err := zw.Create(name)
		if err != nil {
			return err
		}
		if _, err := fw.Write(byDay[name]); err != nil {
			return err
		}
	}
	return zw.Close()
}
