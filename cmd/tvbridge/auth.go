package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"tvbridge/auth"
	"tvbridge/postgres"
)

// This file is `tvbridge auth`: the operator commands that manage users and
// OAuth clients in the auth database: auth.db in the data dir (bbolt lets
// one process at a time open it, so they run while the server is stopped;
// the server reads the changes when it starts), or, with --postgres-url,
// the cluster's PostgreSQL database (run them any time: every node sees
// the changes). openAuthBackend opens either for serve too.

// authStdin is where passwords and secrets are read from when no file is
// named; a variable so tests can feed it.
var authStdin io.Reader = os.Stdin

type authCommand struct {
	name, summary string
	run           func(fs *flagSet, args []string, stdout io.Writer) error
}

var authCommands = []authCommand{
	{"user add", "create a user; the password is read from --password-file or stdin", authUserAdd},
	{"user passwd", "change a user's password and revoke the user's tokens", authUserPasswd},
	{"user groups", "set the /groups ids a user may read (empty: all)", authUserGroups},
	{"user remove", "delete a user and revoke the user's tokens", authUserRemove},
	{"user list", "list the users", authUserList},
	{"client add", "register an OAuth client (a TradingView connection); prints a generated secret unless --secret-file is given", authClientAdd},
	{"client remove", "delete an OAuth client and revoke its tokens", authClientRemove},
	{"client list", "list the OAuth clients", authClientList},
}

// runAuth is `tvbridge auth user|client ACTION [flags]`.
func runAuth(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) >= 2 {
		for _, c := range authCommands {
			if c.name == args[0]+" "+args[1] {
				fs := newFlagSet("auth "+c.name, c.summary+".\n"+authNote, stderr)
				return c.run(fs, args[2:], stdout)
			}
		}
	}
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
		fmt.Fprintf(stderr, "tvbridge auth: unknown command %q\n\n", strings.Join(args, " "))
	}
	fmt.Fprintln(stderr, "Usage: tvbridge auth user|client ACTION [flags]\n\nCommands:")
	for _, c := range authCommands {
		fmt.Fprintf(stderr, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(stderr, "\n"+authNote+"\nRun 'tvbridge auth user add --help' (and so on) for the flags of a command.")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		return nil
	}
	return errUsage
}

const authNote = "The auth database is auth.db in --data-dir (stop tvbridge serve first: it holds the file),\n" +
	"or the cluster's PostgreSQL database with --postgres-url (the nodes need not stop)."

// authStoreFlags name the auth database of a command.
type authStoreFlags struct {
	dataDir, postgresURL *string
}

func authDBFlags(fs *flagSet) authStoreFlags {
	return authStoreFlags{
		dataDir: fs.String("data-dir", "./data", "directory of the auth database (auth.db); ignored with --postgres-url"),
		postgresURL: fs.String("postgres-url", "", "cluster mode: the PostgreSQL URL the nodes share (users, clients and tokens live there),\n"+
			"      e.g. postgres://tvbridge@db:5432/tvbridge (a password belongs in $PGPASSWORD or ~/.pgpass)"),
	}
}

// authBackend is an open auth database: users, clients and tokens, and the
// failed-login counts the brute-force limits use.
type authBackend struct {
	auth.Backend
	// Failures is nil in the embedded mode (auth.Service then counts in
	// memory) and PostgreSQL's table in cluster mode, so that the limits
	// count every node's failures.
	Failures auth.FailureStore
}

// openAuthBackend opens the auth database: with postgresURL, the cluster's
// PostgreSQL database (migrated if needed; Close closes the connection
// pool), else auth.db in dataDir, waiting up to lockTimeout for the file
// lock (zero: bolt's default). For serve:
//
//	be, err := openAuthBackend(ctx, dataDir, postgresURL, log, 0)
//	svc, err := auth.New(auth.Config{Store: be, Failures: be.Failures, ...})
//	defer be.Close() // after svc.Close()
//
// A serve that already has a *postgres.DB uses authOnDB instead.
func openAuthBackend(ctx context.Context, dataDir, postgresURL string, log *slog.Logger, lockTimeout time.Duration) (*authBackend, error) {
	if log == nil {
		log = slog.Default()
	}
	if postgresURL == "" {
		st, err := auth.OpenStore(filepath.Join(dataDir, auth.DBFile), auth.StoreOptions{Timeout: lockTimeout, Logger: log})
		if err != nil {
			return nil, err
		}
		return &authBackend{Backend: st}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, postgresURL, postgres.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("auth database: %w", err)
	}
	be := authOnDB(db)
	be.Backend = closingBackend{Backend: be.Backend, db: db}
	return be, nil
}

// authOnDB is the auth database of an open PostgreSQL pool; its Close
// leaves the pool open.
func authOnDB(db *postgres.DB) *authBackend {
	return &authBackend{Backend: db.Auth(postgres.AuthOptions{}), Failures: db.LoginFailures()}
}

// closingBackend closes the pool openAuthBackend opened with the backend.
type closingBackend struct {
	auth.Backend
	db *postgres.DB
}

func (b closingBackend) Close() error {
	err := b.Backend.Close()
	b.db.Close()
	return err
}

// withStore parses the flags and runs fn on the open auth database.
func withStore(fs *flagSet, args []string, where authStoreFlags, fn func(auth.Directory) error) error {
	if err := fs.parse(args); err != nil {
		return err
	}
	st, err := openAuthBackend(context.Background(), *where.dataDir, *where.postgresURL, slog.New(slog.DiscardHandler), 2*time.Second)
	if err != nil {
		return err
	}
	err = fn(st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

func required(fs *flagSet, name, value string) error {
	if value == "" {
		fmt.Fprintf(fs.Output(), "--%s is required\n", name)
		return errUsage
	}
	return nil
}

// readSecret reads a password or secret from path, or from stdin when
// path is "" or "-", dropping one trailing newline.
func readSecret(path string) ([]byte, error) {
	var data []byte
	var err error
	if path == "" || path == "-" {
		data, err = io.ReadAll(io.LimitReader(authStdin, 4096))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	data = bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	if len(data) == 0 {
		return nil, errors.New("read secret: empty (pipe it in or name a file)")
	}
	return data, nil
}

// splitList splits a comma-separated flag; "" gives nil.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func authUserAdd(fs *flagSet, args []string, stdout io.Writer) error {
	dir := authDBFlags(fs)
	login := fs.String("login", "", "login name (letters, digits, . _ @ + -; case-insensitive)")
	pwFile := fs.String("password-file", "", "file holding the password (at least 8 bytes); empty or - reads stdin")
	groups := fs.String("groups", "", "comma-separated /groups ids the user may read; empty: all groups")
	return withStore(fs, args, dir, func(st auth.Directory) error {
		if err := required(fs, "login", *login); err != nil {
			return err
		}
		pw, err := readSecret(*pwFile)
		if err != nil {
			return err
		}
		if err := st.AddUser(*login, pw, splitList(*groups)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s added\n", strings.ToLower(*login))
		return nil
	})
}

func authUserPasswd(fs *flagSet, args []string, stdout io.Writer) error {
	dir := authDBFlags(fs)
	login := fs.String("login", "", "login name")
	pwFile := fs.String("password-file", "", "file holding the new password; empty or - reads stdin")
	return withStore(fs, args, dir, func(st auth.Directory) error {
		if err := required(fs, "login", *login); err != nil {
			return err
		}
		pw, err := readSecret(*pwFile)
		if err != nil {
			return err
		}
		if err := st.SetPassword(*login, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; the user's tokens are revoked\n", strings.ToLower(*login))
		return nil
	})
}

func authUserGroups(fs *flagSet, args []string, stdout io.Writer) error {
	dir := authDBFlags(fs)
	login := fs.String("login", "", "login name")
	groups := fs.String("groups", "", "comma-separated /groups ids the user may read; empty: all groups")
	return withStore(fs, args, dir, func(st auth.Directory) error {
		if err := required(fs, "login", *login); err != nil {
			return err
		}
		if err := st.SetGroups(*login, splitList(*groups)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "groups of %s set\n", strings.ToLower(*login))
		return nil
	})
}

func authUserRemove(fs *flagSet, args []string, stdout io.Writer) error {
	dir := authDBFlags(fs)
	login := fs.String("login", "", "login name")
	return withStore(fs, args, dir, func(st auth.Directory) error {
		if err := required(fs, "login", *login); err != nil {
			return err
		}
		if err := st.RemoveUser(*login); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s removed; the user's tokens are revoked\n", strings.ToLower(*login))
		return nil
	})
}

func authUserList(fs *flagSet, args []string, stdout io.Writer) error {
	dir := authDBFlags(fs)
	return withStore(fs, args, dir, func(st auth.Directory) error {
		users, err := st.Users()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOGIN\tGROUPS\tCREATED")
		for _, u := range users {
			groups := "(all)"
			if u.Groups != nil {
				groups = strings.Join(u.Groups, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Login, groups, u.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

type clientFlags struct {
	dir                                                                                    authStoreFlags
	id, kind, redirects, returnTo, user, audience, grantType, appURL, certFile, secretFile *string
}

func authClientAdd(fs *flagSet, args []string, stdout io.Writer) error {
	f := clientFlags{
		dir:        authDBFlags(fs),
		id:         fs.String("id", "", "client_id given to TradingView (letters, digits, . _ -); one per environment connection"),
		kind:       fs.String("kind", "code", `"code" (trading: OAuth2 authorization code flow) or "jwt-bearer" (data: JWT assertion grant)`),
		redirects:  fs.String("redirect-uri", "", "code: comma-separated redirect URIs TradingView sent you (exact match)"),
		returnTo:   fs.String("logout-return-to", "", "code: comma-separated returnTo URIs /oauth/logout may redirect to"),
		user:       fs.String("user", "", "jwt-bearer: the UserId the tokens act as (the assertion's sub)"),
		audience:   fs.String("audience", "", "jwt-bearer: the public URL of /oauth/token given to TradingView as token_url (the assertion's aud)"),
		grantType:  fs.String("grant-type", "", "jwt-bearer: the grant_type URN given to TradingView (default "+auth.DefaultGrantType+")"),
		appURL:     fs.String("app-url", "", "jwt-bearer: the AppUrl given to TradingView; when set, the assertion's spurl must equal it"),
		certFile:   fs.String("certificate-file", "", "jwt-bearer: PEM file with the X.509 certificate(s) whose key signs the assertions"),
		secretFile: fs.String("secret-file", "", "file holding the client secret (at least 32 characters); empty: generate one and print it"),
	}
	return withStore(fs, args, f.dir, func(st auth.Directory) error {
		c, err := f.client(fs)
		if err != nil {
			return err
		}
		secret, generated, err := clientSecret(*f.secretFile)
		if err != nil {
			return err
		}
		if err := st.AddClient(c, secret); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client %s (%s) added\n", c.ID, c.Kind)
		if generated {
			fmt.Fprintf(stdout, "client_secret: %s\n(shown once; only its hash is stored)\n", secret)
		}
		return nil
	})
}

func (f clientFlags) client(fs *flagSet) (auth.Client, error) {
	if err := required(fs, "id", *f.id); err != nil {
		return auth.Client{}, err
	}
	c := auth.Client{
		ID: *f.id, Kind: auth.ClientKind(*f.kind),
		RedirectURIs: splitList(*f.redirects), LogoutReturnTo: splitList(*f.returnTo),
		User: *f.user, Audience: *f.audience, GrantType: *f.grantType, AppURL: *f.appURL,
	}
	if *f.certFile != "" {
		pem, err := os.ReadFile(*f.certFile)
		if err != nil {
			return c, fmt.Errorf("certificate: %w", err)
		}
		c.CertificatePEM = string(pem)
	}
	return c, nil
}

// clientSecret reads the secret from file, or generates one.
func clientSecret(file string) (secret []byte, generated bool, err error) {
	if file != "" {
		secret, err = readSecret(file)
		return secret, false, err
	}
	s, err := auth.NewSecret()
	return []byte(s), true, err
}

func authClientRemove(fs *flagSet, args []string, stdout io.Writer) error {
	dir := authDBFlags(fs)
	id := fs.String("id", "", "client_id")
	return withStore(fs, args, dir, func(st auth.Directory) error {
		if err := required(fs, "id", *id); err != nil {
			return err
		}
		if err := st.RemoveClient(*id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client %s removed; its tokens are revoked\n", *id)
		return nil
	})
}

func authClientList(fs *flagSet, args []string, stdout io.Writer) error {
	dir := authDBFlags(fs)
	return withStore(fs, args, dir, func(st auth.Directory) error {
		clients, err := st.Clients()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tDETAILS")
		for _, c := range clients {
			details := "redirect_uri=" + strings.Join(c.RedirectURIs, ",")
			if len(c.LogoutReturnTo) > 0 {
				details += " returnTo=" + strings.Join(c.LogoutReturnTo, ",")
			}
			if c.Kind == auth.JWTClient {
				grant := c.GrantType
				if grant == "" {
					grant = auth.DefaultGrantType
				}
				details = fmt.Sprintf("user=%s aud=%s grant_type=%s", c.User, c.Audience, grant)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, c.Kind, details)
		}
		return tw.Flush()
	})
}
