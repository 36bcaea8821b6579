package sandbox

import "github.com/docker/docker/api/types/container"

// CPUPercent is docker stats' CPU %: the container's share of the host's
// CPU time between two samples, times the CPUs online.
func CPUPercent(s *container.StatsResponse) float64 {
	cpu := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	system := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	online := float64(s.CPUStats.OnlineCPUs)
	if online == 0 {
		online = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpu <= 0 || system <= 0 {
		return 0
	}
	return cpu / system * online * 100
}

// MemoryUsed is the memory a container uses without its page cache, as
// docker stats counts it (cgroup v1: total_inactive_file; v2:
// inactive_file).
func MemoryUsed(m container.MemoryStats) float64 {
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := m.Stats[k]; ok && v < m.Usage {
			return float64(m.Usage - v)
		}
	}
	return float64(m.Usage)
}
