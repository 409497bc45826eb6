package auth

// Message keys. The texts reach users: in TradingView's error notification
// (errmsg) or on the login page.
const (
	msgBadCredentials = "bad-credentials"
	msgTooMany        = "too-many" // takes the minutes to wait
	msgMissingFields  = "missing-fields"
	msgInternal       = "internal"
	msgFormExpired    = "form-expired"
	msgUnknownClient  = "unknown-client"
	msgBadRedirect    = "bad-redirect"
	msgBadReturnTo    = "bad-return-to"
	msgSignedOut      = "signed-out"
	msgTitle          = "title" // takes the broker name
	msgLogin          = "login"
	msgPassword       = "password"
	msgSubmit         = "submit"
)

// messages holds every text in English and Russian, the two languages
// of the OAuth login page.
var messages = map[string]map[string]string{
	"en": {
		msgBadCredentials: "Invalid login or password.",
		msgTooMany:        "Too many failed login attempts. Try again in %d min.",
		msgMissingFields:  "Enter your login and password.",
		msgInternal:       "The server could not sign you in; please try again later.",
		msgFormExpired:    "The sign-in form expired. Please sign in again.",
		msgUnknownClient:  "This sign-in link is not valid: unknown application (client_id).",
		msgBadRedirect:    "This sign-in link is not valid: its redirect_uri is not registered for the application.",
		msgBadReturnTo:    "You are signed out. The return address is not registered, so you stay on this page.",
		msgSignedOut:      "You are signed out.",
		msgTitle:          "Sign in to %s",
		msgLogin:          "Login",
		msgPassword:       "Password",
		msgSubmit:         "Sign in",
	},
	"ru": {
		msgBadCredentials: "Неверный логин или пароль.",
		msgTooMany:        "Слишком много неудачных попыток входа. Повторите через %d мин.",
		msgMissingFields:  "Введите логин и пароль.",
		msgInternal:       "Сервер не смог выполнить вход; попробуйте позже.",
		msgFormExpired:    "Форма входа устарела. Войдите ещё раз.",
		msgUnknownClient:  "Ссылка для входа недействительна: неизвестное приложение (client_id).",
		msgBadRedirect:    "Ссылка для входа недействительна: redirect_uri не зарегистрирован для приложения.",
		msgBadReturnTo:    "Вы вышли. Адрес возврата не зарегистрирован, поэтому вы остаётесь на этой странице.",
		msgSignedOut:      "Вы вышли.",
		msgTitle:          "Вход в %s",
		msgLogin:          "Логин",
		msgPassword:       "Пароль",
		msgSubmit:         "Войти",
	},
}

// text returns message key in lang, falling back to English.
func text(lang, key string) string {
	if m, ok := messages[lang]; ok {
		return m[key]
	}
	return messages["en"][key]
}
