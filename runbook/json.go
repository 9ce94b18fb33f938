package runbook

import (
	"encoding/json"
	"fmt"
	"time"
)

// fields is Runbook without its methods, so that MarshalJSON and
// UnmarshalJSON can encode the other fields the default way.
type fields Runbook

// MarshalJSON encodes the runbook with the field names in its struct tags,
// RollbackTime as a duration string ("2m0s") rather than nanoseconds.
// It fails only if a field cannot be encoded, such as a Date whose year is
// outside [0, 9999].
func (r Runbook) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		fields
		RollbackTime string `json:"rollback_time"`
	}{fields(r), r.RollbackTime.String()})
}

// UnmarshalJSON decodes what MarshalJSON encodes. It fails if the JSON
// does not match the fields' types or rollback_time is not a duration
// string that time.ParseDuration accepts. A missing or null rollback_time
// leaves RollbackTime as it was.
func (r *Runbook) UnmarshalJSON(data []byte) error {
	v := struct {
		*fields
		RollbackTime *string `json:"rollback_time"`
	}{fields: (*fields)(r)}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if v.RollbackTime == nil {
		return nil
	}
	d, err := time.ParseDuration(*v.RollbackTime)
	if err != nil {
		return fmt.Errorf("runbook: rollback_time: %w", err)
	}
	r.RollbackTime = d
	return nil
}

// JSON encodes the record as indented JSON, the runbook as Runbook's
// MarshalJSON encodes it. It fails only if a value cannot be encoded: a
// Number that is NaN or infinite, or a time whose year is outside
// [0, 9999]. r must not be nil.
func (r *Record) JSON() ([]byte, error) {
	c := *r
	c.Schema = SchemaVersion
	return json.MarshalIndent(&c, "", "  ")
}

// ParseRecord decodes a record that JSON wrote. It fails on data that is
// not a record's JSON, and on a record of a newer schema than this package
// knows, naming both versions.
func ParseRecord(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("runbook: not a record: %w", err)
	}
	if r.Schema > SchemaVersion {
		return nil, fmt.Errorf("runbook: record schema %d is newer than this package's %d", r.Schema, SchemaVersion)
	}
	return &r, nil
}
