package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flavorflow/flavorflow/workflows"
)

// What one P6 pipeline costs the dev server, read back from the histories
// after the run: the server's work follows the events it persists, the
// workflow tasks it dispatches and the visibility records it writes
// (search-attribute and memo upserts, starts and closes).

// histCount is what a sample of histories holds, summed.
type histCount struct {
	workflows  int // histories read
	events     int
	wfTasks    int // workflow tasks completed
	activities int // activities scheduled
	local      int // local-activity markers
	upserts    int // search-attribute upserts
	memos      int // memo upserts (workflow properties modified)
	updates    int // updates accepted
	// spent is the time from scheduling to completion by activity type
	// (local activities: "local"; workflow tasks: "workflow task"), summed.
	spent map[string]time.Duration
}

func (h *histCount) add(o histCount) {
	h.workflows += o.workflows
	h.events += o.events
	h.wfTasks += o.wfTasks
	h.activities += o.activities
	h.local += o.local
	h.upserts += o.upserts
	h.memos += o.memos
	h.updates += o.updates
	for k, v := range o.spent {
		if h.spent == nil {
			h.spent = map[string]time.Duration{}
		}
		h.spent[k] += v
	}
}

// spentString lists the mean time per workflow spent in each kind of task,
// the longest first.
func (h histCount) spentString(n int) string {
	var keys []string
	for k := range h.spent {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return h.spent[keys[i]] > h.spent[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", k, (h.spent[k]/time.Duration(max(n, 1))).Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// perWorkflow formats the sums per one of n workflows.
func (h histCount) per(n int) string {
	f := func(v int) string { return strconv.FormatFloat(float64(v)/float64(max(n, 1)), 'f', -1, 64) }
	return fmt.Sprintf("%s events, %s workflow tasks, %s activities, %s local activities, %s search-attribute upserts, %s memo upserts, %s updates",
		f(h.events), f(h.wfTasks), f(h.activities), f(h.local), f(h.upserts), f(h.memos), f(h.updates))
}

func (e *env) countHistory(ctx context.Context, id string) (histCount, error) {
	h := histCount{workflows: 1, spent: map[string]time.Duration{}}
	it := e.pl.tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	type sched struct {
		name string
		at   time.Time
	}
	scheduled := map[int64]sched{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return h, fmt.Errorf("history of %s: %w", id, err)
		}
		h.events++
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			scheduled[ev.GetEventId()] = sched{"workflow task", at}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if s, ok := scheduled[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				h.spent[s.name] += at.Sub(s.at)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if s, ok := scheduled[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()]; ok {
				h.spent["activity queued"] += at.Sub(s.at)
			}
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			h.wfTasks++
			if s, ok := scheduled[ev.GetWorkflowTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				h.spent[s.name] += at.Sub(s.at)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			h.activities++
			scheduled[ev.GetEventId()] = sched{ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), at}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
				h.local++
			}

		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			h.upserts++
		case enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
			h.memos++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			h.updates++
		}
	}
	return h, nil
}

// historyFigures reads the histories of the first sample pipelines of a
// P6 run (prefix-0 …), their alias keepers and as many floor workflows.
func (e *env) historyFigures(ctx context.Context, queue, prefix string, sample int) (pipe, keeper, floor histCount, err error) {
	for i := 0; i < sample; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		var h histCount
		if h, err = e.countHistory(ctx, "bench-"+name); err != nil {
			return
		}
		pipe.add(h)
		if h, err = e.countHistory(ctx, workflows.AliasKeeperID(queue, name, "champion")); err != nil {
			return
		}
		keeper.add(h)
		if h, err = e.countHistory(ctx, "floor-"+name); err != nil {
			return
		}
		floor.add(h)
	}
	return
}

// syscallCounter counts the fsync-family system calls of processes while it
// runs (perf stat on the syscall tracepoints; needs perf and the
// permission to trace). A zero counter when perf is unavailable.
type syscallCounter struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

var countedSyscalls = []string{"fsync", "fdatasync", "sync_file_range", "syncfs", "rename", "renameat", "renameat2", "mkdirat", "openat"}

func startSyscallCounter(pids []int) *syscallCounter {
	if _, err := exec.LookPath("perf"); err != nil || len(pids) == 0 {
		return nil
	}
	var events, ps []string
	for _, s := range countedSyscalls {
		events = append(events, "syscalls:sys_enter_"+s)
	}
	for _, p := range pids {
		ps = append(ps, strconv.Itoa(p))
	}
	c := &syscallCounter{}
	c.cmd = exec.Command("perf", "stat", "-x", ",", "-e", strings.Join(events, ","), "-p", strings.Join(ps, ","))
	c.cmd.Stderr = &c.out
	if err := c.cmd.Start(); err != nil {
		return nil
	}
	return c
}

// stop ends the count and returns calls by name.
func (c *syscallCounter) stop() map[string]int {
	if c == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	_ = c.cmd.Wait()
	out := map[string]int{}
	for _, line := range strings.Split(c.out.String(), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		out[strings.TrimPrefix(f[2], "syscalls:sys_enter_")] += n
	}
	return out
}

// syscallString lists calls per pipeline, the largest first.
func syscallString(calls map[string]int, n int) string {
	var keys []string
	for k, v := range calls {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return calls[keys[i]] > calls[keys[j]] || calls[keys[i]] == calls[keys[j]] && keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(calls[k])/float64(max(n, 1))))
	}
	return strings.Join(parts, ", ")
}

// signalAll sends sig to pids (the profiling window of -cpuprofile).
func signalAll(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil {
			fmt.Fprintln(os.Stderr, "signal worker:", err)
		}
	}
}
