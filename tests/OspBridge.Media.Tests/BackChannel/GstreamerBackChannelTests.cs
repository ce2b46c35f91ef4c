using OspBridge.Media.BackChannel;
using OspBridge.Media.Rtsp;
using OspBridge.Media.Sources;
using OspBridge.Media.Tests.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.BackChannel;

/// <summary>
/// The ONVIF back channel against GStreamer's RTSPOnvifServer (interop/rtsp/rtsp_server.py --backchannel, on
/// 127.0.0.1): our client asks with the Require tag, SETs UP the a=sendonly PCMU/PCMA section over TCP-interleaved or UDP,
/// and 4 s of talk-back Opus (a 660 Hz tone, paced in real time) reach the server's depayloader and decoder: the
/// file it writes holds ≥ 3 s of 8 kHz audio whose strongest tone is the one sent.
/// </summary>
public class GstreamerBackChannelTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const int ToneHz = 660;
    private readonly string _dir = Directory.CreateTempSubdirectory("ospb-onvif-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    [Theory]
    [InlineData("tcp", "PCMU")]
    [InlineData("udp", "PCMU")]
    [InlineData("tcp", "PCMA")]
    public async Task Talk_back_tone_reaches_the_gstreamer_onvif_back_channel(string transport, string codec)
    {
        string raw = Path.Combine(_dir, "back.raw");
        int port = Tools.FreeTcpPort();
        await using var server = await RtspStandIn.StartAsync(port, backchannel: raw, backchannelCodec: codec);
        var logs = new List<string>();
        await using var source = (RtspSource)MediaSource.Create(server.Url + "?transport=" + transport, new MediaSourceOptions { LoggerFactory = Tools.Logs(logs) });
        long videoFrames = 0;
        source.FrameReceived = f => { if (f.Codec == MediaCodec.H264) Interlocked.Increment(ref videoFrames); };
        await source.StartAsync(CancellationToken.None);
        try
        {
            await using var session = await source.TalkBackSink!.TryOpenAsync(2, CancellationToken.None);
            Assert.True(session is not null, "no back-channel session; log:\n" + string.Join('\n', logs));
            for (int i = 0; i < 600 && source.BackChannel is null; i++) await Task.Delay(50);
            Assert.True(source.BackChannel is not null, "the back channel never played; log:\n" + string.Join('\n', logs));
            Assert.Equal(transport == "udp" ? RtspTransport.Udp : RtspTransport.Tcp, source.BackChannel!.Transport);
            Assert.Equal(codec == "PCMU" ? MediaCodec.Pcmu : MediaCodec.Pcma, source.BackChannel.Codec);

            // 4 s of 20 ms packets, paced like the agent's playout
            var packets = RtspBackChannelTests.OpusTone(ToneHz, 200);
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            foreach (var p in packets)
            {
                await timer.WaitForNextTickAsync();
                await session!.WriteAsync(p, CancellationToken.None);
            }
            var last = ((RtspBackChannelSink)source.TalkBackSink!).Last!;
            output.WriteLine($"{transport}/{codec}: {last.RtpPacketsSent} RTP sent, {last.RtpPacketsDropped} dropped; {videoFrames} video frames received meanwhile");
            Assert.Equal(200, last.RtpPacketsSent);

            // the server writes as it decodes: wait (bounded) for ≥ 3 s of samples
            long want = 8000 * 3 * 2;
            for (int i = 0; i < 200 && (!File.Exists(raw) || new FileInfo(raw).Length < want); i++) await Task.Delay(50);
        }
        finally
        {
            await source.StopAsync(CancellationToken.None);
        }
        Assert.True(File.Exists(raw), "the server wrote no back-channel file; log:\n" + string.Join('\n', logs));
        byte[] bytes = await File.ReadAllBytesAsync(raw);
        var pcm = new short[bytes.Length / 2];
        Buffer.BlockCopy(bytes, 0, pcm, 0, pcm.Length * 2);
        output.WriteLine($"{raw}: {pcm.Length / 8000.0:0.00} s at 8 kHz");
        Assert.True(pcm.Length >= 8000 * 3, $"only {pcm.Length / 8000.0:0.00} s of back-channel audio decoded by the server");
        var steady = RtspBackChannelTests.To48k(pcm.Skip(4000).Take(8000));
        double rms = Math.Sqrt(steady.Sum(x => x * x) / steady.Length);
        int hz = Testing.Audio.ToneAnalysis.StrongestTone(steady);
        output.WriteLine($"rms {rms:F0}, strongest tone {hz} Hz");
        Assert.True(rms > 2000, $"the server decoded near silence (rms {rms:F0})");
        Assert.InRange(hz, ToneHz - 10, ToneHz + 10);
    }
}
