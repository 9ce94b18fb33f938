package report

import (
	"bytes"
	"fmt"

	"github.com/safedeploy/safedeploy/internal/atomicfile"
	"github.com/safedeploy/safedeploy/runbook"
)

// WriteFile renders rec as Write does and writes the page to the file at
// path, atomically: the file is replaced whole or left as it was, never
// half-written, and an existing file keeps its permissions (a new one gets
// 0644). It returns the page's size in bytes. It fails with ErrNilRecord
// for a nil record, or with an error wrapping the file system's (an
// *fs.PathError naming the file).
func WriteFile(path string, rec *runbook.Record) (n int, err error) {
	var page bytes.Buffer
	if err := Write(&page, rec); err != nil {
		return 0, err
	}
	if err := atomicfile.Write(path, page.Bytes()); err != nil {
		return 0, fmt.Errorf("report: %w", err)
	}
	return page.Len(), nil
}
