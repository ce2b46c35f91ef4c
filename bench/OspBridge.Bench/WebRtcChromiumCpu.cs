using System.Globalization;

namespace OspBridge.Bench;

/// <summary>
/// CPU time of the Chromium processes this bench started (every descendant of this process: the Playwright driver and
/// the browser's processes), per thread name, from <c>/proc/&lt;pid&gt;/task/&lt;tid&gt;/stat</c> (utime + stime, clock
/// ticks of 10 ms). Issue 14, session 15: which Chromium thread does the work while Chromium sends to us and while it
/// sends to itself, and whether one of them is saturated (≈ 1 CPU s per wall second).
/// </summary>
internal static class WebRtcChromiumCpu
{
    private const double Tick = 0.01;

    /// <summary>A snapshot: (pid, tid) → (process/thread name, CPU seconds).</summary>
    public static Dictionary<(int Pid, int Tid), (string Name, double Cpu, double Sys, long Switches)> Snapshot()
    {
        var result = new Dictionary<(int, int), (string, double, double, long)>();
        if (!OperatingSystem.IsLinux())
        {
            return result;
        }
        var parent = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            if (TryStat(Path.Combine(dir, "stat"), out _, out int ppid, out _, out _)) parent[pid] = ppid;
        }
        int self = Environment.ProcessId;
        foreach (var pid in parent.Keys)
        {
            // Descendant of this process (bounded walk: the tree is shallow).
            int p = pid;
            bool mine = false;
            for (int i = 0; i < 16 && parent.TryGetValue(p, out int pp); i++)
            {
                if (pp == self) { mine = true; break; }
                p = pp;
            }
            if (!mine) continue;
            string comm = TryStat($"/proc/{pid}/stat", out string pcomm, out _, out _, out _) ? pcomm : "?";
            string kind = ProcessKind(pid, comm);
            try
            {
                foreach (var t in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                {
                    if (!int.TryParse(Path.GetFileName(t), out int tid)) continue;
                    if (TryStat(Path.Combine(t, "stat"), out string tcomm, out _, out double cpu, out double sys)) result[(pid, tid)] = (kind + "/" + tcomm, cpu, sys, Switches(Path.Combine(t, "status")));
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return result;
    }

    /// <summary>The same for this process's own threads (process kind "ours").</summary>
    public static Dictionary<(int Pid, int Tid), (string Name, double Cpu, double Sys, long Switches)> SnapshotSelf()
    {
        var result = new Dictionary<(int, int), (string, double, double, long)>();
        if (!OperatingSystem.IsLinux())
        {
            return result;
        }
        int pid = Environment.ProcessId;
        try
        {
            foreach (var t in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                if (!int.TryParse(Path.GetFileName(t), out int tid)) continue;
                if (TryStat(Path.Combine(t, "stat"), out string tcomm, out _, out double cpu, out double sys)) result[(pid, tid)] = ("ours/" + tcomm, cpu, sys, Switches(Path.Combine(t, "status")));
            }
        }
        catch (IOException) { }
        return result;
    }

    private static string ProcessKind(int pid, string comm)
    {
        try
        {
            string cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            int i = cmd.IndexOf("--type=", StringComparison.Ordinal);
            if (i >= 0)
            {
                int end = cmd.IndexOf(' ', i);
                return cmd[(i + 7)..(end < 0 ? cmd.Length : end)];
            }
            return comm;
        }
        catch (IOException) { return comm; }
    }

    private static long Switches(string statusPath)
    {
        try
        {
            foreach (var line in File.ReadLines(statusPath))
            {
                if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)) return long.Parse(line.AsSpan(24).Trim(), CultureInfo.InvariantCulture);
            }
        }
        catch (IOException) { }
        return 0;
    }

    private static bool TryStat(string path, out string comm, out int ppid, out double cpu, out double sys)
    {
        comm = ""; ppid = 0; cpu = 0; sys = 0;
        string s;
        try { s = File.ReadAllText(path); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
        int open = s.IndexOf('('), close = s.LastIndexOf(')');
        if (open < 0 || close < open) return false;
        comm = s[(open + 1)..close];
        var f = s[(close + 2)..].Split(' ');
        // f[0] = state (field 3), f[1] = ppid (4), f[11] = utime (14), f[12] = stime (15)
        if (f.Length < 13) return false;
        ppid = int.Parse(f[1], CultureInfo.InvariantCulture);
        sys = long.Parse(f[12], CultureInfo.InvariantCulture) * Tick;
        cpu = (long.Parse(f[11], CultureInfo.InvariantCulture) * Tick) + sys;
        return true;
    }

    /// <summary>
    /// CPU seconds between two snapshots grouped by "process kind/thread name", the busiest first (threads under 0.05 s
    /// left out), with the total; <paramref name="wall"/> seconds give each group's share of one core.
    /// </summary>
    public static string Diff(Dictionary<(int Pid, int Tid), (string Name, double Cpu, double Sys, long Switches)> a, Dictionary<(int Pid, int Tid), (string Name, double Cpu, double Sys, long Switches)> b, double wall)
    {
        var by = new Dictionary<string, (double Cpu, double Sys, long Sw)>();
        double total = 0;
        foreach (var (k, v) in b)
        {
            bool had = a.TryGetValue(k, out var o);
            double d = v.Cpu - (had ? o.Cpu : 0);
            long sw = v.Switches - (had ? o.Switches : 0);
            if (d <= 0 && sw <= 0) continue;
            total += Math.Max(0, d);
            var g = by.GetValueOrDefault(v.Name);
            by[v.Name] = (g.Cpu + d, g.Sys + v.Sys - (had ? o.Sys : 0), g.Sw + sw);
        }
        string who = b.Keys.FirstOrDefault().Pid == Environment.ProcessId ? "our threads" : "Chromium CPU";
        return FormattableString.Invariant($"{who} {total:F2} s ({total / wall:F2} cores) = ")
            + string.Join(", ", by.Where(x => x.Value.Cpu >= 0.05).OrderByDescending(x => x.Value.Cpu).Take(6)
                .Select(x => FormattableString.Invariant($"{x.Key} {x.Value.Cpu:F2} s ({x.Value.Cpu / wall:P0}, kernel {x.Value.Sys:F2} s, {x.Value.Sw / 1000.0:F1} k sleeps)")));
    }

    /// <summary>Total CPU seconds between two snapshots.</summary>
    public static double Total(Dictionary<(int Pid, int Tid), (string Name, double Cpu, double Sys, long Switches)> a, Dictionary<(int Pid, int Tid), (string Name, double Cpu, double Sys, long Switches)> b)
        => b.Sum(x => Math.Max(0, x.Value.Cpu - (a.TryGetValue(x.Key, out var o) ? o.Cpu : 0)));
}
