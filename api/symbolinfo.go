package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
)

// symbolInfo is the columnar /symbol_info response (SymbolInfoResponse).
// Every column is an array with one entry per symbol, the form the spec
// declares; the field order fixes the byte layout.
type symbolInfo struct {
	S                   string    `json:"s"`
	Symbol              []string  `json:"symbol"`
	Ticker              []string  `json:"ticker"`
	Description         []string  `json:"description"`
	Type                []string  `json:"type"`
	Currency            []*string `json:"currency"`
	BaseCurrency        []*string `json:"base-currency"`
	ExchangeListed      []string  `json:"exchange-listed"`
	ExchangeTraded      []string  `json:"exchange-traded"`
	MinMovement         []int     `json:"minmovement"`
	MinMovement2        []int     `json:"minmovement2"`
	Fractional          []bool    `json:"fractional"`
	PriceScale          []int     `json:"pricescale"`
	PointValue          []float64 `json:"pointvalue"`
	Timezone            []string  `json:"timezone"`
	SessionRegular      []string  `json:"session-regular"`
	HasIntraday         []bool    `json:"has-intraday"`
	HasDaily            []bool    `json:"has-daily"`
	HasWeeklyAndMonthly []bool    `json:"has-weekly-and-monthly"`
	HasNoVolume         []bool    `json:"has-no-volume"`
	BarSource           []string  `json:"bar-source"`
	ISIN                []string  `json:"isin"`
}

func newSymbolInfo(syms []*Symbol) *symbolInfo {
	si := &symbolInfo{S: "ok"}
	for _, s := range syms {
		inst := s.Instrument
		si.Symbol = append(si.Symbol, s.Name)
		si.Ticker = append(si.Ticker, s.Ticker)
		si.Description = append(si.Description, orDefault(inst.Name, s.Name))
		si.Type = append(si.Type, s.Type)
		si.Currency = append(si.Currency, nullable(inst.Currency))
		si.BaseCurrency = append(si.BaseCurrency, nullable(s.BaseCurrency))
		si.ExchangeListed = append(si.ExchangeListed, s.Exchange)
		si.ExchangeTraded = append(si.ExchangeTraded, s.Exchange)
		si.MinMovement = append(si.MinMovement, s.MinMovement)
		si.MinMovement2 = append(si.MinMovement2, 0)
		si.Fractional = append(si.Fractional, false)
		si.PriceScale = append(si.PriceScale, s.PriceScale)
		si.PointValue = append(si.PointValue, 1)
		si.Timezone = append(si.Timezone, s.Timezone)
		si.SessionRegular = append(si.SessionRegular, s.Session)
		si.HasIntraday = append(si.HasIntraday, true)
		si.HasDaily = append(si.HasDaily, true) // /history serves daily bars
		si.HasWeeklyAndMonthly = append(si.HasWeeklyAndMonthly, false)
		si.HasNoVolume = append(si.HasNoVolume, false)
		si.BarSource = append(si.BarSource, "trade")
		// The spec types isin items as non-null strings; "" means none.
		si.ISIN = append(si.ISIN, inst.ISIN)
	}
	return si
}

func nullable(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

type groupList struct {
	S string `json:"s"`
	D struct {
		Groups []groupID `json:"groups"`
	} `json:"d"`
}

type groupID struct {
	ID string `json:"id"`
}

// encode builds the /symbol_info and /groups responses once: the catalog
// never changes, and TradingView asks for them every hour from several
// machines.
func (c *Catalog) encode() error {
	var err error
	if c.allInfo, err = encodeJSON(newSymbolInfo(c.symbols)); err != nil {
		return err
	}
	byGroup := make(map[string][]*Symbol)
	for _, s := range c.symbols {
		if byGroup[s.Group] == nil {
			c.groups = append(c.groups, s.Group)
		}
		byGroup[s.Group] = append(byGroup[s.Group], s)
	}
	slices.Sort(c.groups)
	c.groupInfo = make(map[string][]byte, len(byGroup))
	var gl groupList
	gl.S = "ok"
	gl.D.Groups = []groupID{}
	for _, g := range c.groups {
		if c.groupInfo[g], err = encodeJSON(newSymbolInfo(byGroup[g])); err != nil {
			return err
		}
		gl.D.Groups = append(gl.D.Groups, groupID{g})
	}
	c.groupList, err = encodeJSON(gl)
	return err
}

func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// serveSymbolInfo answers /symbol_info[?group=id]. Symbols of a group that
// has none are not listed by /groups, so asking for it is an error.
func (h *Handler) serveSymbolInfo(w http.ResponseWriter, _ *http.Request, q url.Values) {
	group := q.Get("group")
	if group == "" {
		if len(h.cat.symbols) == 0 {
			h.writeError(w, "no symbols are available yet")
			return
		}
		writeJSON(w, h.cat.allInfo)
		return
	}
	body, ok := h.cat.groupInfo[group]
	if !ok {
		h.writeError(w, "unknown group "+quoteForMessage(group)+"; /groups lists the valid ids")
		return
	}
	writeJSON(w, body)
}

func (h *Handler) serveGroups(w http.ResponseWriter, _ *http.Request, _ url.Values) {
	writeJSON(w, h.cat.groupList)
}
