package mockapi

import (
	"encoding/json"
	"net/http"
)

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// apiError is the OpenAI error body.
type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// writeError answers status with an OpenAI-shaped invalid_request_error.
func writeError(w http.ResponseWriter, status int, message string) {
	var e apiError
	e.Error.Message = message
	e.Error.Type = "invalid_request_error"
	writeJSON(w, status, e)
}

// decode parses a JSON request body into v, answering 400 and returning
// false when it is not valid JSON of the expected shape.
func decode(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// checkModel answers 400 for a missing model and 404 for an unknown one,
// returning whether the request may go on.
func (a *API) checkModel(w http.ResponseWriter, model string) bool {
	switch {
	case model == "":
		writeError(w, http.StatusBadRequest, "you must provide a model parameter")
		return false
	case !a.knownModel(model):
		writeError(w, http.StatusNotFound, "The model `"+model+"` does not exist or you do not have access to it.")
		return false
	}
	return true
}
