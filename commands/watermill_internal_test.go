package commands

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

func TestWithCommandIDSetsEveryCommandType(t *testing.T) {
	for _, name := range Names() {
		cmd := reflect.New(commandTypes[name]).Elem().Interface().(Command)
		changed := withCommandID(cmd, "id-"+name)
		require.Equal(t, "id-"+name, changed.CommandHeader().CommandID, name)
		require.Empty(t, cmd.CommandHeader().CommandID, "%s: the original stays as it was", name)
		require.IsType(t, cmd, changed, name)
	}
}

func TestIsTransientClassifiesErrors(t *testing.T) {
	cases := []struct {
		err       error
		transient bool
	}{
		{&pq.Error{Code: "08006"}, true}, // connection_failure
		{&pq.Error{Code: "53300"}, true}, // too_many_connections
		{&pq.Error{Code: "57P01"}, true}, // admin_shutdown
		{&pq.Error{Code: "40001"}, true}, // serialization_failure
		{&pq.Error{Code: "40P01"}, true}, // deadlock_detected
		{fmt.Errorf("appending: %w", driver.ErrBadConn), true},
		{&pq.Error{Code: "23505"}, false}, // unique_violation
		{&pq.Error{Code: "42P01"}, false}, // undefined_table
		{ErrNotFound, false},
		{errors.New("stream version 3 follows 1"), false},
	}
	for _, c := range cases {
		require.Equal(t, c.transient, isTransient(c.err), "%v", c.err)
	}
}
