package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The bench machine's cores are shared by the control plane, the manager and the bench itself.
// Sharing them, the manager's own CPU is taken from the API server it is measured against: the
// floor's API server has every core, the converged run's has what the manager leaves. In a
// cluster the operator runs on a worker node and never takes the API server's cores, so by
// default the bench gives the control plane half of the CPUs and every client (the bench's
// creator and watcher, the manager; in the floor, the bench's creator and writer) the other half,
// in both runs alike. -isolate-control-plane=false shares every CPU, as before. Either way the
// bench prints the CPU every process used in convergence and in the floor.

// clockTicks is the unit of /proc/PID/stat's times (USER_HZ): 100 on every Linux architecture Go
// supports (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// CPUUse is the CPU time processes used over a span.
type CPUUse struct {
	// Seconds is the span's wall time.
	Seconds float64 `json:"seconds"`
	// ByProcess is CPU seconds (user + system) per process: kube-apiserver, etcd, manager, bench.
	ByProcess map[string]float64 `json:"byProcess"`
}

// Total is the CPU seconds of every process.
func (u CPUUse) Total() float64 {
	t := 0.0
	for _, s := range u.ByProcess {
		t += s
	}
	return t
}

func (u CPUUse) String() string {
	names := make([]string, 0, len(u.ByProcess))
	for n := range u.ByProcess {
		names = append(names, n)
	}
	// The control plane first, then the clients.
	order := map[string]int{"kube-apiserver": 0, "etcd": 1, "manager": 2, "bench": 3}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f s", n, u.ByProcess[n]))
	}
	cores := 0.0
	if u.Seconds > 0 {
		cores = u.Total() / u.Seconds
	}
	return fmt.Sprintf("%s (%.1f CPU-s in %.1f s: %.2f cores busy)", strings.Join(parts, ", "), u.Total(), u.Seconds, cores)
}

// cpuClock reads the CPU time of the bench's processes.
type cpuClock struct {
	pids map[string]int
}

// cpuTicks is a process's user + system time in clock ticks, all its threads included.
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields are counted after its last ')'.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	// Fields 14 and 15 of stat(5), utime and stime: 12 and 13 after the name and state.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	return utime + stime, nil
}

// sample is the CPU seconds each known process has used so far; a process that is gone counts 0.
func (c cpuClock) sample() map[string]float64 {
	out := map[string]float64{}
	for name, pid := range c.pids {
		if t, err := cpuTicks(pid); err == nil {
			out[name] = float64(t) / clockTicks
		}
	}
	return out
}

// since is the CPU each process used between before and now, over wall seconds.
func (c cpuClock) since(before map[string]float64, seconds float64) CPUUse {
	u := CPUUse{Seconds: seconds, ByProcess: map[string]float64{}}
	for name, now := range c.sample() {
		if d := now - before[name]; d > 0 {
			u.ByProcess[name] = d
		}
	}
	return u
}

// controlPlanePids finds the bench's kube-apiserver and etcd: its children of those names.
func controlPlanePids() (map[string]int, error) {
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	out := map[string]int{}
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // gone since the glob
		}
		s := string(data)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		name := s[open+1 : closing]
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 || (name != "kube-apiserver" && name != "etcd") {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			out[name] = pid
		}
	}
	if out["kube-apiserver"] == 0 || out["etcd"] == 0 {
		return nil, fmt.Errorf("kube-apiserver and etcd not found among the bench's children (found %v)", out)
	}
	return out, nil
}

// isolate gives the control plane's processes the first half of the CPUs the bench may use and
// the bench the other half; the manager, started later by the bench, inherits the bench's. It
// returns the layout in words, and restore, which gives the bench back every CPU it had.
func isolate(controlPlane map[string]int) (layout string, restore func(), err error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return "", nil, fmt.Errorf("reading the bench's CPUs: %w", err)
	}
	var cpus []int
	for i := 0; i < len(allowed)*64; i++ {
		if allowed.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return "", nil, fmt.Errorf("isolating the control plane needs 2 CPUs; the bench may use %d (run with -isolate-control-plane=false)", len(cpus))
	}
	half := len(cpus) / 2
	var planeSet, clientSet unix.CPUSet
	for _, c := range cpus[:half] {
		planeSet.Set(c)
	}
	for _, c := range cpus[half:] {
		clientSet.Set(c)
	}
	for name, pid := range controlPlane {
		if err := pin(pid, &planeSet); err != nil {
			return "", nil, fmt.Errorf("pinning %s: %w", name, err)
		}
	}
	if err := pin(os.Getpid(), &clientSet); err != nil {
		return "", nil, fmt.Errorf("pinning the bench: %w", err)
	}
	restore = func() { _ = pin(os.Getpid(), &allowed) }
	return fmt.Sprintf("isolated: kube-apiserver and etcd on CPU %s; the bench's clients and the manager on CPU %s", cpuList(cpus[:half]), cpuList(cpus[half:])), restore, nil
}

// pin sets the affinity of every thread of pid; threads started later inherit it.
func pin(pid int, set *unix.CPUSet) error {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*", pid))
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("listing the threads of %d: %v", pid, err)
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(filepath.Base(t))
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("thread %d: %w", tid, err)
		}
	}
	return nil
}

func cpuList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// sharedLayout describes the layout without isolation.
func sharedLayout() string {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return "shared: every process on every CPU"
	}
	return fmt.Sprintf("shared: the control plane, the bench and the manager on the same %d CPU(s)", allowed.Count())
}
