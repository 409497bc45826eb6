package auth

import (
	"fmt"
	"html/template"
	"net/http"
)

// pageData fills the page template: the login form, or a message.
type pageData struct {
	Lang, Title    string
	Error, Message string

	Form                                      bool
	ClientID, RedirectURI, State, CSRF, Login string
	LoginLabel, PasswordLabel, Submit         string
}

// page is the one server-rendered page: the login form of the code flow,
// and the error and signed-out pages. No scripts, no external resources.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:16px/1.4 system-ui,sans-serif;background:#f4f5f7;margin:0}
main{max-width:22rem;margin:10vh auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}
button{margin-top:1.2rem;width:100%;padding:.6rem;font:inherit;cursor:pointer}
.error{color:#b00020}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Form}}<form method="post">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="lang" value="{{.Lang}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="login">{{.LoginLabel}}</label>
<input id="login" name="login" autocomplete="username" autocapitalize="none" required autofocus value="{{.Login}}">
<label for="password">{{.PasswordLabel}}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{{.Submit}}</button>
</form>{{end}}
</main>
</body>
</html>
`))

// showLoginForm renders the login form for ar with a fresh CSRF token;
// msg, when set, is a message key shown as an error, formatted with args.
func (s *Service) showLoginForm(w http.ResponseWriter, r *http.Request, ar *authRequest, login, msg string, status int, args ...any) {
	csrf, err := newToken()
	if err != nil {
		s.showProblem(w, r, ar.lang, msgInternal, err)
		return
	}
	setCookie(w, csrfCookie, csrf, csrfLifetime)
	d := pageData{
		Form: true, ClientID: ar.client.ID, RedirectURI: ar.redirect, State: ar.state, CSRF: csrf, Login: login,
		LoginLabel: text(ar.lang, msgLogin), PasswordLabel: text(ar.lang, msgPassword), Submit: text(ar.lang, msgSubmit),
	}
	if msg != "" {
		d.Error = fmt.Sprintf(text(ar.lang, msg), args...)
	}
	s.showPage(w, ar.lang, d, status)
}

// showPage renders the page with headers that keep it out of frames and
// caches and its URL (which carries state) out of Referer headers.
func (s *Service) showPage(w http.ResponseWriter, lang string, d pageData, status int) {
	d.Lang = lang
	d.Title = fmt.Sprintf(text(lang, msgTitle), s.cfg.BrokerName)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := page.Execute(w, d); err != nil {
		s.log.Debug("auth: writing page failed", "err", err)
	}
}
