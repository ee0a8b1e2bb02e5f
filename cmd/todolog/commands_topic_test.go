package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

// A Go backend sends commands over the PostgreSQL commands topic to a real
// serve process and gets typed replies.
func TestServeAnswersCommandsOnTopic(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	startServe(t, []string{"DATABASE_URL=" + databaseURL}, "--components", "http,commands", "--insecure-no-auth")

	db := pgtest.Open(t, databaseURL)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	transport := commands.PostgreSQLConfig{DB: db, Logger: logger, PollInterval: 5 * time.Millisecond}
	publisher, err := commands.NewPostgreSQLCommandPublisher(transport)
	require.NoError(t, err)
	subscriber, err := commands.NewPostgreSQLReplySubscriber(transport)
	require.NoError(t, err)
	bus, err := commands.NewBus(commands.BusConfig{Publisher: publisher, Subscriber: subscriber, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { bus.Close() })
	client := commands.NewClient(bus)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	added, err := client.AddTask(ctx, "erin", "book flights", "", commands.WithCommandID("topic-add-1"))
	require.NoError(t, err)
	require.Positive(t, added.TaskID)
	again, err := client.AddTask(ctx, "erin", "book flights", "", commands.WithCommandID("topic-add-1"))
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, added.TaskID, again.TaskID)

	_, err = client.CompleteTask(ctx, "mallory", added.TaskID)
	require.ErrorIs(t, err, commands.ErrNotFound)
	_, err = client.AddTask(ctx, "erin", "", "")
	require.ErrorIs(t, err, commands.ErrInvalid)

	head, err := events.ReadStreamHead(ctx, db, "erin", events.TaskStream(added.TaskID))
	require.NoError(t, err)
	require.Equal(t, 1, head.Version)
}
