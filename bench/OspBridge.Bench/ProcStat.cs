using System.Globalization;

namespace OspBridge.Bench;

/// <summary>CPU seconds (utime + stime), RSS, peak RSS and threads of another process (a child), from /proc/&lt;pid&gt;.</summary>
internal sealed class ProcStat(int pid)
{
    /// <summary>One sample.</summary>
    public readonly record struct Figures(double CpuSeconds, double RssMiB, double PeakMiB, int Threads)
    {
        public override string ToString() => $"RSS {RssMiB:F1} MiB (peak {PeakMiB:F1}), {Threads} threads, CPU {CpuSeconds:F2} s so far";
    }

    public Figures Sample()
    {
        string[] status = File.ReadAllLines($"/proc/{pid}/status");
        double Field(string key) => double.Parse(status.First(l => l.StartsWith(key, StringComparison.Ordinal))[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        // /proc/<pid>/stat: the fields after the ")" that ends the command name; utime and stime are fields 14 and 15 (clock ticks, 100/s).
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        double ticks = double.Parse(f[11], CultureInfo.InvariantCulture) + double.Parse(f[12], CultureInfo.InvariantCulture);
        return new Figures(ticks / 100.0, Field("VmRSS:") / 1024, Field("VmHWM:") / 1024, (int)Field("Threads:"));
    }
}
