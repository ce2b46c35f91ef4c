using OspBridge.Bridge.Commands;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Tracks;

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

    /// <summary>A call from Chromium's fake microphone to our receive-only peer (<see cref="CallFromFakeMicrophoneAsync"/>).</summary>
    private protected sealed class FakeMicrophoneCall(ChromiumHarness harness, RTCPeerConnection peer, RTCTrackEvent track, string wav) : IAsyncDisposable
    {
        public ChromiumHarness Harness => harness;

        public RTCPeerConnection Peer => peer;

        /// <summary>Our side's only track: the microphone's audio.</summary>
        public RTCTrackEvent Track => track;

        public async ValueTask DisposeAsync()
        {
            await peer.DisposeAsync();
            await harness.DisposeAsync();
            File.Delete(wav);
        }
    }

    /// <summary>
    /// Chromium in host 0 with a fake microphone playing a 440 Hz WAV of <paramref name="seconds"/> (made with ffmpeg);
    /// its offer (<c>M.offer({ mic: true })</c>) answered by our peer connection in host 1, the answer applied by the page.
    /// The caller disposes the call (peer, browser, WAV).
    /// </summary>
    private protected async Task<FakeMicrophoneCall> CallFromFakeMicrophoneAsync(string tag, int seconds)
    {
        if (WebRtcCommand.WhyNoFfmpeg() is { } why) throw new InvalidOperationException("media interop cannot run: " + why);
        string wav = Path.Combine(Path.GetTempPath(), $"ospbridge-{tag}-{Environment.ProcessId}.wav");
        var gen = Process.Start(new ProcessStartInfo("ffmpeg", $"-hide_banner -loglevel error -y -f lavfi -i sine=frequency=440:sample_rate=48000:duration={seconds} -ac 1 {wav}") { UseShellExecute = false })!;
        await gen.WaitForExitAsync();
        Assert.Equal(0, gen.ExitCode);
        ChromiumHarness? h = null;
        RTCPeerConnection? pc = null;
        try
        {
            h = await ChromiumHarness.StartAsync("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--use-file-for-fake-audio-capture=" + wav);
            await h.Page.EvaluateAsync(ChromiumMediaTests.MediaJs);
            string offer = await h.Page.EvaluateAsync<string>("() => M.offer({ mic: true })");
            pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [h.OurHost.IPv4] }, Options(h));
            var tracks = new List<RTCTrackEvent>();
            pc.OnTrack += e => { lock (tracks) tracks.Add(e); };
            await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer));
            await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync());
            await pc.WaitForGatheringCompleteAsync();
            RTCTrackEvent track;
            lock (tracks) track = Assert.Single(tracks);
            await h.Page.EvaluateAsync("sdp => M.accept(sdp)", pc.LocalDescription!.Sdp);
            return new FakeMicrophoneCall(h, pc, track, wav);
        }
        catch
        {
            if (pc is not null) await pc.DisposeAsync();
            if (h is not null) await h.DisposeAsync();
            File.Delete(wav);
            throw;
        }
    }

    /// <summary>Writes the last <paramref name="lines"/> lines of <see cref="Log"/> into the test log.</summary>
    protected void DumpLog(int lines)
    {
        lock (Log) foreach (var l in Log.TakeLast(lines)) Output.WriteLine(l);
    }
}
