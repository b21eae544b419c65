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

// cpuMeter measures CPU seconds spent by groups of processes over an
// interval. Each group's members are listed again at the end (a server may
// have forked workers since); a member that exited and was reaped by
// another member is in that member's cutime.
type cpuMeter struct {
	groups map[string]func() []int
	start  map[string]map[int]float64
}

func newCPUMeter(groups map[string]func() []int) *cpuMeter {
	m := &cpuMeter{groups: groups, start: map[string]map[int]float64{}}
	for k, list := range groups {
		m.start[k] = map[int]float64{}
		for _, p := range list() {
			m.start[k][p] = cpuSeconds(p)
		}
	}
	return m
}

// fixed is a group whose members are known.
func fixed(pids []int) func() []int { return func() []int { return pids } }

// Seconds is the CPU seconds of each group since newCPUMeter.
func (m *cpuMeter) Seconds() map[string]float64 {
	out := map[string]float64{}
	for k, list := range m.groups {
		t := 0.0
		for _, p := range list() {
			t += cpuSeconds(p) - m.start[k][p]
		}
		out[k] = t
	}
	return out
}
