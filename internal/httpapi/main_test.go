package httpapi_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const serviceToken = "test-service-token-0123456789"

var jwtSecret = []byte("test-jwt-secret-0123456789abcdef0123")

type api struct {
	t      *testing.T
	server *httptest.Server
	db     *sql.DB
}

func newAPI(t *testing.T, databaseURL string) *api {
	t.Helper()
	db := pgtest.Open(t, databaseURL)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	require.NoError(t, err)
	server, err := httpapi.New(httpapi.Config{
		Commands: handler, DB: db, Logger: logger,
		Auth: httpapi.Auth{ServiceToken: serviceToken, JWTSecret: jwtSecret},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(server)
	t.Cleanup(ts.Close)
	return &api{t: t, server: ts, db: db}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends body (raw bytes, or a value to encode) with the service token.
func (a *api) do(method, path string, body any, headers ...string) response {
	return a.doAs("Bearer "+serviceToken, method, path, body, headers...)
}

func (a *api) doAs(authorization, method, path string, body any, headers ...string) response {
	a.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		reader = bytes.NewReader(b)
	case string:
		reader = bytes.NewReader([]byte(b))
	default:
		encoded, err := json.Marshal(b)
		require.NoError(a.t, err)
		reader = bytes.NewReader(encoded)
	}
	request, err := http.NewRequest(method, a.server.URL+path, reader)
	require.NoError(a.t, err)
	if authorization != "" {
		request.Header.Set("Authorization", authorization)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		request.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.server.Client().Do(request)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// problems returns the field and rule of each problem in an error body.
func (r response) problems() [][2]string {
	var found [][2]string
	errorBody, _ := r.body["error"].(map[string]any)
	list, _ := errorBody["problems"].([]any)
	for _, item := range list {
		p := item.(map[string]any)
		field, _ := p["field"].(string)
		found = append(found, [2]string{field, p["rule"].(string)})
	}
	return found
}

func (r response) code() string {
	errorBody, _ := r.body["error"].(map[string]any)
	code, _ := errorBody["code"].(string)
	return code
}

func (a *api) eventCount() int {
	a.t.Helper()
	var n int
	require.NoError(a.t, a.db.QueryRow(`SELECT count(*) FROM events`).Scan(&n))
	return n
}

func newUser() string { return "u-" + uuid.NewString()[:12] }
