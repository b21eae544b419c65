// Package goroutines lets a test wait until every goroutine running some
// package's code has ended: the check that goroutines a call started were
// stopped and waited for, not left behind.
package goroutines
