package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux the harness targets.
const clockTicks = 100

// cpuSeconds is the user+system CPU time of pid and its reaped children.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
	total := 0.0
	for _, k := range []int{11, 12, 13, 14} {
		if k < len(f) {
			n, _ := strconv.ParseFloat(f[k], 64)
			total += n
		}
	}
	return total / clockTicks
}

// groupPIDs lists the processes of process group pgid (a server and the
// workers it forked).
func groupPIDs(pgid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		data, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, pgrp, ...
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			out = append(out, pid)
		}
	}
	return out
}

// childPIDs lists the direct children of this process whose command line
// contains substr.
func childPIDs(substr string) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(strings.ReplaceAll(string(cmd), "\x00", " "), substr) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// cpuMeter measures CPU seconds spent by a set of processes over an interval.
type cpuMeter struct {
	pids  map[string][]int
	start map[string]float64
}

func newCPUMeter(pids map[string][]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]float64{}}
	for k, ps := range pids {
		for _, p := range ps {
			m.start[k] += cpuSeconds(p)
		}
	}
	return m
}

// String reports the CPU seconds of each group since newCPUMeter.
func (m *cpuMeter) String() string {
	var parts []string
	for _, k := range []string{"worker", "floor worker", "temporal dev server", "mlflow server"} {
		ps, ok := m.pids[k]
		if !ok {
			continue
		}
		now := 0.0
		for _, p := range ps {
			now += cpuSeconds(p)
		}
		parts = append(parts, fmt.Sprintf("%s %.1f s", k, now-m.start[k]))
	}
	return strings.Join(parts, ", ")
}
