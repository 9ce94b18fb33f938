package journal_test

import (
	"testing"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/internal/jbench"
)

func BenchmarkAppend(b *testing.B) { jbench.Append(b, new(journal.Memory)) }
func BenchmarkRenew(b *testing.B)  { jbench.Renew(b, new(journal.Memory)) }
