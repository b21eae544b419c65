package main

import (
	"path/filepath"
	"testing"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/flavor/flavortest"
)

// TestWorkerFlavorsConformance runs the flavor conformance suite over every
// flavor and trainer the worker is built with (workerFlavors): a flavor
// added there is checked without being listed here.
func TestWorkerFlavorsConformance(t *testing.T) {
	reg, err := workerFlavors()
	if err != nil {
		t.Fatal(err)
	}
	flavortest.Run(t, reg, flavortest.Options{
		Fixtures: map[string]string{flavor.TutorialFlavor: filepath.Join("..", "tests", "testdata", "tutorial_model")},
	})
}
