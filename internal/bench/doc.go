// Package bench holds the measurements that both the Go benchmarks (go test
// -bench) and `todolog bench` run. It has a concurrent load runner and a
// generated event log. It has the baselines todolog is compared with: a
// plain INSERT into an events-shaped table, watermill-sql's default
// PostgreSQL publisher, set-based SQL and plain SELECTs. RunSuite runs the
// suite behind `todolog bench`, and Report writes it as Markdown.
package bench
