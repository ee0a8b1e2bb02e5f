package migrations

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A Neon pooled endpoint is recognized by its host name, before any query.
func TestCheckDirectRejectsNeonPooledHost(t *testing.T) {
	err := checkDirect(context.Background(), nil,
		"postgres://app:secret@ep-quiet-sun-123456-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require")
	require.ErrorIs(t, err, ErrPooled)
	require.ErrorContains(t, err, "ep-quiet-sun-123456-pooler.eu-central-1.aws.neon.tech/neondb")
	require.NotContains(t, err.Error(), "secret", "the password stays out of the message")
}
