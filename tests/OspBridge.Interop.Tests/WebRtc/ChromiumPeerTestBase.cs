using OspBridge.Testing.Logging;
using OspBridge.WebRtc;
using Xunit.Abstractions;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>
/// What the tests of Chromium against our <see cref="RTCPeerConnection"/> share: the step timeout, our side's log
/// (time-stamped lines, written into the test log with <see cref="DumpLog"/>) and the peer-connection options that
/// open our sockets inside the harness's host 1 and log there.
/// </summary>
public abstract class ChromiumPeerTestBase(ITestOutputHelper output)
{
    /// <summary>How long one step (signalling, a channel opening, a reply) may take.</summary>
    protected static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    /// <summary>The test's log.</summary>
    protected ITestOutputHelper Output { get; } = output;

    /// <summary>Our side's log lines ("HH:mm:ss.fff line"); lock it to read.</summary>
    protected List<string> Log { get; } = [];

    /// <summary>A logger into <see cref="Log"/>, each line time-stamped, after <paramref name="prefix"/>.</summary>
    protected LineLogger Logger(string prefix = "") => new(s => { lock (Log) Log.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {s}"); }, prefix);

    /// <summary>Our peer connection's sockets inside the harness's host 1, its log into <see cref="Log"/>.</summary>
    private protected RTCPeerConnectionOptions Options(ChromiumHarness h) => new()
    {
        SocketFactory = h.OurSockets,
        Logger = Logger(),
    };

    /// <summary>Writes the last <paramref name="lines"/> lines of <see cref="Log"/> into the test log.</summary>
    protected void DumpLog(int lines)
    {
        lock (Log) foreach (var l in Log.TakeLast(lines)) Output.WriteLine(l);
    }
}
