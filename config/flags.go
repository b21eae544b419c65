package config

import (
	"flag"
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Flags are command-line flags made from the settings table: their names,
// help and parsing are the table's, so a flag means what the variable and
// the file key mean. Values gives the ones given to LoadWith.
type Flags struct {
	given map[string]string // by setting key
}

// flagValue is one setting's flag: it checks the text with the setting's
// parser (a bad value is refused while parsing the command line, naming the
// flag) and keeps the text for LoadWith, which applies it above the file and
// the environment.
type flagValue struct {
	s     Setting
	f     *Flags
	probe Config // scratch value the parser writes to
}

func (v *flagValue) String() string {
	if v == nil || v.f == nil {
		return "" // the flag package's zero value, for its help
	}
	if t, ok := v.f.given[v.s.Key]; ok {
		return t
	}
	return ""
}

func (v *flagValue) Set(text string) error {
	if err := parseValue(v.s.field(&v.probe), text); err != nil {
		return fmt.Errorf("%s: %v", v.s.Key, err)
	}
	v.f.given[v.s.Key] = text
	return nil
}

// Type names the value in pflag's help.
func (v *flagValue) Type() string {
	switch v.s.field(&v.probe).(type) {
	case *int, *int64:
		return "int"
	case *bool:
		return "bool"
	case *time.Duration:
		return "duration"
	}
	return "string"
}

// IsBoolFlag lets the standard flag package take "-eager-activities" alone.
func (v *flagValue) IsBoolFlag() bool {
	_, ok := v.s.field(&v.probe).(*bool)
	return ok
}

// usage is the flag's help: the table's, with the key, the variable and the
// built-in default (the effective value may come from the file).
func (s Setting) usage() string {
	u := s.Help + " (" + s.Key
	if s.Env != "" {
		u += ", " + s.Env
	}
	d := Defaults()
	if def := formatValue(s.field(&d)); def != "" {
		u += "; default " + def
	}
	return u + ")"
}

func (f *Flags) values(keys []string) []*flagValue {
	if f.given == nil {
		f.given = map[string]string{}
	}
	var vs []*flagValue
	for _, k := range keys {
		s, ok := Lookup(k)
		if !ok || s.Flag == "" {
			// A programming error in a main, found by its first run.
			panic(fmt.Sprintf("config: setting %q has no flag", k))
		}
		vs = append(vs, &flagValue{s: s, f: f})
	}
	return vs
}

// AddTo adds the flags of the settings keys to a pflag (cobra) flag set.
func (f *Flags) AddTo(fs *pflag.FlagSet, keys ...string) {
	for _, v := range f.values(keys) {
		fs.Var(v, v.s.Flag, v.s.usage())
		if v.IsBoolFlag() {
			fs.Lookup(v.s.Flag).NoOptDefVal = "true"
		}
	}
}

// AddToGo adds the flags of the settings keys to a standard flag set.
func (f *Flags) AddToGo(fs *flag.FlagSet, keys ...string) {
	for _, v := range f.values(keys) {
		fs.Var(v, v.s.Flag, v.s.usage())
	}
}

// Values are the flags given, by setting key, for Options.Flags.
func (f *Flags) Values() map[string]string {
	out := make(map[string]string, len(f.given))
	for k, v := range f.given {
		out[k] = v
	}
	return out
}
