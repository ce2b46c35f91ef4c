using Concentus;
using Concentus.Enums;
using OspBridge.Media.BackChannel;
using OspBridge.Media.Formats;
using OspBridge.Media.Rtsp;
using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.BackChannel;

/// <summary>
/// The ONVIF back channel of our RTSP client against a scripted camera (ONVIF Streaming Specification §5.3): the
/// Require tag on every request, the a=sendonly audio SETUP on its own interleaved channel, talk-back Opus arriving as
/// 20 ms PCMU RTP (one SSRC, consecutive sequence numbers, +160 timestamps, marker on the first) that decodes to the
/// tone sent; a camera that answers the tag 551 is asked again without it; <c>?backchannel=0</c>; bad sections.
/// </summary>
public class RtspBackChannelTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int ToneHz = 660;

    private static string Sdp(string backSection) => string.Join("\r\n",
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=scripted ONVIF camera", "t=0 0", "a=control:*",
        "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1", "a=control:video", "a=recvonly",
        "m=audio 0 RTP/AVP 0", "a=control:audio", "a=recvonly",
        backSection, "") ;

    private const string PcmuBack = "m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:audioback\r\na=sendonly";

    private static MediaSourceOptions Options => new() { RtspMediaTimeout = TimeSpan.FromSeconds(60), InitialBackoff = TimeSpan.FromSeconds(30) };

    /// <summary>20 ms Opus packets of a sine tone (Concentus, 48 kHz mono).</summary>
    internal static List<byte[]> OpusTone(int hz, int packets)
    {
        var encoder = OpusCodecFactory.CreateEncoder(48000, 1, OpusApplication.OPUS_APPLICATION_AUDIO);
        var pcm = new short[960];
        var outBuf = new byte[1500];
        var list = new List<byte[]>();
        for (int p = 0; p < packets; p++)
        {
            for (int i = 0; i < 960; i++)
                pcm[i] = (short)(8000 * Math.Sin(2 * Math.PI * hz * ((p * 960) + i) / 48000.0));
            int n = encoder.Encode(pcm, 960, outBuf, outBuf.Length);
            list.Add(outBuf.AsSpan(0, n).ToArray());
        }
        return list;
    }

    /// <summary>8 kHz samples held six times → 48 kHz for <see cref="Testing.Audio.ToneAnalysis"/> (images land above 4 kHz).</summary>
    internal static double[] To48k(IEnumerable<short> pcm8k) => pcm8k.SelectMany(s => Enumerable.Repeat((double)s, 6)).ToArray();

    private static async Task WaitAsync(Func<bool> condition, string what, int seconds = 30)
    {
        for (int i = 0; i < seconds * 20 && !condition(); i++)
            await Task.Delay(50);
        Assert.True(condition(), $"timed out waiting for {what}");
    }

    [Fact]
    public async Task Require_tag_sets_up_the_sendonly_track_and_talk_back_arrives_as_pcmu_rtp_with_the_tone()
    {
        await using var camera = new ScriptedOnvifCamera(Sdp(PcmuBack));
        await using var source = (RtspSource)MediaSource.Create(camera.Url, Options);
        await source.StartAsync(CancellationToken.None);
        var sink = Assert.IsType<RtspBackChannelSink>(source.TalkBackSink);
        await using var session = await sink.TryOpenAsync(2, CancellationToken.None);
        Assert.NotNull(session);
        Assert.Null(await sink.TryOpenAsync(2, CancellationToken.None)); // one talker at a time
        await WaitAsync(() => source.BackChannel is not null, "the back channel to play");
        Assert.Equal(MediaCodec.Pcmu, source.BackChannel!.Codec);

        var packets = OpusTone(ToneHz, 50);
        packets.Insert(25, [(byte)(packets[24][0] & 0xFC)]); // a TOC-only packet: the playout's "lost frame" marker, concealed
        foreach (var p in packets)
            Assert.True(await session!.WriteAsync(p, CancellationToken.None));
        Assert.False(await session!.WriteAsync(Array.Empty<byte>(), CancellationToken.None)); // not an Opus packet: dropped
        Assert.Equal(51, session.PacketsWritten);
        Assert.Equal(1, session.PacketsDropped);

        int channel = camera.ChannelOf("audioback");
        Assert.True(channel >= 0, "no interleaved SETUP for the back channel: " + string.Join(" | ", camera.Requests.Select(r => $"{r.Method} {r.Uri} {r.Transport}")));
        await WaitAsync(() => camera.Frames.Count(f => f.Channel == channel) >= 51, "51 back-channel RTP packets");
        var rtp = camera.Frames.Where(f => f.Channel == channel).Select(f => f.Payload).ToList();
        output.WriteLine($"{rtp.Count} RTP packets on channel {channel}; requests: {string.Join(", ", camera.Requests.Select(r => r.Method))}");

        // every request after OPTIONS carries the ONVIF tag; three SETUPs (video, audio, back channel)
        Assert.All(camera.Requests.Where(r => r.Method != "OPTIONS"), r => Assert.Equal(RtspBackChannel.RequireTag, r.Require));
        Assert.Equal(3, camera.Requests.Count(r => r.Method == "SETUP"));
        Assert.Contains(camera.Requests, r => r.Method == "PLAY");

        Assert.Equal(51, rtp.Count); // 51 × 20 ms of 8 kHz audio = 51 × 160 samples
        uint ssrc = ScriptedOnvifCamera.Ssrc(rtp[0]);
        for (int i = 0; i < rtp.Count; i++)
        {
            Assert.Equal(0x80, rtp[i][0]); // V=2, no padding/extension/CSRC
            Assert.Equal(i == 0 ? 0x80 : 0x00, rtp[i][1] & 0x80); // marker on the first packet only
            Assert.Equal(0, rtp[i][1] & 0x7F); // PT 0 = PCMU
            Assert.Equal(12 + 160, rtp[i].Length);
            Assert.Equal(ssrc, ScriptedOnvifCamera.Ssrc(rtp[i]));
            if (i > 0)
            {
                Assert.Equal((ushort)(ScriptedOnvifCamera.Sequence(rtp[i - 1]) + 1), ScriptedOnvifCamera.Sequence(rtp[i]));
                Assert.Equal(ScriptedOnvifCamera.Timestamp(rtp[i - 1]) + 160, ScriptedOnvifCamera.Timestamp(rtp[i]));
            }
        }
        var pcm = rtp.SelectMany(p => p.Skip(12)).Select(G711.DecodeMuLaw).ToArray();
        var steady = To48k(pcm.Skip(800).Take(3200)); // skip the codec's start-up
        double rms = Math.Sqrt(steady.Sum(x => x * x) / steady.Length);
        int hz = Testing.Audio.ToneAnalysis.StrongestTone(steady);
        output.WriteLine($"decoded back channel: rms {rms:F0}, strongest tone {hz} Hz");
        Assert.True(rms > 2000, $"back-channel audio is near silence (rms {rms:F0})");
        Assert.InRange(hz, ToneHz - 10, ToneHz + 10);
    }

    [Fact]
    public async Task Camera_that_refuses_the_require_tag_with_551_is_described_again_without_it_and_has_no_back_channel()
    {
        await using var camera = new ScriptedOnvifCamera(Sdp(PcmuBack), refuseRequire: true);
        await using var source = (RtspSource)MediaSource.Create(camera.Url, Options);
        await source.StartAsync(CancellationToken.None);
        await WaitAsync(() => source.Sessions == 1, "PLAY");
        var describes = camera.Requests.Where(r => r.Method == "DESCRIBE").ToList();
        Assert.Equal(2, describes.Count);
        Assert.Equal(RtspBackChannel.RequireTag, describes[0].Require);
        Assert.Null(describes[1].Require);
        int firstDescribe = camera.Requests.FindIndex(r => r.Method == "DESCRIBE");
        Assert.All(camera.Requests.Skip(firstDescribe + 1), r => Assert.Null(r.Require));
        Assert.False(source.RequiresBackChannel);
        Assert.Equal(2, camera.Requests.Count(r => r.Method == "SETUP")); // the sendonly section is not set up without the tag
        Assert.Null(source.BackChannelOffered);
        Assert.Null(source.BackChannel);
        Assert.Null(await source.TalkBackSink!.TryOpenAsync(2, CancellationToken.None));
    }

    [Fact]
    public async Task Backchannel_0_in_the_uri_never_sends_the_tag_and_has_no_talk_back_sink()
    {
        await using var camera = new ScriptedOnvifCamera(Sdp(PcmuBack));
        await using var source = (RtspSource)MediaSource.Create(camera.Url + "?backchannel=0", Options);
        Assert.Null(source.TalkBackSink);
        Assert.Null(((IMediaSource)source).TalkBackSink);
        await source.StartAsync(CancellationToken.None);
        await WaitAsync(() => source.Sessions == 1, "PLAY");
        Assert.All(camera.Requests, r => Assert.Null(r.Require));
        Assert.All(camera.Requests, r => Assert.DoesNotContain("backchannel", r.Uri, StringComparison.Ordinal));
        Assert.Equal(2, camera.Requests.Count(r => r.Method == "SETUP"));
        Assert.Throws<MediaException>(() => RtspUri.Parse("rtsp://cam/x?backchannel=maybe"));
        Assert.True(RtspUri.Parse("rtsp://cam/x?backchannel=1").BackChannel);
    }

    [Theory]
    [InlineData("m=audio 0 RTP/AVP 97\r\na=rtpmap:97 G726-32/8000\r\na=control:audioback\r\na=sendonly")] // a codec we cannot send
    [InlineData("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:audioback\r\na=sendonly")] // not audio
    [InlineData("m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:audioback\r\na=recvonly")] // not sendonly
    [InlineData("m=audio 0 RTP/AVP\r\na=control:audioback\r\na=sendonly")] // no payload type
    [InlineData("m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/0\r\na=control:audioback\r\na=sendonly")] // no clock rate
    public async Task Sendonly_sections_we_cannot_use_are_not_set_up_and_talk_back_falls_back(string section)
    {
        await using var camera = new ScriptedOnvifCamera(Sdp(section));
        await using var source = (RtspSource)MediaSource.Create(camera.Url, Options);
        await source.StartAsync(CancellationToken.None);
        await WaitAsync(() => source.Sessions == 1, "PLAY");
        Assert.Null(source.BackChannelOffered);
        Assert.Null(await source.TalkBackSink!.TryOpenAsync(2, CancellationToken.None));
        Assert.DoesNotContain(camera.Requests, r => r.Method == "SETUP" && r.Uri.EndsWith("/audioback", StringComparison.Ordinal));
        Assert.Equal(MediaCodec.H264, source.Info.VideoCodec);
    }

    [Fact]
    public async Task Talk_back_while_the_camera_is_not_playing_is_dropped_and_counted()
    {
        await using var camera = new ScriptedOnvifCamera(Sdp(PcmuBack));
        await using var source = (RtspSource)MediaSource.Create(camera.Url, Options);
        await source.StartAsync(CancellationToken.None);
        var sink = (RtspBackChannelSink)source.TalkBackSink!;
        await using var session = await sink.TryOpenAsync(1, CancellationToken.None);
        await WaitAsync(() => source.BackChannel is not null, "the back channel to play");
        await source.StopAsync(CancellationToken.None);
        Assert.Null(source.BackChannel);
        foreach (var p in OpusTone(ToneHz, 5))
            Assert.False(await session!.WriteAsync(p, CancellationToken.None));
        Assert.Equal(5, session!.PacketsDropped);
        Assert.Equal(5, sink.Last!.RtpPacketsDropped);
    }

    [Fact]
    public void G711_matches_the_reference_tables_and_round_trips_within_one_step()
    {
        Assert.Equal(0xFF, G711.EncodeMuLaw(0));
        Assert.Equal(0x80, G711.EncodeMuLaw(short.MaxValue));
        Assert.Equal(0x00, G711.EncodeMuLaw(short.MinValue));
        Assert.Equal(0, G711.DecodeMuLaw(0xFF));
        Assert.Equal(32124, G711.DecodeMuLaw(0x80));
        Assert.Equal(-32124, G711.DecodeMuLaw(0x00));
        Assert.Equal(0xD5, G711.EncodeALaw(0));
        Assert.Equal(0x55, G711.EncodeALaw(-1));
        Assert.Equal(8, G711.DecodeALaw(0xD5));
        Assert.Equal(-8, G711.DecodeALaw(0x55));
        Assert.Equal(32256, G711.DecodeALaw(0xAA));
        Assert.Equal(0xAA, G711.EncodeALaw(short.MaxValue));
        for (int x = short.MinValue; x <= short.MaxValue; x += 7)
        {
            short s = (short)x;
            // error bounded by half a quantization step of the segment (≤ 1/32 of the magnitude, plus the smallest step)
            int tolerance = (Math.Abs(x) / 16) + 16;
            Assert.InRange(G711.DecodeMuLaw(G711.EncodeMuLaw(s)), x - tolerance - 132, x + tolerance + 132);
            Assert.InRange(G711.DecodeALaw(G711.EncodeALaw(s)), x - tolerance, x + tolerance);
            // decode ∘ encode is the identity on code words (μ-law's "negative zero" 0x7F decodes to 0, which encodes as 0xFF)
            byte u = G711.EncodeMuLaw(s), a = G711.EncodeALaw(s);
            Assert.Equal(u == 0x7F ? 0xFF : u, G711.EncodeMuLaw(G711.DecodeMuLaw(u)));
            Assert.Equal(a, G711.EncodeALaw(G711.DecodeALaw(a)));
        }
    }

    [Fact]
    public void Transcoder_survives_garbage_opus_and_keeps_the_8_khz_timeline()
    {
        var t = new TalkBackTranscoder(MediaCodec.Pcma);
        var random = new Random(12);
        var frame = new byte[TalkBackTranscoder.FrameSamples];
        int frames = 0;
        foreach (var p in OpusTone(ToneHz, 10))
        {
            var bad = p.ToArray();
            for (int i = 1; i < bad.Length; i++)
                if (random.Next(4) == 0) bad[i] = (byte)random.Next(256);
            t.Push(bad);
            while (t.TryTakeFrame(frame)) frames++;
        }
        t.Push([0xFC, 0xFF, 0xFF]); // code 3 with a bogus frame count
        t.Push([0x00]);
        while (t.TryTakeFrame(frame)) frames++;
        output.WriteLine($"{frames} frames, {t.DecodeErrors} decode errors");
        Assert.InRange(frames, 10, 12); // each packet (valid, corrupt or concealed) yields its duration of output
        Assert.Throws<ArgumentOutOfRangeException>(() => new TalkBackTranscoder(MediaCodec.Opus));
    }
}
