package mockapi

import (
	"net/http"
	"strings"
)

// model is an entry of the model list.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (a *API) model(id string) model {
	return model{ID: id, Object: "model", Created: a.created, OwnedBy: "mock"}
}

func (a *API) listModels(w http.ResponseWriter, _ *http.Request, _ []byte) {
	data := make([]model, len(a.models))
	for n, id := range a.models {
		data[n] = a.model(id)
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request, _ []byte) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
	if !a.checkModel(w, id) {
		return
	}
	writeJSON(w, http.StatusOK, a.model(id))
}
