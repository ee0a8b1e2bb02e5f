// Package isolation holds the tests of tenant isolation: run as the
// application role against a real server, they try to reach one user's
// rows with another user's id through the Go API, HTTP and raw SQL, and
// check the roles and row-level security the migrations set up. The
// package has no code of its own.
package isolation
