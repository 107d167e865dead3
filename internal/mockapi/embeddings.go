package mockapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
)

// embeddingDims is the length of every embedding.
const embeddingDims = 8

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
}

type embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

// embeddings answers one deterministic 8-float embedding per input (a
// string, an array of strings, an array of tokens or an array of token
// arrays), derived from the input's SHA-256. With encoding_format
// "base64" each embedding is the base64 of little-endian float32s.
func (a *API) embeddings(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req embeddingRequest
	if !decode(w, body, &req) || !a.checkModel(w, req.Model) {
		return
	}
	inputs, err := embeddingInputs(req.Input)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		writeError(w, http.StatusBadRequest, "encoding_format must be float or base64")
		return
	}
	data := make([]embedding, len(inputs))
	tokens := 0
	for n, in := range inputs {
		tokens += max(len(strings.Fields(in)), 1)
		vec := vector(in)
		var e any = vec
		if req.EncodingFormat == "base64" {
			b := make([]byte, 0, 4*len(vec))
			for _, f := range vec {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		data[n] = embedding{Object: "embedding", Index: n, Embedding: e}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  usage{PromptTokens: tokens, TotalTokens: tokens},
	})
}

// embeddingInputs lists the inputs of an embeddings request as strings
// (token arrays in their JSON form).
func embeddingInputs(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, fmt.Errorf("input must not be empty")
		}
		return []string{one}, nil
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) != nil || len(many) == 0 {
		return nil, fmt.Errorf("input must be a non-empty string or array")
	}
	var strs []string
	if json.Unmarshal(raw, &strs) == nil {
		return strs, nil
	}
	var ints []int64
	if json.Unmarshal(raw, &ints) == nil {
		return []string{string(raw)}, nil
	}
	var arrays [][]int64
	if json.Unmarshal(raw, &arrays) == nil {
		out := make([]string, len(many))
		for n, m := range many {
			out[n] = string(m)
		}
		return out, nil
	}
	return nil, fmt.Errorf("input must be a string, an array of strings, or token arrays")
}

// vector derives a unit-length embedding from s.
func vector(s string) []float32 {
	sum := sha256.Sum256([]byte(s))
	vec := make([]float32, embeddingDims)
	var norm float64
	for n := range vec {
		v := float64(int32(binary.BigEndian.Uint32(sum[4*n:]))) / math.MaxInt32
		vec[n] = float32(v)
		norm += v * v
	}
	if norm > 0 {
		for n := range vec {
			vec[n] = float32(float64(vec[n]) / math.Sqrt(norm))
		}
	}
	return vec
}
