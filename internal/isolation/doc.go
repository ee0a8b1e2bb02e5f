// Package isolation contains the tests of tenant isolation. They run as the
// application role against a real server and try to reach one user's rows
// with another user's id through the Go API, HTTP and raw SQL. They also
// check the roles and row-level security that the migrations set up. The
// package has no code of its own.
package isolation
