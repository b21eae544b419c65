package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// loadSample is the machine's state at one moment: what the header of the
// report compares between the start and the end of a run, so a reader can
// tell whether other work shared the cores with the benchmark.
type loadSample struct {
	at      time.Time
	loadavg string
	// busy and total are the jiffies of all CPUs from /proc/stat.
	busy, total float64
	procs       map[int]procStat
}

type procStat struct {
	comm string
	ppid int
	cpu  float64 // seconds, utime+stime
	// children is cutime+cstime: reaped children, whenever they ran.
	children float64
}

func sampleLoad() loadSample {
	s := loadSample{at: time.Now(), procs: map[int]procStat{}}
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(l))
		s.loadavg = strings.Join(f[:min(3, len(f))], " ")
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:] {
			n, _ := strconv.ParseFloat(v, 64)
			if i >= 8 { // guest time is already in user
				break
			}
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		data, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		if p, ok := parseProcStat(string(data)); ok {
			s.procs[pid] = p
		}
	}
	return s
}

func parseProcStat(s string) (procStat, bool) {
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return procStat{}, false
	}
	f := strings.Fields(s[j+1:])
	if len(f) < 15 {
		return procStat{}, false
	}
	p := procStat{comm: s[i+1 : j]}
	p.ppid, _ = strconv.Atoi(f[1])
	for _, k := range []int{11, 12} {
		n, _ := strconv.ParseFloat(f[k], 64)
		p.cpu += n / clockTicks
	}
	for _, k := range []int{13, 14} {
		n, _ := strconv.ParseFloat(f[k], 64)
		p.children += n / clockTicks
	}
	return p, true
}

// tree is the set of roots and their descendants in s.
func (s loadSample) tree(roots []int) map[int]bool {
	in := map[int]bool{}
	for _, r := range roots {
		in[r] = true
	}
	for changed := true; changed; {
		changed = false
		for pid, p := range s.procs {
			if !in[pid] && in[p.ppid] {
				in[pid], changed = true, true
			}
		}
	}
	return in
}

// loadReport describes the machine's load over the run: load averages at
// both ends and the CPU share of processes that are not the benchmark's
// (not this process, its descendants, or the -own-pids servers started for
// it).
func (r *report) loadReport() string {
	end := sampleLoad()
	start := r.load
	var b strings.Builder
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at the start of the run: %s; at the end: %s\n", start.loadavg, end.loadavg)
	total := end.total - start.total
	if total <= 0 {
		return b.String()
	}
	roots := append([]int{os.Getpid()}, r.ownPIDs...)
	startOurs, endOurs := start.tree(roots), end.tree(roots)
	ours := 0.0
	// With reaped children: the benchmark waits for what it starts.
	for pid := range endOurs {
		ours += end.procs[pid].cpu + end.procs[pid].children
	}
	for pid := range startOurs {
		ours -= start.procs[pid].cpu + start.procs[pid].children
	}
	machine := (end.busy - start.busy) / clockTicks
	others := max(machine-ours, 0)
	wall := total / clockTicks // CPU-seconds available on all cores
	fmt.Fprintf(&b, "- CPU over the run (%d cores): the benchmark's processes %.1f CPU-s, other processes %.1f CPU-s (%.0f %% of the machine)",
		runtime.NumCPU(), ours, others, 100*others/wall)
	type use struct {
		comm string
		cpu  float64
	}
	// Others by command name, their own CPU only (a shell's reaped
	// children may have run before the start).
	byComm := map[string]float64{}
	for pid, p := range end.procs {
		if endOurs[pid] || startOurs[pid] {
			continue
		}
		d := p.cpu
		if q, ok := start.procs[pid]; ok && q.comm == p.comm {
			d -= q.cpu
		}
		if d > 0 {
			byComm[p.comm] += d
		}
	}
	var top []use
	for c, v := range byComm {
		top = append(top, use{c, v})
	}
	sort.Slice(top, func(i, j int) bool {
		return top[i].cpu > top[j].cpu || top[i].cpu == top[j].cpu && top[i].comm < top[j].comm
	})
	var parts []string
	for _, u := range top[:min(4, len(top))] {
		if u.cpu >= 0.1 {
			parts = append(parts, fmt.Sprintf("%s %.1f s", u.comm, u.cpu))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, "; the busiest others: %s", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	return b.String()
}
