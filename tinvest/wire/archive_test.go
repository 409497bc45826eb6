package wire

import (
	"archive/zip"
	"bytes"
	"testing"
	"time"
)

func zipOf(t testing.TB, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}

func TestReadArchive(t *testing.T) {
	data := zipOf(t, map[string]string{
		"u_20230104.csv": "u;2023-01-04T07:01:00Z;3.61;3.6;3.62;3.6;5;\n",
		"u_20230103.csv": "u;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;10;\r\nu;2023-01-03T07:01:00Z;3.61;3.61;3.61;3.61;1\n",
	})
	got, err := ReadArchive(data, ArchiveLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0].Time.Equal(time.Date(2023, 1, 3, 7, 0, 0, 0, time.UTC)) || got[0].Low.String() != "3.59" ||
		got[0].Volume != 10 || got[2].Close.String() != "3.6" {
		t.Fatalf("%+v", got)
	}
	for name, body := range map[string]string{
		"fields":      "u;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59\n",
		"time":        "u;2023-01-03 07:00;3.6;3.61;3.62;3.59;1\n",
		"unaligned":   "u;2023-01-03T07:00:30Z;3.6;3.61;3.62;3.59;1\n",
		"price":       "u;2023-01-03T07:00:00Z;3,6;3.61;3.62;3.59;1\n",
		"volume":      "u;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;-1\n",
		"inconsist":   "u;2023-01-03T07:00:00Z;3.6;3.61;3.5;3.59;1\n",
		"empty id":    ";2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;1\n",
		"empty line":  "u;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;1\n\nu;2023-01-03T07:01:00Z;3.6;3.61;3.62;3.59;1\n",
		"conflict":    "u;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;1\nu;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;2\n",
		"extra field": "u;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;1;x\n",
	} {
		if _, err := ReadArchive(zipOf(t, map[string]string{"a.csv": body}), ArchiveLimits{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ReadArchive(zipOf(t, map[string]string{"a.txt": ""}), ArchiveLimits{}); err == nil {
		t.Error("non-CSV entry accepted")
	}
	if _, err := ReadArchive([]byte("not a zip"), ArchiveLimits{}); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := ReadArchive(data, ArchiveLimits{MaxRows: 2}); err == nil {
		t.Error("row limit not enforced")
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, got); err != nil {
		t.Fatal(err)
	}
	again, err := ReadArchive(buf.Bytes(), ArchiveLimits{})
	if err != nil || len(again) != len(got) || again[1] != got[1] {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
}

// FuzzReadArchive: nothing panics; what is accepted is sorted, unique and
// consistent, and survives a write and a read.
func FuzzReadArchive(f *testing.F) {
	f.Add(zipOf(f, map[string]string{"u_20230103.csv": "u;2023-01-03T07:00:00Z;3.6;3.61;3.62;3.59;10;\n"}))
	f.Add(zipOf(f, map[string]string{"a.csv": "x;2023-01-03T07:00:00+03:00;-1;-1;-0.5;-1.000000001;0\n"}))
	f.Add(zipOf(f, map[string]string{"d/": "", "a.csv": ""}))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadArchive(data, ArchiveLimits{MaxBytes: 1 << 20, MaxFiles: 64, MaxRows: 10000})
		if err != nil {
			return
		}
		for i, c := range got {
			if i > 0 && !got[i-1].Time.Before(c.Time) {
				t.Fatalf("not sorted and unique at %d", i)
			}
			if c.High.Cmp(c.Low) < 0 || c.Volume < 0 || c.ID == "" {
				t.Fatalf("insane row %+v", c)
			}
		}
		var buf bytes.Buffer
		if err := WriteArchive(&buf, got); err != nil {
			t.Fatal(err)
		}
		again, err := ReadArchive(buf.Bytes(), ArchiveLimits{})
		if err != nil || len(again) != len(got) {
			t.Fatalf("rewrite: %v", err)
		}
	})
}

// FuzzParseQuotation: accepted decimals round-trip through String exactly.
func FuzzParseQuotation(f *testing.F) {
	for _, s := range []string{"195.2", "-0.5", "0", "9223372036854775807.999999999", "1.0000000000", "1e3", "--1", ".5", "1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuotation(s)
		if err != nil {
			return
		}
		if q.Validate() != nil {
			t.Fatalf("%q gave invalid %+v", s, q)
		}
		back, err := ParseQuotation(q.String())
		if err != nil || back != q {
			t.Fatalf("%q -> %s -> %+v %v", s, q, back, err)
		}
	})
}
