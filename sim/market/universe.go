package market

import (
	"fmt"
	"math"
	"strings"

	"tvbridge"
)

// The default universe: about a hundred instruments with real tickers, and
// real FIGIs where known (the rest are generated, FIGI-shaped and stable).
// The catalogue does not depend on the seed; the seed drives prices.

// profile says how an instrument's trading day divides into statuses.
type profile int

const (
	// plainProfile: normal_trading inside the session's periods,
	// break_in_trading between the periods of one day, closed otherwise.
	plainProfile profile = iota
	// auctionProfile is MOEX's equity day: the first 10 minutes of the
	// first period are an opening auction without trades, the last 10 of the
	// last period a closing auction with one auction trade at its end.
	auctionProfile
)

// kind holds what a group of instruments shares: venue, hours, behaviour.
type kind struct {
	name      string // for generated names
	typ       tvbridge.InstrumentType
	exchange  string
	timezone  string
	session   string
	currency  string
	profile   profile
	dailyVol  float64 // typical standard deviation of day-to-day log returns
	spreadRel float64 // typical bid-ask spread relative to price
	limits    bool    // publishes limit_up / limit_down
	listed    string  // default first trading day
}

// Sessions, in each venue's local time.
const (
	sessionMOEX      = "0950-1850:23456"
	sessionMOEXBreak = "1000-1400,1500-1840:23456"
	sessionMOEXFX    = "0700-2350:23456"
	sessionUS        = "0930-1600:23456"
	session24x7      = "24x7"
)

var (
	moexStock = &kind{name: "Stock", typ: tvbridge.Stock, exchange: "MOEX", timezone: "Europe/Moscow",
		session: sessionMOEX, currency: "RUB", profile: auctionProfile, dailyVol: 0.02, spreadRel: 0.0002,
		limits: true, listed: "2015-01-05"}
	// moexBreak stocks pause for an hour at midday, for testing watchdogs
	// across break_in_trading.
	moexBreak = &kind{name: "Stock", typ: tvbridge.Stock, exchange: "MOEX", timezone: "Europe/Moscow",
		session: sessionMOEXBreak, currency: "RUB", profile: plainProfile, dailyVol: 0.022, spreadRel: 0.0008,
		limits: true, listed: "2015-01-05"}
	usStock = &kind{name: "Inc", typ: tvbridge.Stock, exchange: "SPB", timezone: "America/New_York",
		session: sessionUS, currency: "USD", profile: plainProfile, dailyVol: 0.018, spreadRel: 0.0002,
		listed: "2015-01-05"}
	moexBond = &kind{name: "Bond", typ: tvbridge.Bond, exchange: "MOEX", timezone: "Europe/Moscow",
		session: sessionMOEX, currency: "RUB", profile: auctionProfile, dailyVol: 0.003, spreadRel: 0.0008,
		listed: "2016-01-04"}
	moexETF = &kind{name: "ETF", typ: tvbridge.ETF, exchange: "MOEX", timezone: "Europe/Moscow",
		session: sessionMOEX, currency: "RUB", profile: auctionProfile, dailyVol: 0.012, spreadRel: 0.0005,
		limits: true, listed: "2017-01-09"}
	moexFX = &kind{name: "Currency", typ: tvbridge.Currency, exchange: "MOEX", timezone: "Europe/Moscow",
		session: sessionMOEXFX, currency: "RUB", profile: plainProfile, dailyVol: 0.007, spreadRel: 0.0001,
		limits: true, listed: "2015-01-05"}
	// The SIMX venue trades around the clock so that a newcomer sees live
	// data at any hour.
	cryptoRUB = &kind{name: "Coin", typ: tvbridge.Currency, exchange: "SIMX", timezone: "Europe/Moscow",
		session: session24x7, currency: "RUB", profile: plainProfile, dailyVol: 0.035, spreadRel: 0.0003,
		listed: "2019-01-01"}
	cryptoUSD = &kind{name: "Coin", typ: tvbridge.Currency, exchange: "SIMX", timezone: "Etc/UTC",
		session: session24x7, currency: "USD", profile: plainProfile, dailyVol: 0.035, spreadRel: 0.0003,
		listed: "2019-01-01"}
	simStock = &kind{name: "Corp", typ: tvbridge.Stock, exchange: "SIMX", timezone: "Etc/UTC",
		session: session24x7, currency: "RUB", profile: plainProfile, dailyVol: 0.025, spreadRel: 0.0005,
		listed: "2019-01-01"}
	simETF = &kind{name: "Fund", typ: tvbridge.ETF, exchange: "SIMX", timezone: "Etc/UTC",
		session: session24x7, currency: "USD", profile: plainProfile, dailyVol: 0.01, spreadRel: 0.0005,
		listed: "2019-01-01"}
)

// row is one catalogue entry. figi "" means generate one.
type row struct {
	k      *kind
	ticker string
	figi   string
	name   string
	lot    int
	inc    float64
	base   float64 // typical price; bonds in percent of face value
	rate   float64 // mean trades per minute in normal trading
	coupon float64 // bonds: annual coupon rate
	listed string  // overrides the kind's first trading day
}

// defaultRows is the default universe in its stable order. The first rows
// cover one instrument of each behaviour, so Config{Instruments: 7} is a
// small but varied market.
var defaultRows = []row{
	{k: moexStock, ticker: "SBER", figi: "BBG004730N88", name: "Sberbank", lot: 10, inc: 0.01, base: 280, rate: 60},
	{k: moexFX, ticker: "USD000UTSTOM", figi: "BBG0013HGFT4", name: "US Dollar", lot: 1000, inc: 0.0025, base: 90, rate: 50},
	{k: usStock, ticker: "AAPL", figi: "BBG000B9XRY4", name: "Apple", lot: 1, inc: 0.01, base: 190, rate: 40},
	{k: moexBond, ticker: "SU26238RMFS4", name: "OFZ 26238", lot: 1, inc: 0.001, base: 62, rate: 2, coupon: 0.071},
	{k: moexETF, ticker: "TMOS", figi: "BBG333333333", name: "Tinkoff iMOEX", lot: 1, inc: 0.002, base: 5.5, rate: 20},
	{k: cryptoRUB, ticker: "BTC_RUB", name: "Bitcoin / Rouble", lot: 1, inc: 5, base: 6_000_000, rate: 30},
	{k: moexBreak, ticker: "LSRG", figi: "BBG004S68C39", name: "LSR Group", lot: 1, inc: 0.2, base: 800, rate: 3},

	{k: moexStock, ticker: "GAZP", figi: "BBG004730RP0", name: "Gazprom", lot: 10, inc: 0.01, base: 160, rate: 50},
	{k: moexStock, ticker: "LKOH", figi: "BBG004731032", name: "LUKOIL", lot: 1, inc: 0.5, base: 7000, rate: 40},
	{k: moexStock, ticker: "YNDX", figi: "BBG006L8G4H1", name: "Yandex", lot: 1, inc: 0.2, base: 2500, rate: 35},
	{k: moexStock, ticker: "GMKN", figi: "BBG004731489", name: "Norilsk Nickel", lot: 1, inc: 1, base: 16000, rate: 20},
	{k: moexStock, ticker: "ROSN", figi: "BBG004731354", name: "Rosneft", lot: 1, inc: 0.05, base: 550, rate: 30},
	{k: moexStock, ticker: "VTBR", figi: "BBG004730ZJ9", name: "VTB Bank", lot: 10000, inc: 0.000005, base: 0.025, rate: 30},
	{k: moexStock, ticker: "MGNT", figi: "BBG004RVFCY3", name: "Magnit", lot: 1, inc: 0.5, base: 5500, rate: 15},
	{k: moexStock, ticker: "NVTK", figi: "BBG00475KKY8", name: "NOVATEK", lot: 1, inc: 0.2, base: 1200, rate: 20},
	{k: moexStock, ticker: "TATN", figi: "BBG004RVFFC0", name: "Tatneft", lot: 1, inc: 0.1, base: 650, rate: 15},
	{k: moexStock, ticker: "MTSS", figi: "BBG004S681W1", name: "MTS", lot: 10, inc: 0.05, base: 280, rate: 12},
	{k: moexStock, ticker: "ALRS", figi: "BBG004S68B31", name: "ALROSA", lot: 10, inc: 0.01, base: 70, rate: 12},
	{k: moexStock, ticker: "CHMF", figi: "BBG00475K6C3", name: "Severstal", lot: 1, inc: 0.2, base: 1300, rate: 12},
	{k: moexStock, ticker: "NLMK", figi: "BBG004S681B4", name: "NLMK", lot: 10, inc: 0.02, base: 180, rate: 10},
	{k: moexStock, ticker: "PLZL", figi: "BBG000R607Y3", name: "Polyus", lot: 1, inc: 0.5, base: 12000, rate: 10},
	{k: moexStock, ticker: "SNGS", figi: "BBG0047315D0", name: "Surgutneftegas", lot: 100, inc: 0.005, base: 30, rate: 15},
	{k: moexStock, ticker: "SNGSP", figi: "BBG004S681M2", name: "Surgutneftegas pref", lot: 100, inc: 0.005, base: 50, rate: 12},
	{k: moexStock, ticker: "AFLT", figi: "BBG004S683W7", name: "Aeroflot", lot: 10, inc: 0.02, base: 55, rate: 20},
	{k: moexStock, ticker: "MOEX", figi: "BBG004730JJ5", name: "Moscow Exchange", lot: 10, inc: 0.01, base: 200, rate: 12},
	{k: moexStock, ticker: "PHOR", figi: "BBG004S689R0", name: "PhosAgro", lot: 1, inc: 1, base: 6500, rate: 4},
	{k: moexStock, ticker: "RUAL", figi: "BBG008F2T3T2", name: "RUSAL", lot: 10, inc: 0.005, base: 40, rate: 10},
	{k: moexStock, ticker: "IRAO", figi: "BBG004S68473", name: "Inter RAO", lot: 100, inc: 0.0005, base: 4, rate: 12},
	{k: moexStock, ticker: "HYDR", figi: "BBG00475K2X9", name: "RusHydro", lot: 1000, inc: 0.0001, base: 0.7, rate: 10},
	{k: moexStock, ticker: "FIVE", figi: "BBG00JXPFBN0", name: "X5 Retail Group", lot: 1, inc: 0.5, base: 2000, rate: 8},
	{k: moexStock, ticker: "TCSG", figi: "BBG00QPYJ5H0", name: "TCS Group", lot: 1, inc: 0.2, base: 3000, rate: 25},
	{k: moexStock, ticker: "OZON", figi: "BBG00Y91R9T3", name: "Ozon", lot: 1, inc: 0.5, base: 3000, rate: 15, listed: "2020-11-24"},
	{k: moexStock, ticker: "PIKK", figi: "BBG004S68BH6", name: "PIK", lot: 1, inc: 0.1, base: 700, rate: 6},
	{k: moexStock, ticker: "MAGN", figi: "BBG004S68507", name: "MMK", lot: 10, inc: 0.005, base: 50, rate: 10},
	{k: moexStock, ticker: "SBERP", figi: "BBG0047315Y7", name: "Sberbank pref", lot: 10, inc: 0.01, base: 280, rate: 30},
	{k: moexStock, ticker: "TRNFP", figi: "BBG00475KHX6", name: "Transneft pref", lot: 1, inc: 50, base: 140000, rate: 3},
	{k: moexStock, ticker: "AFKS", figi: "BBG004S68614", name: "Sistema", lot: 100, inc: 0.001, base: 17, rate: 10},
	{k: moexStock, ticker: "FEES", figi: "BBG00475JZZ6", name: "FGC UES", lot: 10000, inc: 0.000002, base: 0.012, rate: 6},
	{k: moexStock, ticker: "POLY", figi: "BBG004PYF2N3", name: "Polymetal", lot: 1, inc: 0.1, base: 800, rate: 8},
	{k: moexStock, ticker: "RTKM", figi: "BBG004S682Z6", name: "Rostelecom", lot: 10, inc: 0.01, base: 80, rate: 6},
	{k: moexStock, ticker: "MTLR", figi: "BBG004S68598", name: "Mechel", lot: 1, inc: 0.01, base: 150, rate: 10},
	{k: moexBreak, ticker: "MVID", figi: "BBG004S68CP5", name: "M.video", lot: 1, inc: 0.1, base: 200, rate: 3},
	{k: moexBreak, ticker: "AQUA", figi: "BBG000W325F7", name: "Inarctica", lot: 1, inc: 0.5, base: 700, rate: 1},

	{k: usStock, ticker: "MSFT", figi: "BBG000BPH459", name: "Microsoft", lot: 1, inc: 0.01, base: 400, rate: 30},
	{k: usStock, ticker: "AMZN", figi: "BBG000BVPV84", name: "Amazon.com", lot: 1, inc: 0.01, base: 180, rate: 30},
	{k: usStock, ticker: "GOOGL", figi: "BBG009S39JX6", name: "Alphabet Class A", lot: 1, inc: 0.01, base: 170, rate: 25},
	{k: usStock, ticker: "TSLA", figi: "BBG000N9MNX3", name: "Tesla", lot: 1, inc: 0.01, base: 220, rate: 45},
	{k: usStock, ticker: "NVDA", figi: "BBG000BBJQV0", name: "NVIDIA", lot: 1, inc: 0.01, base: 120, rate: 40},
	{k: usStock, ticker: "META", figi: "BBG000MM2P62", name: "Meta Platforms", lot: 1, inc: 0.01, base: 480, rate: 25},
	{k: usStock, ticker: "NFLX", figi: "BBG000CL9VN6", name: "Netflix", lot: 1, inc: 0.01, base: 600, rate: 15},
	{k: usStock, ticker: "INTC", figi: "BBG000C0G1D1", name: "Intel", lot: 1, inc: 0.01, base: 30, rate: 20},
	{k: usStock, ticker: "AMD", figi: "BBG000BBQCY0", name: "Advanced Micro Devices", lot: 1, inc: 0.01, base: 160, rate: 25},
	{k: usStock, ticker: "KO", figi: "BBG000BMX289", name: "Coca-Cola", lot: 1, inc: 0.01, base: 60, rate: 10},
	{k: usStock, ticker: "BA", figi: "BBG000BCSST7", name: "Boeing", lot: 1, inc: 0.01, base: 190, rate: 12},
	{k: usStock, ticker: "JPM", figi: "BBG000DMBXR2", name: "JPMorgan Chase", lot: 1, inc: 0.01, base: 200, rate: 12},
	{k: usStock, ticker: "DIS", figi: "BBG000BH4R78", name: "Walt Disney", lot: 1, inc: 0.01, base: 100, rate: 12},
	{k: usStock, ticker: "PFE", figi: "BBG000BR2B91", name: "Pfizer", lot: 1, inc: 0.01, base: 28, rate: 10},
	{k: usStock, ticker: "XOM", figi: "BBG000GZQ728", name: "Exxon Mobil", lot: 1, inc: 0.01, base: 110, rate: 10},
	{k: usStock, ticker: "NKE", figi: "BBG000C5HS04", name: "Nike", lot: 1, inc: 0.01, base: 95, rate: 8},
	{k: usStock, ticker: "V", figi: "BBG000PSKYX7", name: "Visa", lot: 1, inc: 0.01, base: 270, rate: 10},
	{k: usStock, ticker: "MA", figi: "BBG000F1ZSQ2", name: "Mastercard", lot: 1, inc: 0.01, base: 450, rate: 8},
	{k: usStock, ticker: "T", figi: "BBG000BSJK37", name: "AT&T", lot: 1, inc: 0.01, base: 17, rate: 10},
	// Yandex also trades in New York: one ticker on two venues, as in life.
	{k: usStock, ticker: "YNDX", figi: "BBG001NVJ6W4", name: "Yandex N.V.", lot: 1, inc: 0.01, base: 35, rate: 5},

	{k: moexBond, ticker: "SU26207RMFS9", name: "OFZ 26207", lot: 1, inc: 0.001, base: 99, rate: 1.5, coupon: 0.0815},
	{k: moexBond, ticker: "SU26212RMFS9", name: "OFZ 26212", lot: 1, inc: 0.001, base: 92, rate: 1.5, coupon: 0.071},
	{k: moexBond, ticker: "SU26218RMFS6", name: "OFZ 26218", lot: 1, inc: 0.001, base: 85, rate: 1, coupon: 0.085},
	{k: moexBond, ticker: "SU26219RMFS4", name: "OFZ 26219", lot: 1, inc: 0.001, base: 90, rate: 1.5, coupon: 0.0775},
	{k: moexBond, ticker: "SU26221RMFS0", name: "OFZ 26221", lot: 1, inc: 0.001, base: 80, rate: 1, coupon: 0.077},
	{k: moexBond, ticker: "SU26224RMFS4", name: "OFZ 26224", lot: 1, inc: 0.001, base: 82, rate: 1, coupon: 0.069},
	{k: moexBond, ticker: "SU26225RMFS1", name: "OFZ 26225", lot: 1, inc: 0.001, base: 72, rate: 1, coupon: 0.0725},
	{k: moexBond, ticker: "SU26226RMFS9", name: "OFZ 26226", lot: 1, inc: 0.001, base: 88, rate: 1, coupon: 0.0795},
	{k: moexBond, ticker: "SU26228RMFS5", name: "OFZ 26228", lot: 1, inc: 0.001, base: 78, rate: 1, coupon: 0.0765},
	{k: moexBond, ticker: "SU26229RMFS3", name: "OFZ 26229", lot: 1, inc: 0.001, base: 93, rate: 1, coupon: 0.0715},
	{k: moexBond, ticker: "SU26230RMFS1", name: "OFZ 26230", lot: 1, inc: 0.001, base: 66, rate: 0.8, coupon: 0.077},
	{k: moexBond, ticker: "SU26233RMFS5", name: "OFZ 26233", lot: 1, inc: 0.001, base: 60, rate: 0.8, coupon: 0.061},
	{k: moexBond, ticker: "SU26240RMFS0", name: "OFZ 26240", lot: 1, inc: 0.001, base: 63, rate: 0.8, coupon: 0.07},
	{k: moexBond, ticker: "SU29006RMFS2", name: "OFZ 29006 (floater)", lot: 1, inc: 0.001, base: 101, rate: 0.5, coupon: 0.09},
	{k: moexBond, ticker: "SU52002RMFS1", name: "OFZ 52002 (linker)", lot: 1, inc: 0.001, base: 95, rate: 0.3, coupon: 0.025},
	{k: moexBond, ticker: "RU000A0JXQF2", name: "Russian Railways 2027", lot: 1, inc: 0.01, base: 97, rate: 0.5, coupon: 0.0825},
	{k: moexBond, ticker: "RU000A101QE0", name: "Gazprom Capital 2030", lot: 1, inc: 0.01, base: 91, rate: 0.4, coupon: 0.067},
	{k: moexBond, ticker: "RU000A0ZYUA9", name: "Rosneft 2028", lot: 1, inc: 0.01, base: 94, rate: 0.3, coupon: 0.0735},
	{k: moexBond, ticker: "RU000A1013N6", name: "Sistema 2029", lot: 1, inc: 0.01, base: 89, rate: 0.2, coupon: 0.0945},

	{k: moexETF, ticker: "FXUS", figi: "BBG005HLSZ23", name: "FinEx USA Equity", lot: 1, inc: 1, base: 5000, rate: 3},
	{k: moexETF, ticker: "FXIT", figi: "BBG005HLTYH9", name: "FinEx USA IT", lot: 1, inc: 1, base: 9000, rate: 2},
	{k: moexETF, ticker: "FXCN", name: "FinEx China Equity", lot: 1, inc: 0.5, base: 2800, rate: 2},
	{k: moexETF, ticker: "FXGD", name: "FinEx Gold", lot: 1, inc: 0.1, base: 900, rate: 3},
	{k: moexETF, ticker: "FXRL", name: "FinEx Russian RTS Equity", lot: 1, inc: 0.5, base: 2700, rate: 1},
	{k: moexETF, ticker: "TSPX", name: "Tinkoff S&P 500", lot: 100, inc: 0.0001, base: 0.12, rate: 8},
	{k: moexETF, ticker: "TECH", name: "Tinkoff NASDAQ", lot: 100, inc: 0.00005, base: 0.08, rate: 6},
	{k: moexETF, ticker: "TGLD", name: "Tinkoff Gold", lot: 100, inc: 0.00002, base: 0.07, rate: 5},
	{k: moexETF, ticker: "SBMX", name: "Sber Moscow Exchange Index", lot: 1, inc: 0.001, base: 15, rate: 4},
	{k: moexETF, ticker: "VTBX", name: "VTB Money Market", lot: 1, inc: 0.001, base: 1.5, rate: 3},
	{k: moexETF, ticker: "AKMB", name: "Alfa Capital Moderate Bonds", lot: 1, inc: 0.01, base: 110, rate: 0.5},

	{k: moexFX, ticker: "EUR_RUB__TOM", figi: "BBG0013HJJ31", name: "Euro", lot: 1000, inc: 0.0025, base: 98, rate: 30},
	{k: moexFX, ticker: "CNYRUB_TOM", figi: "BBG0013HRTL0", name: "Chinese Yuan", lot: 1000, inc: 0.001, base: 12.5, rate: 20},
	{k: moexFX, ticker: "GBPRUB_TOM", figi: "BBG0013HQ5F0", name: "Pound Sterling", lot: 1000, inc: 0.0025, base: 115, rate: 3},
	{k: moexFX, ticker: "HKDRUB_TOM", figi: "BBG0013HSW87", name: "Hong Kong Dollar", lot: 1000, inc: 0.001, base: 11.5, rate: 2},
	{k: moexFX, ticker: "CHFRUB_TOM", figi: "BBG0013HQ5K4", name: "Swiss Franc", lot: 1000, inc: 0.0025, base: 100, rate: 2},
	{k: moexFX, ticker: "JPYRUB_TOM", figi: "BBG0013HQ310", name: "Japanese Yen", lot: 10000, inc: 0.0001, base: 0.6, rate: 2},
	{k: moexFX, ticker: "TRYRUB_TOM", figi: "BBG0013J12N1", name: "Turkish Lira", lot: 1000, inc: 0.0005, base: 2.8, rate: 1},

	{k: cryptoRUB, ticker: "ETH_RUB", name: "Ether / Rouble", lot: 1, inc: 0.5, base: 300_000, rate: 20},
	{k: cryptoUSD, ticker: "BTC_USD", name: "Bitcoin / US Dollar", lot: 1, inc: 0.01, base: 65_000, rate: 40},
	{k: cryptoUSD, ticker: "ETH_USD", name: "Ether / US Dollar", lot: 1, inc: 0.01, base: 3_200, rate: 25},
	{k: simStock, ticker: "SIMCO", name: "Simulated Corp", lot: 1, inc: 0.05, base: 100, rate: 15},
	{k: simETF, ticker: "SIMETF", name: "Simulated World Fund", lot: 1, inc: 0.0025, base: 10, rate: 8},
}

// generatedKinds weights the kinds of generated instruments.
var generatedKinds = []*kind{
	moexStock, moexStock, moexStock, moexStock, usStock, usStock, usStock,
	moexBond, moexBond, moexETF, moexFX, moexBreak, cryptoUSD, simStock,
}

// generatedIncrements are the price steps generated instruments choose from,
// including non-powers of ten so that TradingView minmovement is exercised.
var generatedIncrements = []float64{
	0.0001, 0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10,
}

// generatedRow derives catalogue entry i (counting from the end of the
// default universe) from i alone, so the universe is the same for any seed.
func generatedRow(i int) row {
	h := hash2(0x6e6e, uint64(i))
	k := generatedKinds[h%uint64(len(generatedKinds))]
	r := row{k: k, lot: 1, rate: 0.5 + 30*unit(hash2(h, 1))*unit(hash2(h, 2))}
	letters := alphaCode(i)
	switch k.typ {
	case tvbridge.Bond:
		body := "RU000G" + letters // an ISIN, as MOEX lists corporate bonds
		r.ticker = body + string(isinCheckDigit(body))
		r.base = 80 + 25*unit(hash2(h, 3))
		r.inc = 0.01
		r.coupon = 0.04 + 0.08*unit(hash2(h, 4))
		r.rate /= 10
	default:
		r.ticker = "Z" + letters
		// Log-uniform prices from 0.1 to 10,000, about 10^4 ticks each.
		r.base = 0.1 * math.Pow(10, 5*unit(hash2(h, 3)))
		r.inc = incrementFor(r.base)
		if k.typ == tvbridge.Currency && k.exchange == "MOEX" {
			r.lot = 1000
		}
	}
	r.name = fmt.Sprintf("%s %s", strings.TrimPrefix(r.ticker, "Z"), k.name)
	return r
}

// alphaCode spells i in base 26 as five letters, a unique suffix per index.
func alphaCode(i int) string {
	var b [5]byte
	for j := len(b) - 1; j >= 0; j-- {
		b[j] = byte('A' + i%26)
		i /= 26
	}
	return string(b[:])
}

// incrementFor picks the generated increment giving price about 10^4 ticks.
func incrementFor(price float64) float64 {
	best := generatedIncrements[0]
	for _, inc := range generatedIncrements {
		if price/inc >= 5000 {
			best = inc
		}
	}
	return best
}
