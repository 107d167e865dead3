package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadFile reads, parses, expands, validates and compiles the config at
// path.
func LoadFile(path string, opts ...Option) (*Compiled, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parse(b, os.LookupEnv, path, opts)
}

// Parse decodes YAML strictly: unknown keys and duplicate keys are errors
// naming their line. Every string value may use ${NAME} to take an
// environment variable (looked up with lookup); "$$" writes a "$". The
// result has its defaults applied, has been validated and is compiled.
func Parse(b []byte, lookup func(string) (string, bool), opts ...Option) (*Compiled, error) {
	return parse(b, lookup, "", opts)
}

func parse(b []byte, lookup func(string) (string, bool), source string, opts []Option) (*Compiled, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config is empty")
		}
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config holds more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var problems Problems
	// Unknown keys and unset variables are reported together with every
	// other problem: decoding ignores the unknown keys, and validation
	// sees an unexpanded ${NAME} as written.
	problems = append(problems, checkKnownKeys(root, "", configType)...)
	problems = append(problems, expandEnv(root, "", lookup)...)
	cfg := &Config{source: source}
	var typeErrs []string
	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("decoding config: %w", err)
		}
		typeErrs = te.Errors
	}
	cfg.lines = map[string]int{}
	recordLines(root, "", cfg.lines)
	for _, msg := range typeErrs {
		problems = append(problems, cfg.typeProblem(msg))
	}
	cfg.ApplyDefaults()
	return compile(cfg, problems, opts)
}

// Source returns the file the config was loaded from, or "".
func (c *Config) Source() string { return c.source }

// typeProblem turns one of yaml.v3's "line N: ..." messages into a
// Problem, naming the key found on that line.
func (c *Config) typeProblem(msg string) Problem {
	var line int
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	field := ""
	for path, l := range c.lines {
		if l == line && len(path) > len(field) {
			field = path
		}
	}
	return Problem{Field: field, Line: line, Message: msg}
}
