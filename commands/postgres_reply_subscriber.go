package commands

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// replyOffsetsAdapter is watermill-sql's PostgreSQL offsets adapter, except
// that a consumer group starts after the replies already written. Every
// row that watermill-sql inserts gets the writing transaction's id, and the
// subscriber reads rows of higher transaction ids than its group's
// position. The position written here is the id of the transaction that
// subscribes. A reply to a command sent after subscribing is written by a
// transaction that got its id after the command was written, so its id is
// higher and the reply is read.
type replyOffsetsAdapter struct {
	watermillsql.DefaultPostgreSQLOffsetsAdapter
}

// BeforeSubscribingQueries sets the group's position to the subscribing
// transaction, also when the group has a position already.
func (a replyOffsetsAdapter) BeforeSubscribingQueries(topic string, consumerGroup string) []watermillsql.Query {
	return []watermillsql.Query{{
		Query: `INSERT INTO ` + a.MessagesOffsetsTable(topic) + ` (consumer_group, offset_acked, last_processed_transaction_id)
			VALUES ($1, 0, pg_current_xact_id())
			ON CONFLICT (consumer_group) DO UPDATE
			SET offset_acked = 0, last_processed_transaction_id = excluded.last_processed_transaction_id`,
		Args: []any{consumerGroup},
	}}
}

// replySubscriber is a watermill-sql subscriber whose Close also deletes
// its consumer group's rows from the offsets tables, which would otherwise
// gain a row for every Bus ever started.
type replySubscriber struct {
	*watermillsql.Subscriber
	db            *sql.DB
	offsets       replyOffsetsAdapter
	consumerGroup string

	mu     sync.Mutex
	topics []string
}

// Subscribe subscribes to topic and remembers it for Close.
func (s *replySubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	messages, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.topics = append(s.topics, topic)
	s.mu.Unlock()
	return messages, nil
}

// Close stops the subscriptions and deletes the consumer group's rows.
func (s *replySubscriber) Close() error {
	err := s.Subscriber.Close()

	s.mu.Lock()
	topics := s.topics
	s.topics = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topic := range topics {
		_, deleteErr := s.db.ExecContext(ctx, `DELETE FROM `+s.offsets.MessagesOffsetsTable(topic)+
			` WHERE consumer_group = $1`, s.consumerGroup)
		if deleteErr != nil {
			err = errors.Join(err, fmt.Errorf("deleting consumer group %s of topic %s: %w", s.consumerGroup, topic, deleteErr))
		}
	}
	return err
}
