package isolation_test

import (
	"testing"

	"github.com/todolog/todolog/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
