package mockapi

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"time"
)

// pixelPNG is a valid 1x1 PNG, base64-encoded.
var pixelPNG = func() string {
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.NRGBA{R: 0x4a, G: 0x90, B: 0xd9, A: 0xff})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("mockapi: encoding PNG: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}()

type imageRequest struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt"`
	N              *int   `json:"n"`
	ResponseFormat string `json:"response_format"`
}

type imageData struct {
	B64JSON       string `json:"b64_json,omitempty"`
	URL           string `json:"url,omitempty"`
	RevisedPrompt string `json:"revised_prompt"`
}

// imageGenerations answers with n (default 1, at most 10) copies of a 1x1
// PNG: base64 in b64_json, or with response_format "url" a data: URL. A
// missing model means "dall-e-3".
func (a *API) imageGenerations(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req imageRequest
	if !decode(w, body, &req) {
		return
	}
	if req.Model == "" {
		req.Model = "dall-e-3"
	}
	if !a.checkModel(w, req.Model) {
		return
	}
	if req.Prompt == "" {
		writeError(w, http.StatusBadRequest, "prompt must not be empty")
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n < 1 || n > 10 {
		writeError(w, http.StatusBadRequest, "n must be between 1 and 10")
		return
	}
	var item imageData
	switch req.ResponseFormat {
	case "", "b64_json":
		item.B64JSON = pixelPNG
	case "url":
		item.URL = "data:image/png;base64," + pixelPNG
	default:
		writeError(w, http.StatusBadRequest, "response_format must be url or b64_json")
		return
	}
	item.RevisedPrompt = "A mock image of: " + truncate(req.Prompt, maxEcho)
	data := make([]imageData, n)
	for i := range data {
		data[i] = item
	}
	writeJSON(w, http.StatusOK, map[string]any{"created": time.Now().Unix(), "data": data})
}
