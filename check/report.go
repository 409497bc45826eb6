package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is the outcome of one check.
type Status string

// Outcomes. Only Fail makes the run fail; Warn marks what TradingView's
// suite reports as a warning, or what a short run cannot prove.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Warn Status = "warn"
	Skip Status = "skip"
)

// Result is the outcome of one check, with the evidence for a failure.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
	// Details lists every offending item (symbol, bar, line...).
	Details []string `json:"details,omitempty"`
	// Request and Response are the first offending exchange, the response
	// truncated and secrets redacted.
	Request  string `json:"request,omitempty"`
	Response string `json:"response,omitempty"`
}

// Summary counts results by status.
type Summary struct {
	Pass int `json:"pass"`
	Fail int `json:"fail"`
	Warn int `json:"warn"`
	Skip int `json:"skip"`
}

// Report is the outcome of a run.
type Report struct {
	URL            string    `json:"url"`
	Started        time.Time `json:"started"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	Results        []Result  `json:"results"`
	Summary        Summary   `json:"summary"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.Summary.Fail > 0 }

// Result returns the result of the named check, if it ran.
func (r *Report) Result(name string) (Result, bool) {
	for _, res := range r.Results {
		if res.Name == name {
			return res, true
		}
	}
	return Result{}, false
}

func (r *Report) summarize() {
	r.Summary = Summary{}
	for _, res := range r.Results {
		switch res.Status {
		case Pass:
			r.Summary.Pass++
		case Fail:
			r.Summary.Fail++
		case Warn:
			r.Summary.Warn++
		case Skip:
			r.Summary.Skip++
		}
	}
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// textDetails is how many details the text report prints per check; the
// JSON report has all of them.
const textDetails = 100

// WriteText writes the report for people: results grouped by area, each
// failure with its reason, details and offending exchange, and a summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "tvbridge check %s (%s)\n", r.URL, (time.Duration(r.ElapsedSeconds * float64(time.Second))).Round(time.Second))
	group := ""
	for _, res := range r.Results {
		if g, _, _ := strings.Cut(res.Name, "/"); g != group {
			group = g
			fmt.Fprintf(&b, "\n%s\n", group)
		}
		writeResult(&b, res)
	}
	s := r.Summary
	fmt.Fprintf(&b, "\nsummary: %d passed, %d failed, %d warnings, %d skipped\n", s.Pass, s.Fail, s.Warn, s.Skip)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func writeResult(b *strings.Builder, res Result) {
	label := map[Status]string{Pass: "pass", Fail: "FAIL", Warn: "WARN", Skip: "skip"}[res.Status]
	fmt.Fprintf(b, "  %-4s  %-34s %s\n", label, res.Name, oneLine(res.Reason))
	if res.Status == Pass || res.Status == Skip {
		return
	}
	for i, d := range res.Details {
		if i == textDetails {
			fmt.Fprintf(b, "          ... and %d more (all of them in --json)\n", len(res.Details)-textDetails)
			break
		}
		fmt.Fprintf(b, "          - %s\n", oneLine(d))
	}
	if res.Request != "" {
		fmt.Fprintf(b, "          request:  %s\n", oneLine(res.Request))
		fmt.Fprintf(b, "          response: %s\n", oneLine(res.Response))
	}
}

// oneLine keeps a report line on one line whatever a server sent.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", `\n`, "\n", `\n`, "\r", `\r`).Replace(s)
}
