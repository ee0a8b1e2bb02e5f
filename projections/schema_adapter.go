package projections

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// eventLogTopic is the topic the projector subscribes to. The schema adapter
// always reads the events table, so the name only has to pass
// watermill-sql's topic check.
const eventLogTopic = "events"

// eventLogSchema is a watermill-sql SchemaAdapter over the existing events
// table. It never publishes, because only events.Append writes the log.
//
// It reads the log the way watermill-sql's PostgreSQL queue schema reads
// its own table: ordered by transaction id, then position, and only below
// the oldest transaction still open. So an event whose transaction commits
// after a higher-numbered one is still delivered, in its transaction's
// place. It works only with checkpointOffsets, whose NextOffsetQuery returns
// the columns last_transaction_id and last_position.
type eventLogSchema struct {
	// batchSize is how many events one subscriber transaction reads.
	batchSize int
}

var errReadOnlyLog = errors.New("the projector cannot publish: only events.Append writes the event log")

// InsertQuery rejects every call with errReadOnlyLog.
func (eventLogSchema) InsertQuery(string, message.Messages) (watermillsql.Query, error) {
	return watermillsql.Query{}, errReadOnlyLog
}

// SelectQuery locks the consumer group's checkpoint row and selects the
// next batch of events after it.
func (s eventLogSchema) SelectQuery(topic string, consumerGroup string, offsets watermillsql.OffsetsAdapter) watermillsql.Query {
	checkpoint := offsets.NextOffsetQuery(topic, consumerGroup)
	// The checkpoint values come from scalar subqueries, which PostgreSQL
	// runs once before the scan, so each partition's index on
	// (transaction_id, position) serves the row comparison and the order.
	// The columns are qualified because a bare transaction_id in ORDER BY
	// would name the bigint output column, which no index covers.
	query := `WITH checkpoint AS (` + checkpoint.Query + `)
		SELECT ` + eventColumns + ` FROM events
		 WHERE (events.transaction_id, events.position) >
		       ((SELECT last_transaction_id FROM checkpoint), (SELECT last_position FROM checkpoint))
		   AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		 ORDER BY events.transaction_id, events.position
		 LIMIT ` + strconv.Itoa(s.batchSize)
	return watermillsql.Query{Query: query, Args: checkpoint.Args}
}

// UnmarshalMessage turns one selected row into a message. The row's offset
// is the event's position, and its transaction id travels in ExtraData for
// checkpointOffsets.AckMessageQuery.
func (eventLogSchema) UnmarshalMessage(row watermillsql.Scanner) (watermillsql.Row, error) {
	r, err := scanEvent(row)
	if err != nil {
		return watermillsql.Row{}, fmt.Errorf("scanning an event row: %w", err)
	}
	return watermillsql.Row{
		Offset:    r.Position,
		UUID:      []byte(r.EventID.String()),
		Payload:   r.Payload,
		Msg:       messageFromRecord(r),
		ExtraData: map[string]any{metadataTransactionID: r.TransactionID},
	}, nil
}

// SchemaInitializingQueries returns nothing: the migrations create the
// events table.
func (eventLogSchema) SchemaInitializingQueries(string) []watermillsql.Query { return nil }

// SubscribeIsolationLevel is REPEATABLE READ, as in watermill-sql's own
// PostgreSQL schema. When another process updates the checkpoint row after
// this transaction's snapshot was taken, locking the row fails with a
// serialization error instead of working from stale state.
func (eventLogSchema) SubscribeIsolationLevel() sql.IsolationLevel {
	return sql.LevelRepeatableRead
}
