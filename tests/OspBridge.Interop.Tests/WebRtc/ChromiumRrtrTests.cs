using OspBridge.WebRtc;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>
/// Does Chromium answer our RTCP XR RRTR (RFC 3611 §4.4) with a DLRR (§4.5)? Chromium sends its fake microphone to our
/// receive-only transceiver; our receiver appends an RRTR to every periodic RR, and the receive side's RTT
/// (<see cref="RtpStreamStats.ReceiveRoundTripTime"/>) is set only when a DLRR for one of them comes back. The answer
/// this test found is written in docs/media.md ("RTCP XR RRTR/DLRR with Chromium").
/// </summary>
[Collection("Chromium WebRTC")]
public class ChromiumRrtrTests(ITestOutputHelper output) : ChromiumPeerTestBase(output)
{
    [Fact]
    public async Task Chromium_sending_audio_answers_our_rrtr_with_dlrr()
    {
        try
        {
            await using var call = await CallFromFakeMicrophoneAsync("rrtr", 30);
            var track = call.Track;

            // drain the audio while waiting (bounded: 20 s) for a DLRR-based RTT; our RR+RRTR goes out about once a second
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var drain = Task.Run(async () =>
            {
                try { await foreach (var _ in track.Transceiver.Receiver.ReadAllAsync(cts.Token)) { } }
                catch (OperationCanceledException) { }
            });
            RtpStreamStats stats = (await track.Transceiver.GetStatsAsync()).Stats;
            while (!cts.IsCancellationRequested && stats.ReceiveRoundTripTime is null)
            {
                await Task.Delay(250);
                stats = (await track.Transceiver.GetStatsAsync()).Stats;
            }
            await cts.CancelAsync();
            await drain;
            Output.WriteLine($"packets received {stats.PacketsReceived}, receive-side RTT (RRTR/DLRR) {stats.ReceiveRoundTripTime?.TotalMilliseconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) ?? "none"} ms");
            Assert.True(stats.PacketsReceived >= 50, $"only {stats.PacketsReceived} RTP packets from Chromium");
            Assert.True(stats.ReceiveRoundTripTime is not null, $"no DLRR answered our RRTRs in 20 s ({stats.PacketsReceived} packets received)");
            Assert.InRange(stats.ReceiveRoundTripTime!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        }
        finally
        {
            DumpLog(60);
        }
    }
}
