package main

import (
	"fmt"
	"strings"
	"time"
)

// The rows of the report are built from measured values by these pure
// functions, so the analysis test renders exactly the figures a run
// records (see analysis_test.go).

func ratioX(x float64) string { return fmt.Sprintf("%.2f×", x) }

func uploadRow(size int64, reps int, o, c, p time.Duration) row {
	rc, rp := c.Seconds()/o.Seconds(), p.Seconds()/o.Seconds()
	return row{ID: "P1", What: fmt.Sprintf("upload %s file (median of %d)", human(size), reps),
		Ours:      fmt.Sprintf("%s (%s)", secs(o), mbps(size, o)),
		Baselines: fmt.Sprintf("curl -T %s (%s); Python log_artifact %s (%s)", secs(c), mbps(size, c), secs(p), mbps(size, p)),
		Ratio:     fmt.Sprintf("%s curl, %s Python", ratioX(rc), ratioX(rp)),
		Target:    "≥ 0.9× curl, ≥ 2× Python",
		Met:       rc >= 0.9 && rp >= 2,
		Figs: map[string]string{"size": human(size), "ours_mibs": mbps(size, o), "curl_mibs": mbps(size, c), "py_mibs": mbps(size, p),
			"ratio_curl": ratioX(rc), "ratio_py": ratioX(rp)},
	}
}

func downloadRow(size int64, reps, files int, o, c, p time.Duration) row {
	rc, rp := c.Seconds()/o.Seconds(), p.Seconds()/o.Seconds()
	return row{ID: "P2", What: fmt.Sprintf("download+verify+load %s model (median of %d)", human(size), reps),
		Ours:      fmt.Sprintf("%s (%s)", secs(o), mbps(size, o)),
		Baselines: fmt.Sprintf("curl GET ×%d files %s (%s); Python download_artifacts %s (%s)", files, secs(c), mbps(size, c), secs(p), mbps(size, p)),
		Ratio:     fmt.Sprintf("%s curl, %s Python", ratioX(rc), ratioX(rp)),
		Target:    "≥ 0.9× curl, ≥ 2× Python",
		Met:       rc >= 0.9 && rp >= 2,
		Notes:     "flavorflow also checks every byte against the manifest (hashed while writing) and parses MLmodel and model.json; curl and Python only copy bytes.",
		Figs: map[string]string{"size": human(size), "ours_mibs": mbps(size, o), "curl_mibs": mbps(size, c), "py_mibs": mbps(size, p),
			"ratio_curl": ratioX(rc), "ratio_py": ratioX(rp)},
	}
}

// withTransferCPU adds to a P1/P2 row the CPU each side's transfer cost
// the MLflow server and the client, and the bound the server's share
// sets: one request is served by one server process, so a transfer takes
// at least the server's CPU for it when that runs on one core (printed only
// when the measured wall time agrees, i.e. is not shorter).
func withTransferCPU(x row, o, p time.Duration, ours, curl transferCPU) row {
	x.Figs["server_cpu"], x.Figs["curl_server_cpu"] = cpuS(ours.server), cpuS(curl.server)
	x.Figs["client_cpu"], x.Figs["curl_client_cpu"] = cpuS(ours.client), cpuS(curl.client)
	x.Figs["cores_busy"] = fmt.Sprintf("%.2f", (ours.server+ours.client)/o.Seconds())
	if ours.server > 0 && ours.server <= o.Seconds() {
		x.Figs["bound_py"] = ratioX(p.Seconds() / ours.server)
	}
	x.Notes = strings.TrimSpace(x.Notes + fmt.Sprintf(" CPU per transfer (median): flavorflow's MLflow server %s, client %s; curl's server %s, curl %s.",
		cpuS(ours.server), cpuS(ours.client), cpuS(curl.server), cpuS(curl.client)))
	return x
}

// rssPoint is P3's measurement at one model size.
type rssPoint struct {
	size, idle, above int64
	took              time.Duration
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func rssRow(points []rssPoint) row {
	var parts []string
	worst := int64(0)
	for _, p := range points {
		worst = max(worst, p.above)
		parts = append(parts, fmt.Sprintf("%s: +%s (idle %.0f MiB, pipeline %s)", human(p.size), mib(p.above), float64(p.idle)/(1<<20), secs(p.took)))
	}
	first, last := points[0], points[len(points)-1]
	flat := last.above-first.above <= 16<<20
	return row{ID: "P3", What: "worker peak RSS above idle, whole pipeline on MLflow",
		Ours:      "max +" + mib(worst),
		Baselines: strings.Join(parts, "; "),
		Ratio:     fmt.Sprintf("largest/smallest size: %.1f× bytes, %+.1f MiB RSS", float64(last.size)/float64(first.size), float64(last.above-first.above)/(1<<20)),
		Target:    "≤ 64 MiB and flat",
		Met:       worst <= 64<<20 && flat,
		Figs: map[string]string{"small_size": human(first.size), "small_above": "+" + mib(first.above),
			"large_size": human(last.size), "large_above": "+" + mib(last.above), "max_above": "+" + mib(worst)},
	}
}

func latencyRow(n int, ours, floor []time.Duration) row {
	o50, o95, f50, f95 := median(ours), percentile(ours, 0.95), median(floor), percentile(floor, 0.95)
	r50, r95 := o50.Seconds()/f50.Seconds(), o95.Seconds()/f95.Seconds()
	return row{ID: "P4", What: fmt.Sprintf("tiny lifecycle latency, embedded store (%d runs)", n),
		Ours:      fmt.Sprintf("p50 %s, p95 %s", secs(o50), secs(o95)),
		Baselines: fmt.Sprintf("floor (%d no-op activities) p50 %s, p95 %s", floorActivities, secs(f50), secs(f95)),
		Ratio:     fmt.Sprintf("p50 %s floor, p95 %s floor", ratioX(r50), ratioX(r95)),
		Target:    "p50 ≤ 1.3× floor",
		Met:       r50 <= 1.3,
		Figs: map[string]string{"ours_p50": secs(o50), "ours_p95": secs(o95), "floor_p50": secs(f50), "floor_p95": secs(f95),
			"p50_ratio": ratioX(r50), "p95_ratio": ratioX(r95)},
	}
}

func logRegisterRow(n int, o, p time.Duration, perRun *requestCount) row {
	ratio := p.Seconds() / o.Seconds()
	x := row{ID: "P5", What: fmt.Sprintf("save+log+register tiny model in process (median of %d)", n),
		Ours:      secs(o),
		Baselines: "Python pyfunc.log_model(registered_model_name=…) " + secs(p),
		Ratio:     fmt.Sprintf("%s Python's speed", ratioX(ratio)),
		Target:    "≥ 3× faster",
		Met:       ratio >= 3,
		Figs:      map[string]string{"ours": secs(o), "py": secs(p), "ratio": ratioX(ratio)},
	}
	if perRun != nil && perRun.perPipeline() > 0 {
		x.Figs["requests"] = fmt.Sprintf("%.1f", perRun.perPipeline())
		x.Figs["paths"] = perRun.list(true)
		// The fewest requests MLflow's protocol allows for a save + log +
		// register: the run, the logged model, one PUT per file, the
		// finalize, the registered model and the version. At this run's
		// time per request that many take minTime.
		files := float64(perRun.byPath["PUT mlflow-artifacts/artifacts/…"]) / float64(perRun.n)
		perReq := o.Seconds() / perRun.perPipeline()
		minReqs := 5 + files
		minTime := time.Duration(minReqs * perReq * float64(time.Second))
		x.Figs["per_request"] = fmt.Sprintf("%.1f ms", perReq*1000)
		x.Figs["min_requests"] = fmt.Sprintf("%.0f", minReqs)
		x.Figs["min_time"] = secs(minTime)
		x.Figs["bound_ratio"] = ratioX(p.Seconds() / minTime.Seconds())
		x.Notes = fmt.Sprintf("flavorflow made %.1f MLflow requests per save+log+register.", perRun.perPipeline())
	}
	return x
}

// concurrentResult is one side of P6.
type concurrentResult struct {
	wall     time.Duration
	failed   int
	cpu      map[string]float64 // CPU-seconds by process group
	duplicat int
	// syscalls are the workers' fsync-family calls (nil without perf).
	syscalls map[string]int
	// hist and keeper sum the histories of sample pipelines and their
	// alias keepers (floor: of sample floor workflows).
	sample       int
	hist, keeper histCount
}

func concurrentRow(n, workers int, where string, ours, floor concurrentResult) row {
	ot, ft := float64(n)/ours.wall.Seconds(), float64(n)/floor.wall.Seconds()
	cpuOurs := ours.cpu["worker"] + ours.cpu["temporal dev server"] + ours.cpu["mlflow server"]
	cpuFloor := floor.cpu["floor worker"] + floor.cpu["temporal dev server"]
	x := row{ID: "P6", What: fmt.Sprintf("%d concurrent pipelines, %s, %d worker process(es)", n, where, workers),
		Ours:      fmt.Sprintf("%.1f pipelines/s (%s), %d failed, %d duplicate versions", ot, secs(ours.wall), ours.failed, ours.duplicat),
		Baselines: fmt.Sprintf("floor %.1f workflows/s (%s), %d failed", ft, secs(floor.wall), floor.failed),
		Ratio:     fmt.Sprintf("%s floor throughput", ratioX(ot/ft)),
		Target:    "≥ 0.8× floor, 0 duplicates, 0 failures",
		Met:       ot/ft >= 0.8 && ours.duplicat == 0 && ours.failed == 0,
		Notes:     fmt.Sprintf("CPU during the pipelines: %s; during the floor: %s", cpuString(ours.cpu), cpuString(floor.cpu)),
		Figs: map[string]string{"concurrent": fmt.Sprint(n), "workers": fmt.Sprint(workers), "where": where,
			"ours_rate": fmt.Sprintf("%.1f pipelines/s", ot), "floor_rate": fmt.Sprintf("%.1f workflows/s", ft), "ratio": ratioX(ot / ft),
			"cpu_per_pipeline": cpuS(cpuOurs / float64(n)), "cpu_per_floor": cpuS(cpuFloor / float64(n)),
			"worker_cpu": cpuS(ours.cpu["worker"]), "dev_cpu": cpuS(ours.cpu["temporal dev server"]),
			"floor_worker_cpu": cpuS(floor.cpu["floor worker"]), "floor_dev_cpu": cpuS(floor.cpu["temporal dev server"])},
	}
	if v, ok := ours.cpu["mlflow server"]; ok {
		x.Figs["mlflow_cpu"] = cpuS(v)
	}
	// The bound CPU sets on a saturated machine: the floor's CPU per
	// workflow against the floor's plus the work of the pipeline's own
	// processes above the floor's worker (the worker's store work, the
	// MLflow server), as if the dev server did no more for a pipeline than
	// for a floor workflow.
	if cpuFloor > 0 {
		own := ours.cpu["worker"] + ours.cpu["mlflow server"] - floor.cpu["floor worker"]
		x.Figs["own_cpu_above_floor"] = cpuS(own / float64(n))
		x.Figs["dev_cpu_above_floor"] = cpuS((ours.cpu["temporal dev server"] - floor.cpu["temporal dev server"]) / float64(n))
		x.Figs["bound_same_dev"] = ratioX(cpuFloor / (cpuFloor + max(own, 0)))
		x.Figs["cpu_ratio"] = ratioX(cpuFloor / cpuOurs)
	}
	if ours.sample > 0 {
		x.Figs["history"] = ours.hist.per(ours.sample)
		x.Figs["keeper_history"] = ours.keeper.per(ours.sample)
		x.Figs["floor_history"] = floor.hist.per(ours.sample)
		x.Figs["events_per_pipeline"] = fmt.Sprint(float64(ours.hist.events+ours.keeper.events) / float64(ours.sample))
		x.Figs["events_per_floor"] = fmt.Sprint(float64(floor.hist.events) / float64(ours.sample))
		x.Figs["wft_per_pipeline"] = fmt.Sprint(float64(ours.hist.wfTasks+ours.keeper.wfTasks) / float64(ours.sample))
		x.Figs["wft_per_floor"] = fmt.Sprint(float64(floor.hist.wfTasks) / float64(ours.sample))
		x.Notes += fmt.Sprintf("; per pipeline (histories of %d): %s; its alias keeper: %s; per floor workflow: %s",
			ours.sample, x.Figs["history"], x.Figs["keeper_history"], x.Figs["floor_history"])
		x.Figs["pipeline_time"] = ours.hist.spentString(ours.sample)
		x.Figs["floor_time"] = floor.hist.spentString(ours.sample)
		x.Notes += fmt.Sprintf("; time per pipeline from scheduled to completed (activities by type, queued = scheduled to started): %s; per floor workflow: %s",
			x.Figs["pipeline_time"], x.Figs["floor_time"])
	}
	if ours.syscalls != nil {
		x.Figs["syscalls"] = syscallString(ours.syscalls, n)
		x.Notes += "; worker system calls per pipeline: " + x.Figs["syscalls"]
	}
	return x
}

func cpuS(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.0f CPU-ms", s*1000)
	}
	return fmt.Sprintf("%.1f CPU-s", s)
}

// cpuString lists CPU-seconds by group in a fixed order.
func cpuString(cpu map[string]float64) string {
	var parts []string
	for _, k := range []string{"worker", "floor worker", "temporal dev server", "mlflow server", "python processes"} {
		if v, ok := cpu[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f s", k, v))
		}
	}
	return strings.Join(parts, ", ")
}
