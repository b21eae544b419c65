package flavor

// The MLmodel document: parsing any MLmodel MLflow 3.x (or the tutorial's
// flavor) writes, and writing ours in PyYAML's style.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor/pyyaml"
)

// MaxMLmodelSize bounds what ParseMLmodel reads. Real MLmodel files are a few
// KiB; a signature for thousands of columns stays well below this.
const MaxMLmodelSize = 1 << 20

// Limits that stop YAML alias bombs ("billion laughs") before they expand:
// MLflow never writes anchors, so a handful of aliases is already generous.
const (
	maxYAMLAliases = 32
	maxYAMLNodes   = 100_000 // nodes visited, aliases expanded
	maxYAMLDepth   = 64
)

// Signature is MLflow's model signature as stored: JSON strings (or "" for
// null), as mlflow.models.ModelSignature.to_dict writes them.
type Signature struct {
	Inputs  string
	Outputs string
	Params  string
}

// MLmodel is MLflow's model descriptor. String fields that are "" are written
// as absent (artifact_path, run_id, mlflow_version) or null (model_id,
// model_uuid), matching mlflow.models.Model.to_dict.
type MLmodel struct {
	ArtifactPath   string
	Flavors        map[string]map[string]any // written with sorted keys
	MLflowVersion  string
	ModelID        string
	ModelSizeBytes *int64
	ModelUUID      string
	Prompts        any // always written; usually null
	RunID          string
	UTCTimeCreated string // "YYYY-MM-DD HH:MM:SS[.ffffff]"
	Metadata       map[string]any
	Signature      *Signature
	// Extra keeps keys this package does not model (saved_input_example_info,
	// env_vars, is_signature_from_type_hint, databricks_runtime, ...), so a
	// parse/marshal round trip loses nothing.
	Extra map[string]any
}

// FormatCreated formats t like Python's str(datetime) of a naive UTC time,
// which is what MLflow stores in utc_time_created: microseconds, and no
// fraction at all when they are zero.
func FormatCreated(t time.Time) string {
	t = t.UTC()
	if us := t.Nanosecond() / 1000; us != 0 {
		return t.Format("2006-01-02 15:04:05") + fmt.Sprintf(".%06d", us)
	}
	return t.Format("2006-01-02 15:04:05")
}

// FlavorConfig returns the configuration of flavor name, or FlavorNotFound
// with MLflow's own message.
func (m *MLmodel) FlavorConfig(name string) (map[string]any, error) {
	if cfg, ok := m.Flavors[name]; ok {
		return cfg, nil
	}
	return nil, failure.New(failure.FlavorNotFound, "Model does not have the %q flavor", name)
}

// Marshal renders the document as MLflow writes it
// (yaml.safe_dump(model.to_dict(), default_flow_style=False)).
func (m *MLmodel) Marshal() ([]byte, error) {
	doc := make(map[string]any, len(m.Extra)+12)
	for k, v := range m.Extra {
		doc[k] = v
	}
	flavors := make(map[string]any, len(m.Flavors))
	for name, cfg := range m.Flavors {
		if cfg == nil {
			cfg = map[string]any{}
		}
		flavors[name] = cfg
	}
	doc["flavors"] = flavors
	doc["model_id"] = nilIfEmpty(m.ModelID)
	doc["model_uuid"] = nilIfEmpty(m.ModelUUID)
	doc["prompts"] = m.Prompts
	doc["utc_time_created"] = m.UTCTimeCreated
	setIf := func(key, val string) {
		if val != "" {
			doc[key] = val
		}
	}
	setIf("artifact_path", m.ArtifactPath)
	setIf("mlflow_version", m.MLflowVersion)
	setIf("run_id", m.RunID)
	if m.ModelSizeBytes != nil {
		doc["model_size_bytes"] = *m.ModelSizeBytes
	}
	if m.Metadata != nil {
		doc["metadata"] = m.Metadata
	}
	if s := m.Signature; s != nil {
		doc["signature"] = map[string]any{
			"inputs": nilIfEmpty(s.Inputs), "outputs": nilIfEmpty(s.Outputs), "params": nilIfEmpty(s.Params),
		}
	}
	out, err := pyyaml.Dump(doc)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidMLmodel, err, "render MLmodel")
	}
	return out, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ParseMLmodel reads an MLmodel document. Every failure is InvalidMLmodel
// with a message naming the problem (and the field, for type errors).
func ParseMLmodel(r io.Reader) (*MLmodel, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMLmodelSize+1))
	if err != nil {
		return nil, failure.Wrap(failure.InvalidMLmodel, err, "read MLmodel")
	}
	if len(data) > MaxMLmodelSize {
		return nil, failure.New(failure.InvalidMLmodel, "MLmodel is over the %d byte limit", MaxMLmodelSize)
	}
	root, err := decodeSingleDocument(data)
	if err != nil {
		return nil, err
	}
	c := &yamlConverter{}
	if err := c.checkAliases(root, 0); err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, failure.New(failure.InvalidMLmodel, "MLmodel top level is a %s, not a mapping", kindName(root))
	}
	return c.mlmodel(root)
}

// readLocalMLmodel parses dir/MLmodel; errors name the file.
func readLocalMLmodel(dir string) (*MLmodel, error) {
	p := filepath.Join(dir, MLmodelFile)
	f, err := os.Open(p)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidMLmodel, err, "no MLmodel file in %s", dir)
	}
	defer f.Close()
	m, err := ParseMLmodel(f)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidMLmodel, err, "%s", p)
	}
	return m, nil
}

func decodeSingleDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, failure.New(failure.InvalidMLmodel, "MLmodel is empty")
		}
		return nil, failure.Wrap(failure.InvalidMLmodel, err, "MLmodel is not valid YAML")
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		// PyYAML's safe_load refuses a stream of several documents too.
		return nil, failure.New(failure.InvalidMLmodel, "MLmodel holds more than one YAML document")
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return nil, failure.New(failure.InvalidMLmodel, "MLmodel is empty")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "scalar " + strings.TrimPrefix(n.Tag, "!!")
	}
	return "document"
}

// yamlConverter turns yaml.Nodes into plain Go values, counting work so a
// document cannot make it expand without bound.
type yamlConverter struct {
	aliases int
	nodes   int
}

// checkAliases refuses anchor/alias-heavy documents before any expansion.
func (c *yamlConverter) checkAliases(n *yaml.Node, depth int) error {
	if depth > maxYAMLDepth {
		return failure.New(failure.InvalidMLmodel, "MLmodel nests deeper than %d levels", maxYAMLDepth)
	}
	if n.Kind == yaml.AliasNode {
		c.aliases++
		if c.aliases > maxYAMLAliases {
			return failure.New(failure.InvalidMLmodel, "MLmodel uses more than %d YAML aliases (a YAML bomb?)", maxYAMLAliases)
		}
		return nil // the anchored node is checked where it is defined
	}
	for _, ch := range n.Content {
		if err := c.checkAliases(ch, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (c *yamlConverter) value(n *yaml.Node, field string, depth int) (any, error) {
	c.nodes++
	if c.nodes > maxYAMLNodes {
		return nil, failure.New(failure.InvalidMLmodel, "MLmodel expands to more than %d YAML nodes (a YAML bomb?)", maxYAMLNodes)
	}
	if depth > maxYAMLDepth {
		return nil, failure.New(failure.InvalidMLmodel, "%s nests deeper than %d levels", field, maxYAMLDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, failure.New(failure.InvalidMLmodel, "%s: dangling YAML alias", field)
		}
		return c.value(n.Alias, field, depth+1)
	case yaml.MappingNode:
		m, err := c.mapping(n, field, depth)
		if err != nil {
			return nil, err
		}
		return m, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, ch := range n.Content {
			v, err := c.value(ch, fmt.Sprintf("%s[%d]", field, i), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarValue(n, field)
	}
	return nil, failure.New(failure.InvalidMLmodel, "%s: unexpected YAML node", field)
}

// scalarValue resolves a scalar the way PyYAML's safe_load does, since
// MLmodel files are written and read by PyYAML: yaml.v3 follows YAML 1.2,
// where "1e5" is a float and "yes" or "017" are not what YAML 1.1 says.
// Plain scalars are therefore re-resolved with PyYAML's implicit resolvers.
// Timestamps stay strings (Go has no naive datetime); sexagesimal numbers
// ("1:20"), which no MLmodel holds, stay strings too.
func scalarValue(n *yaml.Node, field string) (any, error) {
	if n.Style&yaml.TaggedStyle != 0 {
		// An explicit tag (!!str 123, !!float 1): trust it.
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, failure.Wrap(failure.InvalidMLmodel, err, "%s: bad scalar %q", field, n.Value)
		}
		return v, nil
	}
	if n.Style != 0 { // quoted or block scalar: always a string
		return n.Value, nil
	}
	return pyyaml.ResolvePlain(n.Value), nil
}

func (c *yamlConverter) mapping(n *yaml.Node, field string, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, failure.New(failure.InvalidMLmodel, "%s has a %s as a key", orTop(field), kindName(k))
		}
		key := k.Value
		if k.ShortTag() == "!!merge" {
			return nil, failure.New(failure.InvalidMLmodel, "%s uses a YAML merge key '<<', which MLmodel files never contain", orTop(field))
		}
		val, err := c.value(v, join(field, key), depth+1)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

func orTop(field string) string {
	if field == "" {
		return "MLmodel"
	}
	return field
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// mlmodel maps the top-level mapping onto MLmodel, checking field types.
func (c *yamlConverter) mlmodel(root *yaml.Node) (*MLmodel, error) {
	top, err := c.mapping(root, "", 0)
	if err != nil {
		return nil, err
	}
	m := &MLmodel{Flavors: map[string]map[string]any{}}
	str := func(key string, dst *string) error {
		v, ok := top[key]
		delete(top, key)
		if !ok || v == nil {
			return nil
		}
		switch x := v.(type) {
		case string:
			*dst = x
		case int, int64, uint64, bool:
			*dst = fmt.Sprint(x) // e.g. mlflow_version: 3 written by hand
		case float64:
			*dst = pyyaml.FloatRepr(x)
		default:
			return failure.New(failure.InvalidMLmodel, "MLmodel field %s is a %s, want a string", key, typeName(v))
		}
		return nil
	}
	for key, dst := range map[string]*string{
		"artifact_path": &m.ArtifactPath, "mlflow_version": &m.MLflowVersion, "model_id": &m.ModelID,
		"model_uuid": &m.ModelUUID, "run_id": &m.RunID, "utc_time_created": &m.UTCTimeCreated,
	} {
		if err := str(key, dst); err != nil {
			return nil, err
		}
	}
	if v, ok := top["flavors"]; ok {
		delete(top, "flavors")
		fl, ok := v.(map[string]any)
		if !ok && v != nil {
			return nil, failure.New(failure.InvalidMLmodel, "MLmodel field flavors is a %s, want a mapping", typeName(v))
		}
		for name, cfg := range fl {
			switch x := cfg.(type) {
			case map[string]any:
				m.Flavors[name] = x
			case nil:
				m.Flavors[name] = map[string]any{}
			default:
				return nil, failure.New(failure.InvalidMLmodel, "MLmodel field flavors.%s is a %s, want a mapping", name, typeName(cfg))
			}
		}
	}
	if v, ok := top["model_size_bytes"]; ok {
		delete(top, "model_size_bytes")
		switch x := v.(type) {
		case int:
			n := int64(x)
			m.ModelSizeBytes = &n
		case int64:
			m.ModelSizeBytes = &x
		case nil:
		default:
			return nil, failure.New(failure.InvalidMLmodel, "MLmodel field model_size_bytes is a %s, want an integer", typeName(v))
		}
	}
	if v, ok := top["metadata"]; ok {
		delete(top, "metadata")
		md, ok := v.(map[string]any)
		if !ok && v != nil {
			return nil, failure.New(failure.InvalidMLmodel, "MLmodel field metadata is a %s, want a mapping", typeName(v))
		}
		m.Metadata = md
	}
	if v, ok := top["signature"]; ok {
		delete(top, "signature")
		if m.Signature, err = parseSignature(v); err != nil {
			return nil, err
		}
	}
	if v, ok := top["prompts"]; ok {
		delete(top, "prompts")
		m.Prompts = v
	}
	if len(top) > 0 {
		m.Extra = top
	}
	return m, nil
}

func parseSignature(v any) (*Signature, error) {
	if v == nil {
		return nil, nil
	}
	sm, ok := v.(map[string]any)
	if !ok {
		return nil, failure.New(failure.InvalidMLmodel, "MLmodel field signature is a %s, want a mapping", typeName(v))
	}
	s := &Signature{}
	for key, dst := range map[string]*string{"inputs": &s.Inputs, "outputs": &s.Outputs, "params": &s.Params} {
		switch x := sm[key].(type) {
		case nil:
		case string:
			*dst = x
		default:
			return nil, failure.New(failure.InvalidMLmodel, "MLmodel field signature.%s is a %s, want a JSON string", key, typeName(x))
		}
	}
	return s, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, uint64:
		return "integer"
	case float64:
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

// configFloat reads a numeric flavor setting (e.g. offset) and requires it to
// be a finite number; field names the setting in errors.
func configFloat(cfg map[string]any, key, field string) (float64, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return 0, failure.New(failure.InvalidMLmodel, "MLmodel field %s is missing", field)
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	default:
		return 0, failure.New(failure.InvalidMLmodel, "MLmodel field %s is a %s (%v), want a number", field, typeName(v), v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, failure.New(failure.InvalidMLmodel, "MLmodel field %s is %v, want a finite number", field, f)
	}
	return f, nil
}

// configString reads a string flavor setting; missing gives "".
func configString(cfg map[string]any, key, field string) (string, error) {
	switch x := cfg[key].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	default:
		return "", failure.New(failure.InvalidMLmodel, "MLmodel field %s is a %s, want a string", field, typeName(x))
	}
}
