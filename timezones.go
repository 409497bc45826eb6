package tvbridge

// TradingViewTimezones is the timezone enum of TradingView's
// SymbolInfoArrays (spec 1.4.14): /symbol_info may name no other zone.
var TradingViewTimezones = []string{
	"America/New_York", "America/Los_Angeles", "America/Chicago", "America/Phoenix",
	"America/Toronto", "America/Vancouver", "America/Argentina/Buenos_Aires",
	"America/El_Salvador", "America/Sao_Paulo", "America/Bogota", "America/Mexico_City",
	"Europe/Moscow", "Europe/Athens", "Europe/Berlin", "Europe/London", "Europe/Madrid",
	"Europe/Paris", "Europe/Warsaw",
	"Australia/Sydney", "Australia/Brisbane", "Australia/Adelaide", "Australia/ACT",
	"Asia/Almaty", "Asia/Ashkhabad", "Asia/Tokyo", "Asia/Taipei", "Asia/Singapore",
	"Asia/Shanghai", "Asia/Seoul", "Asia/Tehran", "Asia/Dubai", "Asia/Kolkata",
	"Asia/Hong_Kong", "Asia/Bangkok", "Asia/Kathmandu",
	"Pacific/Auckland", "Pacific/Chatham", "Pacific/Fakaofo", "Pacific/Honolulu",
	"Africa/Johannesburg", "US/Mountain", "Etc/UTC",
}
