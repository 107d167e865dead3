package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// writeSVG draws four panels by hand: throughput and CPU per request per
// scenario, latency percentiles with a repeated token, and SSE time to
// first byte; baseline
// and scopegate side by side in each group.
func writeSVG(path string, r *report) error {
	const (
		w, h       = 1280, 420
		panelW     = 290
		top, baseY = 70, 340
		barW       = 28
	)
	colors := map[string]string{"baseline": "#8c8c8c", "scopegate": "#2b6cb0"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="16" y="24" font-size="15" font-weight="bold">scopegate vs bare httputil.ReverseProxy, %d connections, loopback</text>`+"\n", r.o.conns)
	fmt.Fprintf(&b, `<text x="16" y="42" fill="#555">%s; %d rounds x %s per target and scenario</text>`+"\n", html.EscapeString(r.machine), r.o.rounds, r.o.duration)
	for i, t := range []string{"baseline", "scopegate"} {
		fmt.Fprintf(&b, `<rect x="%d" y="14" width="12" height="12" fill="%s"/><text x="%d" y="24">%s</text>`+"\n", 1040+i*110, colors[t], 1056+i*110, t)
	}

	type bar struct {
		group, target string
		v             float64
		label         string
	}
	panel := func(x0 int, title, unit string, bars []bar, groups []string) {
		maxV := 0.0
		for _, br := range bars {
			maxV = math.Max(maxV, br.v)
		}
		if maxV == 0 {
			maxV = 1
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0, top-6, html.EscapeString(title))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", x0, baseY, x0+panelW-20, baseY)
		gw := (panelW - 20) / len(groups)
		for gi, g := range groups {
			gx := x0 + gi*gw + (gw-2*barW-4)/2
			for ti, t := range []string{"baseline", "scopegate"} {
				for _, br := range bars {
					if br.group != g || br.target != t {
						continue
					}
					bh := int(float64(baseY-top-20) * br.v / maxV)
					x := gx + ti*(barW+4)
					fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %s %s</title></rect>`+"\n",
						x, baseY-bh, barW, bh, colors[t], html.EscapeString(g), t, br.label, unit)
					fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="middle">%s</text>`+"\n", x+barW/2, baseY-bh-4, br.label)
				}
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x0+gi*gw+gw/2, baseY+16, html.EscapeString(g))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%s</text>`+"\n", x0, baseY+34, html.EscapeString(unit))
	}

	var tp []bar
	for _, sc := range r.scenarios {
		for _, t := range []string{"baseline", "scopegate"} {
			v := r.rows[sc][t].rps
			tp = append(tp, bar{sc, t, v, fmt.Sprintf("%.0f", v)})
		}
	}
	panel(16, "Throughput", "requests per second (higher is better)", tp, r.scenarios)

	var cpu []bar
	for _, sc := range r.scenarios {
		for _, t := range []string{"baseline", "scopegate"} {
			v := r.rows[sc][t].cpu
			cpu = append(cpu, bar{sc, t, v, fmt.Sprintf("%.0f", v)})
		}
	}
	panel(336, "CPU per request of the proxy process", "microseconds (lower is better)", cpu, r.scenarios)

	var lat []bar
	for _, t := range []string{"baseline", "scopegate"} {
		x := r.rows["repeated"][t]
		for _, p := range []struct {
			g string
			v float64
		}{{"p50", ms(x.p50)}, {"p99", ms(x.p99)}, {"p99.9", ms(x.p999)}} {
			lat = append(lat, bar{p.g, t, p.v, fmt.Sprintf("%.2f", p.v)})
		}
	}
	panel(656, "Latency, repeated token", "milliseconds (lower is better)", lat, []string{"p50", "p99", "p99.9"})

	var sse []bar
	for _, t := range []string{"baseline", "scopegate"} {
		x := r.sse[t]
		sse = append(sse, bar{"p50", t, ms(x.p50), fmt.Sprintf("%.2f", ms(x.p50))}, bar{"p99", t, ms(x.p99), fmt.Sprintf("%.2f", ms(x.p99))})
	}
	panel(976, "SSE time to first byte", "milliseconds (lower is better)", sse, []string{"p50", "p99"})
	b.WriteString("</svg>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
