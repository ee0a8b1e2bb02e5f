package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progressRedraw is how often a progressBar redraws its line.
const progressRedraw = 200 * time.Millisecond

// progressBar draws one self-updating line on a terminal: a bar, the count
// done, the rate and the time left. A nil *progressBar draws nothing, so
// callers need no checks.
type progressBar struct {
	w     io.Writer
	total int64
	unit  string
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// newProgressBar starts a bar on w when enabled and w is a terminal, and
// returns nil otherwise, so a redirected stderr gets no control characters.
func newProgressBar(w io.Writer, total int, unit string, enabled bool) *progressBar {
	if !enabled || total <= 0 || !isTerminal(w) {
		return nil
	}
	p := &progressBar{w: w, total: int64(total), unit: unit, start: time.Now(), stop: make(chan struct{})}
	p.wg.Go(func() {
		ticker := time.NewTicker(progressRedraw)
		defer ticker.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-ticker.C:
				p.draw()
			}
		}
	})
	return p
}

// Add counts one more unit done. It is safe for concurrent use.
func (p *progressBar) Add() {
	if p != nil {
		p.done.Add(1)
	}
}

// Finish draws the final state and ends the line.
func (p *progressBar) Finish() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.draw()
	fmt.Fprintln(p.w)
}

func (p *progressBar) draw() {
	const width = 30
	done := min(p.done.Load(), p.total)
	filled := int(done * width / p.total)
	elapsed := time.Since(p.start)
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	left := "?"
	if done > 0 {
		left = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	// \x1b[K clears what a longer earlier line left to the right.
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %s/%s %s, %.0f %s/s, %s left\x1b[K",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), done*100/p.total,
		formatCount(done), formatCount(p.total), p.unit, rate, p.unit, left)
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	file, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := file.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// formatCount writes n with commas between groups of three digits.
func formatCount[T int | int64](n T) string {
	digits := fmt.Sprint(n)
	negative := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	var b strings.Builder
	for i, digit := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(digit)
	}
	if negative {
		return "-" + b.String()
	}
	return b.String()
}
