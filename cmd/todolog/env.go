package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// envReader reads flag defaults from environment variables and collects
// every invalid value, so a typo in the environment is reported instead of
// silently replaced by the default.
type envReader struct {
	problems []error
}

// String returns the variable name, or fallback when it is unset.
func (e *envReader) String(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// Int returns the integer in the variable name, or fallback when unset.
func (e *envReader) Int(name string, fallback int) int {
	value := os.Getenv(name)
	if value == "" {
		return fallback
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		e.problems = append(e.problems, fmt.Errorf("%s=%q is not an integer", name, value))
		return fallback
	}
	return n
}

// Duration returns the duration in the variable name, such as "90s", or
// fallback when unset.
func (e *envReader) Duration(name string, fallback time.Duration) time.Duration {
	value := os.Getenv(name)
	if value == "" {
		return fallback
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		e.problems = append(e.problems, fmt.Errorf("%s=%q is not a duration such as 30s or 5m", name, value))
		return fallback
	}
	return d
}

// Err returns every invalid value read so far.
func (e *envReader) Err() error {
	if len(e.problems) == 0 {
		return nil
	}
	return usageError("%v", errors.Join(e.problems...))
}
