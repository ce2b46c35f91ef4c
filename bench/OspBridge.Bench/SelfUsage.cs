using System.Runtime.InteropServices;

namespace OspBridge.Bench;

/// <summary>
/// This process's CPU time and context switches (all threads, also those that exited) from <c>getrusage(RUSAGE_SELF)</c>:
/// the WebRTC benches print the difference over one timed phase (issue 14: where the thread hand-offs go).
/// </summary>
internal readonly record struct SelfUsage(double CpuSeconds, long VoluntarySwitches, long InvoluntarySwitches)
{
    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NvCsw, NivCsw;
    }

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    /// <summary>Now; zeros where getrusage is not available.</summary>
    public static SelfUsage Now()
    {
        if (!OperatingSystem.IsLinux() || GetRUsage(0, out var u) != 0) return default;
        return new SelfUsage(u.UtimeSec + u.StimeSec + (u.UtimeUsec + u.StimeUsec) / 1e6, u.NvCsw, u.NivCsw);
    }

    /// <summary>The figures of a phase of <paramref name="bytes"/> bytes that started at <paramref name="start"/>.</summary>
    public static string Since(SelfUsage start, long bytes)
    {
        var now = Now();
        double gib = bytes / (double)(1L << 30);
        double cpu = now.CpuSeconds - start.CpuSeconds;
        long vol = now.VoluntarySwitches - start.VoluntarySwitches, inv = now.InvoluntarySwitches - start.InvoluntarySwitches;
        return FormattableString.Invariant($"CPU {cpu:F2} s ({cpu / gib:F0} s/GiB), context switches {vol} voluntary + {inv} involuntary ({(vol + inv) / gib / 1000:F0} k/GiB)");
    }
}
