package metrics

import (
	"testing"

	"payorch/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{Temporal: true}) }
