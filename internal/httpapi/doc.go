// Package httpapi serves todolog's HTTP/JSON API: commands and queries under
// /v1/users/{user_id}/, health and readiness probes, and Prometheus metrics.
//
// Every /v1 request is authenticated: a bearer service token held by the
// chat backend, or an HS256 JWT whose sub claim must equal the path's user.
// docs/http-api.md lists the endpoints with a request and a response each.
package httpapi
