package failure

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

func TestIsComparesCodes(t *testing.T) {
	err := fmt.Errorf("outer: %w", Wrap(ChecksumMismatch, errors.New("boom"), "file %s", "model.json"))
	if !Has(err, ChecksumMismatch) {
		t.Fatalf("Has(%v, ChecksumMismatch) = false", err)
	}
	if Has(err, NotFound) {
		t.Fatalf("Has(%v, NotFound) = true", err)
	}
	if got := CodeOf(err); got != ChecksumMismatch {
		t.Fatalf("CodeOf = %q", got)
	}
	if got := CodeOf(errors.New("plain")); got != Internal {
		t.Fatalf("CodeOf(plain) = %q", got)
	}
	if Wrap(NotFound, nil, "x") != nil {
		t.Fatal("Wrap(nil) must be nil")
	}
}

func TestTableIsComplete(t *testing.T) {
	seen := map[Code]bool{}
	for _, info := range Table {
		if seen[info.Code] {
			t.Errorf("%s listed twice", info.Code)
		}
		seen[info.Code] = true
		if info.Meaning == "" {
			t.Errorf("%s has no meaning", info.Code)
		}
	}
	if Retryable(InvalidModelName) || !Retryable(ServerUnavailable) {
		t.Fatal("retryability wrong")
	}
	checkCodesUsedAreInTable(t)
}

func TestErrorsMarkdownUpToDate(t *testing.T) {
	got, err := os.ReadFile("../ERRORS.md")
	if err != nil {
		t.Fatalf("read ERRORS.md: %v (run go generate ./failure)", err)
	}
	if string(got) != Markdown() {
		t.Fatal("ERRORS.md is stale: run go generate ./failure")
	}
}
