package main

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/flavorflow/flavorflow/config"
)

// renderAnalysis executes the analysis template (bench/analysis.md) over
// the run's figures, so the prose quotes this run and no other. mark, when
// not nil, wraps every string a placeholder produces: the test marks them
// to check that the prose holds no figure outside a placeholder.
// A placeholder naming a figure the run did not record renders as "n/a"
// and is returned in missing, so a report is never lost to it.
func renderAnalysis(text string, r *report, mark func(string) string) (out string, missing []string, err error) {
	put := func(s string) string {
		if mark != nil {
			return mark(s)
		}
		return s
	}
	rowByID := func(id string) (row, bool) {
		for _, x := range r.rows {
			if x.ID == id {
				return x, true
			}
		}
		return row{}, false
	}
	tuning := tuningFigures(r.tuning)
	funcs := template.FuncMap{
		"has": func(id string) bool {
			_, ok := r.figs[id]
			if !ok {
				_, ok = rowByID(id)
			}
			return ok
		},
		"hasfig": func(id, key string) bool { _, ok := r.figs[id][key]; return ok },
		"is":     func(id, key, val string) bool { return r.figs[id][key] == val },
		"fig": func(id, key string) string {
			v, ok := r.figs[id][key]
			if !ok {
				missing = append(missing, id+"."+key)
				return "n/a"
			}
			return put(v)
		},
		// met says whether a row met its target, naming the target when not.
		"met": func(id string) string {
			x, ok := rowByID(id)
			switch {
			case !ok:
				missing = append(missing, id)
				return "n/a"
			case x.Unavailable:
				return "not measured (" + put(x.Notes) + ")"
			case x.Met:
				return "MET (target " + put(x.Target) + ")"
			}
			return "**MISS** (target " + put(x.Target) + ")"
		},
		"tuning": func(key string) string {
			v, ok := tuning[key]
			if !ok {
				missing = append(missing, "tuning."+key)
				return "n/a"
			}
			return put(v)
		},
	}
	t, err := template.New("analysis").Funcs(funcs).Parse(text)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return "", missing, err
	}
	return b.String(), missing, nil
}

// tuningFigures formats the worker configuration a run used.
func tuningFigures(w config.Worker) map[string]string {
	onOff := map[bool]string{true: "on", false: "off"}
	return map[string]string{
		"MaxConcurrentActivities":    fmt.Sprint(w.MaxConcurrentActivities),
		"MaxConcurrentWorkflowTasks": fmt.Sprint(w.MaxConcurrentWorkflowTasks),
		"UploadParallelism":          fmt.Sprint(w.UploadParallelism),
		"HTTPPoolSize":               fmt.Sprint(w.HTTPPoolSize),
		"EagerActivities":            onOff[w.EagerActivities],
		"MultipartPartSize":          human(w.MultipartPartSize),
		"MultipartThreshold":         human(w.MultipartThreshold),
	}
}
