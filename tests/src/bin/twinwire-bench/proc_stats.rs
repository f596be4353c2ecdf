//! CPU time and resident memory of a process, read from /proc: CPU seconds do not depend on what
//! else the shared machine is doing, which is why every figure is per CPU-second.

/// User plus system CPU seconds the process has used so far (0 once it is gone).
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name; USER_HZ is 100.
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    ticks as f64 / 100.0
}

/// Resident set size in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU seconds of several named processes, to subtract one reading from a later one.
#[derive(Clone)]
pub struct CpuSnapshot(pub Vec<(String, u32, f64)>);

impl CpuSnapshot {
    pub fn take(procs: &[(String, u32)]) -> CpuSnapshot {
        CpuSnapshot(
            procs
                .iter()
                .map(|(n, p)| (n.clone(), *p, cpu_secs(*p)))
                .collect(),
        )
    }

    /// CPU seconds used per process since `earlier`.
    pub fn since(&self, earlier: &CpuSnapshot) -> Vec<(String, f64)> {
        self.0
            .iter()
            .zip(&earlier.0)
            .map(|((n, _, now), (_, _, then))| (n.clone(), now - then))
            .collect()
    }
}
