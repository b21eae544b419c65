package fakemodel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/flavorflow/flavorflow/failure"
)

// FormatVersion is the version of the JSON model format written by Save.
const FormatVersion = 1

// MaxWeightsSize bounds the weights payload (16 GiB): large enough for any
// benchmark, small enough to catch a unit mix-up.
const MaxWeightsSize = 16 << 30

// FakeModel adds a learned offset to its input.
type FakeModel struct {
	Offset float64 `json:"offset"`
	// WeightsSize is the size in bytes of the optional weights payload.
	WeightsSize int64 `json:"weights_size,omitempty"`
	// WeightsSeed selects the deterministic payload bytes.
	WeightsSeed uint64 `json:"weights_seed,omitempty"`
}

// New returns a model with offset and no weights.
func New(offset float64) FakeModel { return FakeModel{Offset: offset} }

// Predict returns x + Offset.
func (m FakeModel) Predict(x float64) float64 { return x + m.Offset }

// PredictAll applies Predict to each input.
func (m FakeModel) PredictAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = m.Predict(x)
	}
	return out
}

// Equal reports whether two models predict the same and carry the same weights.
func (m FakeModel) Equal(o FakeModel) bool { return m == o }

// Validate rejects offsets that are not finite and negative or huge payloads.
func (m FakeModel) Validate() error {
	if math.IsNaN(m.Offset) || math.IsInf(m.Offset, 0) {
		return failure.New(failure.InvalidModel, "offset %v is not a finite number", m.Offset)
	}
	if m.WeightsSize < 0 || m.WeightsSize > MaxWeightsSize {
		return failure.New(failure.InvalidModel, "weights size %d is outside [0, %d]", m.WeightsSize, int64(MaxWeightsSize))
	}
	return nil
}

type fileFormat struct {
	FormatVersion int `json:"format_version"`
	FakeModel
}

// Save writes the model as JSON.
func (m FakeModel) Save(w io.Writer) error {
	if err := m.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fileFormat{FormatVersion: FormatVersion, FakeModel: m})
}

// maxModelJSON bounds what Load reads; a model file is a few dozen bytes.
const maxModelJSON = 1 << 16

// Load reads a model written by Save.
func Load(r io.Reader) (FakeModel, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxModelJSON+1))
	if err != nil {
		return FakeModel{}, failure.Wrap(failure.InvalidModel, err, "read model")
	}
	if len(data) > maxModelJSON {
		return FakeModel{}, failure.New(failure.InvalidModel, "model file is over %d bytes", maxModelJSON)
	}
	var f struct {
		FormatVersion *int     `json:"format_version"`
		Offset        *float64 `json:"offset"`
		WeightsSize   int64    `json:"weights_size"`
		WeightsSeed   uint64   `json:"weights_seed"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return FakeModel{}, failure.Wrap(failure.InvalidModel, err, "model file is not valid model JSON")
	}
	if f.FormatVersion == nil || f.Offset == nil {
		return FakeModel{}, failure.New(failure.InvalidModel, "model file lacks format_version or offset")
	}
	if *f.FormatVersion != FormatVersion {
		return FakeModel{}, failure.New(failure.InvalidModel, "model format_version %d is not supported (want %d)", *f.FormatVersion, FormatVersion)
	}
	m := FakeModel{Offset: *f.Offset, WeightsSize: f.WeightsSize, WeightsSeed: f.WeightsSeed}
	return m, m.Validate()
}

// WeightsReader streams the model's weights payload: WeightsSize bytes from a
// splitmix64 sequence seeded by WeightsSeed. It allocates nothing per byte.
func (m FakeModel) WeightsReader() io.Reader {
	return &weightsReader{state: m.WeightsSeed, left: m.WeightsSize}
}

type weightsReader struct {
	state uint64
	left  int64
	buf   [8]byte
	n     int // unread bytes at the end of buf
}

func (r *weightsReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	written := 0
	// Drain what is left of the last word, then whole words straight into p.
	for r.n > 0 && written < len(p) {
		p[written] = r.buf[8-r.n]
		r.n--
		written++
	}
	for ; len(p)-written >= 8; written += 8 {
		r.state += 0x9e3779b97f4a7c15
		z := r.state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(p[written:], z^(z>>31))
	}
	for written < len(p) {
		if r.n == 0 {
			r.state += 0x9e3779b97f4a7c15
			z := r.state
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
			z = (z ^ (z >> 27)) * 0x94d049bb133111eb
			binary.LittleEndian.PutUint64(r.buf[:], z^(z>>31))
			r.n = 8
		}
		c := copy(p[written:], r.buf[8-r.n:])
		r.n -= c
		written += c
	}
	r.left -= int64(written)
	return written, nil
}

// String is for logs.
func (m FakeModel) String() string {
	if m.WeightsSize == 0 {
		return fmt.Sprintf("FakeModel(%g)", m.Offset)
	}
	return fmt.Sprintf("FakeModel(%g, weights=%dB)", m.Offset, m.WeightsSize)
}
