using System.Diagnostics;
using OspBridge.Testing.Logging;

namespace OspBridge.PeerFetch.Tests;

/// <summary>
/// Over a real LP2P QUIC transport: a stream that never completes its request head is reset by the device after
/// <see cref="PeerFetchDeviceOptions.RequestHeadTimeout"/> (before: it was held until the connection went away,
/// bounded only by the 100-stream limit).
/// </summary>
public sealed class QuicHeadTimeoutTests
{
    [Fact]
    public async Task A_q2q_stream_without_a_request_head_is_reset_after_the_head_timeout()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var log = new List<string>();
        await using var link = await Link.QuicAsync();
        using var device = new PeerFetchDevice(new HttpClientHandler(), new PeerFetchDeviceOptions { RequestHeadTimeout = TimeSpan.FromSeconds(1), Logger = LineLogger.To(log) });
        var serving = Task.Run(() => device.ServeAsync(link.DeviceStreams!, "peer-1", cts.Token));

        // Three bytes of a nine-byte frame header, then silence (the stream exists on the device once bytes arrive).
        await using var stream = await link.ClientStreams!.OpenStreamAsync(cts.Token);
        await stream.WriteAsync(new byte[] { 0, 0, 1 }, completeWrites: false, cts.Token);
        var started = Stopwatch.StartNew();
        var ex = await Record.ExceptionAsync(async () =>
        {
            var buffer = new byte[16];
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
        });
        var elapsed = started.Elapsed;
        Assert.False(cts.IsCancellationRequested, "the device never reset the silent stream");
        Assert.NotNull(ex); // the device reset the stream (RESET_STREAM / STOP_SENDING), not a clean FIN
        Assert.True(elapsed >= TimeSpan.FromSeconds(0.8) && elapsed < TimeSpan.FromSeconds(15), $"reset after {elapsed}");
        lock (log) Assert.Contains(log, l => l.Contains("no complete request head within 1 s", StringComparison.Ordinal));

        await cts.CancelAsync();
        await serving.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
    }
}
