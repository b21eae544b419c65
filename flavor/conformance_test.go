package flavor_test

import (
	"path/filepath"
	"testing"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/flavor/flavortest"
)

// TestBuiltinFlavorsConformance runs the flavor conformance suite over the
// registry this package ships (fakemodel with its trainer, the tutorial's
// load-only my_flavor reader); worker/ runs it over the worker's registry.
func TestBuiltinFlavorsConformance(t *testing.T) {
	flavortest.Run(t, flavor.Builtin(), flavortest.Options{
		Fixtures: map[string]string{flavor.TutorialFlavor: filepath.Join("..", "tests", "testdata", "tutorial_model")},
	})
}
