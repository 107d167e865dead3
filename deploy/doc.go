// Package deploy holds scopegate's deployment files (Dockerfile, Prometheus
// rules and scrape config, Grafana dashboard, Kubernetes manifests, Docker
// Compose) and, in its tests, the checks that keep them in agreement with
// the binary: the metric names the queries use, the ports, paths and config
// the manifests assume, the static build the image ships, and the JSON
// Schema of the config. It has no code of its own.
package deploy
