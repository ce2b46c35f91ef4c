using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Concentus;
using OspBridge.Bridge.Camera;
using OspBridge.Bridge.Commands;
using OspBridge.Media.Formats;
using OspBridge.Media.Sinks;
using OspBridge.Media.Sources;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;
using Xunit.Abstractions;

namespace OspBridge.Bridge.Tests.Camera;

/// <summary>
/// Talk-back end to end over real WebRTC on 127.0.0.1, in process: a controller shaped like <c>view --talk test</c>
/// (recvonly video + recvonly audio + sendonly talk-back audio fed from MediaSource <c>test:audio</c>, a 660 Hz tone)
/// → the agent's <see cref="CameraService"/> with <c>--talk-sink x.ogg</c>: the file holds ≥ 3 s of Opus that
/// Concentus decodes with the tone's frequency, and the agent prints its stable per-session line. A WHIP-shaped offer
/// (send-only audio, nothing to receive) is answered recvonly and never starts the camera.
/// </summary>
public sealed partial class TalkBackTests(ITestOutputHelper output) : IDisposable
{
    private const int ToneHz = 660;
    private static readonly RTCConfiguration Loopback = new() { LocalAddresses = [IPAddress.Loopback] };
    private readonly string _dir = Directory.CreateTempSubdirectory("ospb-talk-").FullName;
    private readonly List<string> _log = [];
    private readonly List<string> _lines = [];

    public void Dispose()
    {
        lock (_log) foreach (var l in _log.TakeLast(80)) output.WriteLine(l);
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    [GeneratedRegex(@"^talk-back from (\S+): (\d+) packets, (\d+\.\d) s audio$")]
    private static partial Regex TalkLine();

    private LineLogger Logger(string prefix) => new(s => { lock (_log) _log.Add(s); }, prefix);

    private CameraService Camera(string? sink) => new("test", null, Logger("cam "), null, maxViewers: 4, talkSink: sink,
        output: l => { lock (_lines) _lines.Add(l); });

    private static async Task<(RTCPeerConnection Device, CameraMedia Media)> AnswerAsync(CameraService camera, RTCPeerConnection controller, RTCPeerConnectionOptions options)
    {
        await controller.SetLocalDescriptionAsync(await controller.CreateOfferAsync());
        await controller.WaitForGatheringCompleteAsync();
        var device = new RTCPeerConnection(Loopback, options);
        await device.SetRemoteDescriptionAsync(controller.LocalDescription!);
        var media = await camera.AttachAsync(device, "controller-1", controller.LocalDescription!.Sdp, CancellationToken.None);
        await device.SetLocalDescriptionAsync(await device.CreateAnswerAsync());
        await device.WaitForGatheringCompleteAsync();
        await controller.SetRemoteDescriptionAsync(device.LocalDescription!);
        return (device, media);
    }

    private async Task<Match> WaitForTalkLineAsync(RTCPeerConnection device)
    {
        for (int i = 0; i < 200; i++)
        {
            lock (_lines)
            {
                var m = _lines.Select(l => TalkLine().Match(l)).FirstOrDefault(m => m.Success);
                if (m is not null) return m;
            }
            if (i == 100) await device.DisposeAsync(); // the controller's close_notify should have ended it by now; the agent closes on session end too
            await Task.Delay(50);
        }
        lock (_lines) Assert.Fail("no talk-back line; agent printed:\n" + string.Join('\n', _lines));
        return null!;
    }

    /// <summary>
    /// Waits (at most 10 s) until the controller's sender has put every written talk-back frame on the wire and the
    /// device's receiver has accepted as many, instead of a fixed sleep (a loaded machine once lost the last 14 of 230
    /// packets to the controller's close). Returns both counters for the test output; the assertions judge them.
    /// </summary>
    private static async Task<string> WaitForDeliveryAsync(RTCRtpTransceiver sender, RTCRtpTransceiver receiver, long written)
    {
        long onWire = 0, accepted = 0;
        for (int i = 0; i < 100; i++)
        {
            onWire = (await sender.GetStatsAsync()).Stats.PacketsSent;
            accepted = (await receiver.GetStatsAsync()).Stats.PacketsReceived;
            if (onWire >= written && accepted >= onWire) break;
            await Task.Delay(100);
        }
        return $"controller put {onWire} on the wire, device accepted {accepted}";
    }

    [Fact]
    public async Task View_shaped_offer_with_talk_test_reaches_talk_sink_as_decodable_tone()
    {
        Assert.Null(WebRtcCommand.WhyNoFfmpeg());
        string ogg = Path.Combine(_dir, "talk.ogg");
        await using var camera = Camera(ogg);
        await using var controller = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("ctl ") });
        var video = await controller.AddTransceiverAsync(MediaKind.Video, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        var talk = await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        var (device, media) = await AnswerAsync(camera, controller, new RTCPeerConnectionOptions { Logger = Logger("dev ") });
        await using var deviceOwner = device;
        Assert.NotNull(media.Video);
        Assert.NotNull(media.Audio);
        Assert.Single(media.TalkBack);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, talk.CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, media.TalkBack[0].Transceiver.CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, media.Video!.Transceiver.CurrentDirection);

        await using var tone = MediaSource.Create("test:audio", new MediaSourceOptions { TestToneHz = ToneHz });
        long sent = 0;
        tone.FrameReceived = f =>
        {
            if (f.Codec == MediaCodec.Opus && talk.Sender.WriteFrame(f)) Interlocked.Increment(ref sent);
        };
        await tone.StartAsync(CancellationToken.None);
        // watch the camera while talking: ≥ 4.5 s of talk-back sent (real time), with video arriving
        long videoFrames = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var reader = Task.Run(async () =>
        {
            await foreach (var f in video.Receiver.ReadAllAsync(cts.Token)) Interlocked.Increment(ref videoFrames);
        });
        while (Interlocked.Read(ref sent) < 230 && !cts.IsCancellationRequested) await Task.Delay(100);
        await tone.StopAsync(CancellationToken.None);
        string flushed = await WaitForDeliveryAsync(talk, media.TalkBack[0].Transceiver, sent);
        await Task.Delay(300); // the playout delay
        await controller.DisposeAsync();
        var line = await WaitForTalkLineAsync(device);
        await cts.CancelAsync();
        try { await reader; } catch (OperationCanceledException) { }
        output.WriteLine($"sent {sent} talk-back packets; {flushed}; {line.Value}; video frames received {videoFrames}");
        Assert.Equal("controller-1", line.Groups[1].Value);
        long packets = long.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture);
        double seconds = double.Parse(line.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.InRange(packets, sent * 95 / 100, sent);
        Assert.True(seconds >= 4.4, line.Value);
        Assert.True(videoFrames > 60, $"the viewer got only {videoFrames} video frames while talking");

        var (pcm, channels) = OpusFile.Decode(ogg);
        output.WriteLine($"{ogg}: {pcm.Length / channels} samples/channel, {channels} channels");
        Assert.True(pcm.Length / channels >= 48000 * 3, $"only {pcm.Length / channels / 48000.0:0.00} s of audio in the sink");
        var mono = OpusFile.FirstChannel(pcm, channels).Skip(24000).Take(48000 * 2).ToArray();
        double rms = Math.Sqrt(mono.Sum(x => x * x) / mono.Length);
        Assert.True(rms > 300, $"decoded talk-back is near silence (rms {rms:F0})");
        int hz = OspBridge.Testing.Audio.ToneAnalysis.StrongestTone(mono.AsSpan(0, 48000));
        output.WriteLine($"rms {rms:F0}, strongest tone {hz} Hz");
        Assert.InRange(hz, ToneHz - 5, ToneHz + 5);
    }

    [Fact]
    public async Task Whip_shaped_send_only_audio_offer_is_answered_recvonly_without_starting_the_camera()
    {
        Assert.Null(WebRtcCommand.WhyNoFfmpeg());
        await using var camera = Camera(null);
        await using var controller = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("whip ") });
        var talk = await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        var (device, media) = await AnswerAsync(camera, controller, new RTCPeerConnectionOptions { Logger = Logger("dev ") });
        await using var deviceOwner = device;
        Assert.Null(media.Video);
        Assert.Null(media.Audio);
        Assert.Single(media.TalkBack);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, talk.CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, media.TalkBack[0].Transceiver.CurrentDirection);
        Assert.Equal(1, camera.Viewers);

        await using var tone = MediaSource.Create("test:audio", new MediaSourceOptions { TestToneHz = ToneHz });
        long sent = 0;
        tone.FrameReceived = f =>
        {
            if (f.Codec == MediaCodec.Opus && talk.Sender.WriteFrame(f)) Interlocked.Increment(ref sent);
        };
        await tone.StartAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (Interlocked.Read(ref sent) < 100 && !cts.IsCancellationRequested) await Task.Delay(100);
        await tone.StopAsync(CancellationToken.None);
        string flushed = await WaitForDeliveryAsync(talk, media.TalkBack[0].Transceiver, sent);
        await Task.Delay(300);
        await controller.DisposeAsync();
        var line = await WaitForTalkLineAsync(device);
        output.WriteLine($"sent {sent}; {flushed}; {line.Value}");
        Assert.InRange(long.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture), sent * 95 / 100, sent);
        Assert.Equal(0, camera.Hub.SourceStarts);
        Assert.Equal(0, camera.Hub.SinkCount);
        for (int i = 0; i < 100 && camera.Viewers > 0; i++) await Task.Delay(50);
        Assert.Equal(0, camera.Viewers);
    }

    [Fact]
    public async Task Second_concurrent_talker_is_counted_but_does_not_take_the_file()
    {
        string ogg = Path.Combine(_dir, "busy.ogg");
        await using var sink = AudioSink.Create(ogg);
        await using var first = await sink.TryOpenAsync(2, CancellationToken.None);
        Assert.NotNull(first);
        Assert.Null(await sink.TryOpenAsync(2, CancellationToken.None));
        await first!.DisposeAsync();
        await using var again = await sink.TryOpenAsync(1, CancellationToken.None);
        Assert.NotNull(again);
    }
}

/// <summary>Decodes Ogg Opus files with Concentus and finds tones (Goertzel).</summary>
internal static class OpusFile
{
    public static (short[] Pcm, int Channels) Decode(string path)
    {
        var reader = new OggOpusReader();
        byte[] data = File.ReadAllBytes(path);
        var packets = new List<byte[]>();
        int at = 0;
        while (at < data.Length)
        {
            at += reader.Write(data.AsSpan(at));
            while (reader.TryRead(out var p, out _)) packets.Add(p.ToArray());
        }
        while (reader.TryRead(out var p, out _)) packets.Add(p.ToArray());
        int channels = Math.Max(1, reader.Channels);
        var decoder = OpusCodecFactory.CreateDecoder(48000, channels);
        var pcm = new List<short>();
        var frame = new short[5760 * channels];
        foreach (var p in packets)
        {
            int n = decoder.Decode(p, frame, 5760, false);
            pcm.AddRange(frame.AsSpan(0, n * channels));
        }
        return ([.. pcm], channels);
    }

    public static IEnumerable<double> FirstChannel(short[] pcm, int channels)
    {
        for (int i = 0; i < pcm.Length; i += channels) yield return pcm[i];
    }
}
