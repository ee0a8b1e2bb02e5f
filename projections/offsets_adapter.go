package projections

import (
	"strconv"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
)

// checkpointOffsets is a watermill-sql OffsetsAdapter over the
// projection_checkpoints table, with one row per consumer group.
//
// The subscriber runs NextOffsetQuery (FOR UPDATE), the handler's writes and
// AckMessageQuery in one transaction, so a projection's read-table changes
// and its checkpoint commit together. A second process working on the same
// projection waits for the row lock instead of applying the same events.
type checkpointOffsets struct{}

// AckMessageQuery moves the checkpoint to the last event of the batch that
// the handler acknowledged. A row without a transaction id, which
// eventLogSchema never produces, makes the query fail on the NOT NULL
// column, so the batch rolls back instead of rewinding the checkpoint.
func (checkpointOffsets) AckMessageQuery(_ string, row watermillsql.Row, consumerGroup string) watermillsql.Query {
	var transactionID any
	if id, ok := row.ExtraData[metadataTransactionID].(uint64); ok {
		transactionID = strconv.FormatUint(id, 10)
	}
	return watermillsql.Query{
		Query: `UPDATE projection_checkpoints
			SET last_transaction_id = $1::text::xid8, last_position = $2, updated_at = clock_timestamp()
			WHERE projection = $3`,
		Args: []any{transactionID, row.Offset, consumerGroup},
	}
}

// ConsumedMessageQuery returns an empty query: the row lock taken by
// NextOffsetQuery already keeps other consumers of the group away.
func (checkpointOffsets) ConsumedMessageQuery(string, watermillsql.Row, string, []byte) watermillsql.Query {
	return watermillsql.Query{}
}

// NextOffsetQuery selects and locks the consumer group's checkpoint.
func (checkpointOffsets) NextOffsetQuery(_ string, consumerGroup string) watermillsql.Query {
	return watermillsql.Query{
		Query: `SELECT last_transaction_id, last_position FROM projection_checkpoints
			WHERE projection = $1 FOR UPDATE`,
		Args: []any{consumerGroup},
	}
}

// SchemaInitializingQueries returns nothing: the migrations create
// projection_checkpoints.
func (checkpointOffsets) SchemaInitializingQueries(string) []watermillsql.Query { return nil }

// BeforeSubscribingQueries creates the group's checkpoint row at the start
// of the log. Without a row, NextOffsetQuery would lock nothing and two
// processes could apply the same events.
func (checkpointOffsets) BeforeSubscribingQueries(_ string, consumerGroup string) []watermillsql.Query {
	return []watermillsql.Query{{
		Query: `INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT (projection) DO NOTHING`,
		Args:  []any{consumerGroup},
	}}
}
