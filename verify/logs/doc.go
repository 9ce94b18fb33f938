// Package logs reads what versions log and finds the error patterns a new
// version brings.
package logs
