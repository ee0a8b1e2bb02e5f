package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/replay"
)

const verifyUsage = `Usage: todolog verify (--user USER | --all | --export FILE) [--against FILE]

Recomputes hash chains and reports the first broken link:
  --user USER        one user's chain in the database
  --all              every user's chain in the database
  --export FILE      an export written by todolog replay, without a database
  --against FILE     with --user: also check that the database still holds
                     the chain head recorded in that export`

func runVerify(ctx context.Context, env *environment, args []string) error {
	flags := flag.NewFlagSet("verify", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	flags.Usage = func() { fmt.Fprintln(env.stderr, verifyUsage) }
	user := flags.String("user", "", "verify this user's chain")
	all := flags.Bool("all", false, "verify every user's chain")
	exportFile := flags.String("export", "", "verify an export file offline")
	against := flags.String("against", "", "check the database against the chain head of this export")
	if err := flags.Parse(args); err != nil {
		return flagError(err)
	}
	chosen := 0
	for _, set := range []bool{*user != "", *all, *exportFile != ""} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		flags.Usage()
		return usageError("choose exactly one of --user, --all and --export")
	}
	if *against != "" && *user == "" {
		return usageError("--against needs --user")
	}

	if *exportFile != "" {
		file, err := os.Open(*exportFile)
		if err != nil {
			return err
		}
		defer file.Close()
		head, err := replay.VerifyExport(file)
		if err != nil {
			fmt.Fprintf(env.stdout, "FAILED %s: %v\n", *exportFile, err)
			return errVerifyFailed
		}
		fmt.Fprintf(env.stdout, "ok  %s: user %s, %d events, head %s\n", *exportFile, head.UserID, head.Events, head.Hash)
		return nil
	}

	db, err := openToolDatabase(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()

	if *user != "" {
		verify := func() (replay.ChainHead, error) { return replay.Verify(ctx, db, *user) }
		if *against != "" {
			recorded, err := readChainHead(*against)
			if err != nil {
				return err
			}
			if recorded.UserID != *user {
				return usageError("the export %s is of user %s, not %s", *against, recorded.UserID, *user)
			}
			verify = func() (replay.ChainHead, error) { return replay.VerifyAgainst(ctx, db, recorded) }
		}
		head, err := verify()
		if err != nil {
			return reportBroken(env, *user, err)
		}
		if head.Events == 0 {
			fmt.Fprintf(env.stdout, "FAILED user %s has no events; check the user id\n", *user)
			return errVerifyFailed
		}
		fmt.Fprintf(env.stdout, "ok  user %s: %d events, head %s\n", head.UserID, head.Events, head.Hash)
		return nil
	}

	users, total := 0, int64(0)
	err = replay.Users(ctx, db, func(u string) error {
		head, err := replay.Verify(ctx, db, u)
		if err != nil {
			return reportBroken(env, u, err)
		}
		users++
		total += head.Events
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "ok  %d users, %d events: every chain verifies\n", users, total)
	return nil
}

// reportBroken prints a verification failure; other errors pass through.
func reportBroken(env *environment, user string, err error) error {
	var broken *events.BrokenChainError
	if errors.As(err, &broken) || errors.Is(err, replay.ErrHeadMismatch) {
		fmt.Fprintf(env.stdout, "FAILED user %s: %v\n", user, err)
		env.logger.Error("hash chain verification failed", "user_id", user, "error", err)
		return errVerifyFailed
	}
	return err
}

// readChainHead returns the chain head line at the end of an export file,
// reading only the file's tail, since exports can be large.
func readChainHead(path string) (replay.ChainHead, error) {
	file, err := os.Open(path)
	if err != nil {
		return replay.ChainHead{}, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return replay.ChainHead{}, err
	}
	const tail = 64 * 1024
	offset := max(info.Size()-tail, 0)
	data := make([]byte, info.Size()-offset)
	if _, err := file.ReadAt(data, offset); err != nil {
		return replay.ChainHead{}, fmt.Errorf("reading %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var trailer struct {
		ChainHead *replay.ChainHead `json:"chain_head"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &trailer); err != nil || trailer.ChainHead == nil {
		return replay.ChainHead{}, fmt.Errorf("%s does not end with a chain head line; was it cut short?", path)
	}
	return *trailer.ChainHead, nil
}
