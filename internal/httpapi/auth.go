package httpapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Auth decides who may call the /v1 endpoints.
type Auth struct {
	// ServiceToken, when set, is accepted for every user: it is the chat
	// backend's credential.
	ServiceToken string
	// JWTSecret, when set, accepts HS256 JWTs whose sub claim equals the
	// path's user id.
	JWTSecret []byte
	// Disabled turns authentication off, for local use only.
	Disabled bool
}

// Validate reports a configuration that would reject every request.
func (a Auth) Validate() error {
	if a.Disabled {
		return nil
	}
	var problems []error
	if a.ServiceToken == "" && len(a.JWTSecret) == 0 {
		problems = append(problems, errors.New("authentication needs a service token (TODOLOG_SERVICE_TOKEN) "+
			"or a JWT secret (TODOLOG_JWT_SECRET); for local use only, pass --insecure-no-auth"))
	}
	if a.ServiceToken != "" && len(a.ServiceToken) < 16 {
		problems = append(problems, fmt.Errorf("the service token must be at least 16 characters, got %d", len(a.ServiceToken)))
	}
	if len(a.JWTSecret) > 0 && len(a.JWTSecret) < 32 {
		problems = append(problems, fmt.Errorf("the JWT secret must be at least 32 bytes for HS256, got %d", len(a.JWTSecret)))
	}
	return errors.Join(problems...)
}

// errUnauthenticated and errForbidden are the two ways a request fails
// authentication.
var (
	errUnauthenticated = errors.New("unauthenticated")
	errForbidden       = errors.New("forbidden")
)

// authorize checks r's bearer credential for access to userID's data.
func (a Auth) authorize(r *http.Request, userID string) error {
	if a.Disabled {
		return nil
	}
	header := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		return fmt.Errorf("%w: send an Authorization: Bearer header with the service token or a JWT", errUnauthenticated)
	}
	if a.ServiceToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.ServiceToken)) == 1 {
		return nil
	}
	if len(a.JWTSecret) == 0 {
		return fmt.Errorf("%w: the bearer token is not the service token", errUnauthenticated)
	}

	claims := jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.JWTSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return fmt.Errorf("%w: the bearer token is neither the service token nor a valid HS256 JWT: %v", errUnauthenticated, err)
	}
	if claims.Subject != userID {
		return fmt.Errorf("%w: the JWT's subject is not the user in the path", errForbidden)
	}
	return nil
}
