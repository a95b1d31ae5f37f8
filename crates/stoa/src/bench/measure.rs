//! What the bench measures with: CPU of a process and its children, percentiles, wall-clock microseconds.

/// CPU seconds (user + system) and resident memory of a process, from /proc.
pub(crate) fn proc_usage(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = 100.0; // USER_HZ on Linux
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse::<f64>().ok()?;
    Some((ticks / hz, rss_kb / 1024.0))
}

pub(crate) fn self_cpu() -> f64 {
    proc_usage(std::process::id()).map_or(0.0, |(cpu, _)| cpu)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A process's CPU seconds and memory with its children's (the server's ffmpeg encoders) added.
pub(crate) fn tree_usage(pid: u32) -> Option<(f64, f64)> {
    let (mut cpu, mut rss) = proc_usage(pid)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid)
            && let Some((c, r)) = proc_usage(child)
        {
            cpu += c;
            rss += r;
        }
    }
    Some((cpu, rss))
}

pub(crate) fn wall_us(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}
