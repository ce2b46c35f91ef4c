using System.Globalization;
using Concentus;
using OspBridge.Bridge.Camera;
using OspBridge.Bridge.Commands;
using OspBridge.Media.Formats;
using OspBridge.Media.Sinks;
using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Camera;

/// <summary>
/// Talk-back end to end over real WebRTC on 127.0.0.1, in process: a controller shaped like <c>view --talk test</c>
/// (recvonly video + recvonly audio + sendonly talk-back audio fed from MediaSource <c>test:audio</c>, a 660 Hz tone)
/// → the agent's <see cref="CameraService"/> with <c>--talk-sink x.ogg</c>: the file holds ≥ 3 s of Opus that
/// Concentus decodes with the tone's frequency, and the agent prints its stable per-session line. A WHIP-shaped offer
/// (send-only audio, nothing to receive) is answered recvonly and never starts the camera.
/// </summary>
public sealed class TalkBackTests(ITestOutputHelper output) : TalkBackTestBase(output, "ospb-talk-", 80)
{
    private CameraService Camera(string? sink) => new("test", null, Logger("cam "), null, maxViewers: 4, talkSink: sink,
        output: Rig.Output);

    [Fact]
    public async Task View_shaped_offer_with_talk_test_reaches_talk_sink_as_decodable_tone()
    {
        Assert.Null(WebRtcCommand.WhyNoFfmpeg());
        string ogg = Path.Combine(Rig.Folder, "talk.ogg");
        await using var camera = Camera(ogg);
        await using var controller = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("ctl ") });
        var video = await controller.AddTransceiverAsync(MediaKind.Video, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        var talk = await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        var (device, media) = await TalkBackRig.AnswerAsync(camera, controller, new RTCPeerConnectionOptions { Logger = Logger("dev ") });
        await using var deviceOwner = device;
        Assert.NotNull(media.Video);
        Assert.NotNull(media.Audio);
        AssertOneTalkBackLane(talk, media);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, media.Video!.Transceiver.CurrentDirection);

        // watch the camera while talking: ≥ 4.5 s of talk-back sent (real time), with video arriving
        long videoFrames = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var reader = Task.Run(async () =>
        {
            await foreach (var f in video.Receiver.ReadAllAsync(cts.Token)) Interlocked.Increment(ref videoFrames);
        });
        long sent = await SendToneAsync(talk, 230, cts.Token);
        string flushed = await TalkBackRig.WaitForDeliveryAsync(talk, media.TalkBack[0].Transceiver, sent);
        await Task.Delay(300); // the playout delay
        await controller.DisposeAsync();
        var line = await Rig.WaitForTalkLineAsync(device);
        await cts.CancelAsync();
        try { await reader; } catch (OperationCanceledException) { }
        Output.WriteLine($"sent {sent} talk-back packets; {flushed}; {line.Value}; video frames received {videoFrames}");
        Assert.Equal("controller-1", line.Groups[1].Value);
        long packets = long.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture);
        double seconds = double.Parse(line.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.InRange(packets, sent * 95 / 100, sent);
        Assert.True(seconds >= 4.4, line.Value);
        Assert.True(videoFrames > 60, $"the viewer got only {videoFrames} video frames while talking");

        var (pcm, channels) = OpusFile.Decode(ogg);
        Output.WriteLine($"{ogg}: {pcm.Length / channels} samples/channel, {channels} channels");
        Assert.True(pcm.Length / channels >= 48000 * 3, $"only {pcm.Length / channels / 48000.0:0.00} s of audio in the sink");
        var mono = OpusFile.FirstChannel(pcm, channels).Skip(24000).Take(48000 * 2).ToArray();
        double rms = Math.Sqrt(mono.Sum(x => x * x) / mono.Length);
        Assert.True(rms > 300, $"decoded talk-back is near silence (rms {rms:F0})");
        int hz = OspBridge.Testing.Audio.ToneAnalysis.StrongestTone(mono.AsSpan(0, 48000));
        Output.WriteLine($"rms {rms:F0}, strongest tone {hz} Hz");
        Assert.InRange(hz, ToneHz - 5, ToneHz + 5);
    }

    [Fact]
    public async Task Whip_shaped_send_only_audio_offer_is_answered_recvonly_without_starting_the_camera()
    {
        Assert.Null(WebRtcCommand.WhyNoFfmpeg());
        await using var camera = Camera(null);
        await using var controller = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("whip ") });
        var talk = await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        var (device, media) = await TalkBackRig.AnswerAsync(camera, controller, new RTCPeerConnectionOptions { Logger = Logger("dev ") });
        await using var deviceOwner = device;
        Assert.Null(media.Video);
        Assert.Null(media.Audio);
        AssertOneTalkBackLane(talk, media);
        Assert.Equal(1, camera.Viewers);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        long sent = await SendToneAsync(talk, 100, cts.Token);
        string flushed = await TalkBackRig.WaitForDeliveryAsync(talk, media.TalkBack[0].Transceiver, sent);
        await Task.Delay(300);
        await controller.DisposeAsync();
        var line = await Rig.WaitForTalkLineAsync(device);
        Output.WriteLine($"sent {sent}; {flushed}; {line.Value}");
        Assert.InRange(long.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture), sent * 95 / 100, sent);
        Assert.Equal(0, camera.Hub.SourceStarts);
        Assert.Equal(0, camera.Hub.SinkCount);
        for (int i = 0; i < 100 && camera.Viewers > 0; i++) await Task.Delay(50);
        Assert.Equal(0, camera.Viewers);
    }

    [Fact]
    public async Task Second_concurrent_talker_is_counted_but_does_not_take_the_file()
    {
        string ogg = Path.Combine(Rig.Folder, "busy.ogg");
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
