package commands

import (
	"database/sql"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// txPublisher is a watermill-sql publisher that writes into the transaction
// in which watermill-sql's subscriber delivered a message, when the first
// published message's context carries one, and into a transaction of its
// own otherwise. Replying inside the delivering transaction ties the reply
// to the acknowledgement: both commit, or neither does and the command is
// delivered again.
//
// Inside a transaction the topic's tables must exist already, because
// watermill-sql does not create tables there (CREATE TABLE could commit the
// transaction early). A reply topic's tables exist once a Bus has
// subscribed to it.
type txPublisher struct {
	schema    watermillsql.SchemaAdapter
	outsideTx *watermillsql.Publisher
	logger    watermill.LoggerAdapter
}

func newTxPublisher(db *sql.DB, schema watermillsql.SchemaAdapter, autoInitialize bool,
	logger watermill.LoggerAdapter) (*txPublisher, error) {
	outsideTx, err := watermillsql.NewPublisher(db, watermillsql.PublisherConfig{
		SchemaAdapter:        schema,
		AutoInitializeSchema: autoInitialize,
	}, logger)
	if err != nil {
		return nil, err
	}
	return &txPublisher{schema: schema, outsideTx: outsideTx, logger: logger}, nil
}

// Publish inserts messages into topic's table, inside the delivering
// transaction when there is one.
func (p *txPublisher) Publish(topic string, messages ...*message.Message) error {
	if len(messages) == 0 {
		return nil
	}
	tx, ok := watermillsql.TxFromContext(messages[0].Context())
	if !ok {
		return p.outsideTx.Publish(topic, messages...)
	}
	inTx, err := watermillsql.NewPublisher(tx, watermillsql.PublisherConfig{SchemaAdapter: p.schema}, p.logger)
	if err != nil {
		return err
	}
	return inTx.Publish(topic, messages...)
}

// Close waits for publishing outside a transaction to finish and rejects
// later calls of that kind.
func (p *txPublisher) Close() error {
	return p.outsideTx.Close()
}
