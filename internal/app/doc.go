// Package app wires flavorflow's mains: it loads the configuration, builds
// the logger, dials Temporal with the right precedence (flags > env >
// envconfig profile > temporal-dev.yml) and opens the store the tracking URI
// names. The worker and the starter share it so they never disagree.
package app
