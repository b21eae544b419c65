// Package modeluri parses the model URIs MLflow users type:
//
//	models:/<name>/<version>      a registered version
//	models:/<name>@<alias>        the version an alias points at
//	models:/<name>/latest         the highest version
//	models:/m-<id>                an MLflow 3 logged model
//	runs:/<run-id>/<path>         a path below a run's artifacts
//	file:///abs/dir, /abs/dir     a local model directory
//
// A models:/ reference may be followed by a sub-path ("models:/m/1/MLmodel").
// Stages ("models:/m/Production") are deprecated in MLflow 3 and rejected
// with a message that says to use an alias. The grammar follows
// mlflow/store/artifact/utils/models.py.
package modeluri
