package replay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/todolog/todolog/events"
)

// ErrHeadMismatch means the log no longer matches a chain head recorded
// earlier, or the head row the database keeps: events were altered or
// removed.
var ErrHeadMismatch = errors.New("chain head mismatch")

// Verify recomputes userID's hash chain from the log and compares its end
// with the head row the insert trigger maintains, which catches events
// removed from the end of the chain. It returns the first broken link as a
// *events.BrokenChainError. It reads in one transaction scoped to userID
// (events.AsUser).
func Verify(ctx context.Context, db events.DBTX, userID string) (ChainHead, error) {
	var head ChainHead
	err := events.AsUser(ctx, db, userID, func(db events.DBTX) error {
		var err error
		head, err = verify(ctx, db, userID)
		return err
	})
	return head, err
}

func verify(ctx context.Context, db events.DBTX, userID string) (ChainHead, error) {
	verifier := events.ChainVerifier{UserID: userID}
	head := ChainHead{UserID: userID}
	for r, err := range events.ReadUser(ctx, db, userID, 0) {
		if err != nil {
			return ChainHead{}, err
		}
		if err := verifier.Add(r); err != nil {
			return ChainHead{}, err
		}
		head.Position = r.Position
	}
	head.Events = verifier.Count()
	head.Hash = hex.EncodeToString(verifier.Head())

	var lastSequence int64
	var lastHash []byte
	err := db.QueryRowContext(ctx, `SELECT last_sequence, last_hash FROM event_user_heads WHERE user_id = $1`, userID).
		Scan(&lastSequence, &lastHash)
	switch {
	case err != nil && head.Events == 0:
		return head, nil
	case err != nil:
		return ChainHead{}, fmt.Errorf("reading the chain head of user %s: %w", userID, err)
	case lastSequence != head.Events || hex.EncodeToString(lastHash) != head.Hash:
		return ChainHead{}, fmt.Errorf("%w: user %s's log ends at sequence %d, but the head row records %d: events were removed or the head was changed",
			ErrHeadMismatch, userID, head.Events, lastSequence)
	}
	return head, nil
}

// VerifyAgainst verifies userID's chain and checks that it still contains
// the head recorded in an earlier export: the event at that sequence must
// still carry that hash.
func VerifyAgainst(ctx context.Context, db events.DBTX, recorded ChainHead) (ChainHead, error) {
	head, err := Verify(ctx, db, recorded.UserID)
	if err != nil {
		return ChainHead{}, err
	}
	if recorded.Events == 0 {
		return head, nil
	}
	if head.Events < recorded.Events {
		return ChainHead{}, fmt.Errorf("%w: user %s's log has %d events, fewer than the %d the export recorded",
			ErrHeadMismatch, recorded.UserID, head.Events, recorded.Events)
	}
	var hash []byte
	err = events.AsUser(ctx, db, recorded.UserID, func(db events.DBTX) error {
		return db.QueryRowContext(ctx, `SELECT hash FROM events WHERE user_id = $1 AND user_sequence = $2`,
			recorded.UserID, recorded.Events).Scan(&hash)
	})
	if err != nil {
		return ChainHead{}, fmt.Errorf("reading event %d of user %s: %w", recorded.Events, recorded.UserID, err)
	}
	if hex.EncodeToString(hash) != recorded.Hash {
		return ChainHead{}, fmt.Errorf("%w: user %s's event %d has hash %x, but the export recorded %s",
			ErrHeadMismatch, recorded.UserID, recorded.Events, hash, recorded.Hash)
	}
	return head, nil
}

// Users yields every user id that has events, in order, for verifying all
// users. It pages through the head rows, which the insert trigger keeps one
// per user. It is an operator path: each page is read across users
// (events.AsOperator), and yield runs outside that transaction.
func Users(ctx context.Context, db events.DBTX, yield func(userID string) error) error {
	after := ""
	for {
		var page []string
		err := events.AsOperator(ctx, db, func(db events.DBTX) error {
			var err error
			page, err = usersAfter(ctx, db, after)
			return err
		})
		if err != nil {
			return fmt.Errorf("listing users: %w", err)
		}
		for _, user := range page {
			if err := yield(user); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1]
	}
}

// usersAfter returns up to 1,000 user ids after after, in order.
func usersAfter(ctx context.Context, db events.DBTX, after string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT user_id FROM event_user_heads WHERE user_id > $1 ORDER BY user_id LIMIT 1000`, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []string
	for rows.Next() {
		var user string
		if err := rows.Scan(&user); err != nil {
			return nil, err
		}
		page = append(page, user)
	}
	return page, rows.Err()
}
