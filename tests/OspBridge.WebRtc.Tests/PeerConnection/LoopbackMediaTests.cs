using System.Net;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// Ours ↔ ours media over real UDP on 127.0.0.1: SDP with audio+video+data, DTLS-SRTP keys, RTP routed by mid,
/// H.264 access units (single NAL + FU-A) and Opus packets arriving byte-exact, PLI → KeyframeRequested, stats.
/// </summary>
public class LoopbackMediaTests
{
    private static readonly RTCConfiguration Loopback = new() { LocalAddresses = [IPAddress.Loopback] };

    private static byte[] AccessUnit(int seed, bool idr, int bigNal)
    {
        var rnd = new Random(seed);
        var au = new List<byte>();
        void Nal(byte header, int len)
        {
            au.AddRange([0, 0, 0, 1, header]);
            var body = new byte[len];
            rnd.NextBytes(body);
            for (int i = 0; i < body.Length; i++) if (body[i] < 4) body[i] = 4; // no emulated start codes
            au.AddRange(body);
        }
        if (idr)
        {
            Nal(0x67, 12); // SPS
            Nal(0x68, 4);  // PPS
            Nal(0x65, bigNal);
        }
        else Nal(0x41, bigNal);
        return [.. au];
    }

    [Fact]
    public async Task Video_and_audio_frames_arrive_intact_and_pli_reaches_the_sender()
    {
        var log = new List<string>();
        await using var a = new RTCPeerConnection(Loopback, LoopbackPeerConnectionTests.Options("A", log));
        await using var b = new RTCPeerConnection(Loopback, LoopbackPeerConnectionTests.Options("B", log));
        var vt = await a.AddTransceiverAsync(MediaKind.Video, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        var at = await a.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        var tracks = new List<RTCTrackEvent>();
        b.OnTrack += e => { lock (tracks) tracks.Add(e); };
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        await a.WaitForGatheringCompleteAsync();
        await b.SetRemoteDescriptionAsync(a.LocalDescription!);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync());
        await b.WaitForGatheringCompleteAsync();
        await a.SetRemoteDescriptionAsync(b.LocalDescription!);
        Assert.Equal(2, tracks.Count);
        var bv = tracks.Single(t => t.Transceiver.Kind == MediaKind.Video).Transceiver;
        var ba = tracks.Single(t => t.Transceiver.Kind == MediaKind.Audio).Transceiver;
        Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, bv.CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, vt.CurrentDirection);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (a.ConnectionState != RTCPeerConnectionState.Connected || b.ConnectionState != RTCPeerConnectionState.Connected)
        {
            try { await Task.Delay(20, cts.Token); }
            catch (OperationCanceledException) { Assert.Fail("not connected:\n" + string.Join("\n", log)); }
        }
        // SRTP keys exist once DTLS is up; give the loop a moment to derive them
        var keyframes = 0;
        vt.Sender.KeyframeRequested += () => Interlocked.Increment(ref keyframes);

        var sent = new List<byte[]>();
        for (int i = 0; i < 10; i++)
        {
            var au = AccessUnit(i, idr: i == 0, bigNal: i % 3 == 0 ? 5000 : 300);
            sent.Add(au);
            Assert.True(vt.Sender.WriteFrame(new EncodedFrame(MediaCodec.H264, au, TimeSpan.FromMilliseconds(33 * i), i == 0)));
            var opus = new byte[] { 0x78, (byte)i, 1, 2, 3 };
            Assert.True(at.Sender.WriteFrame(new EncodedFrame(MediaCodec.Opus, opus, TimeSpan.FromMilliseconds(20 * i), true)));
            await Task.Delay(5, cts.Token);
        }
        for (int i = 0; i < 10; i++)
        {
            var f = await bv.Receiver.Frames.ReadAsync(cts.Token);
            Assert.Equal(MediaCodec.H264, f.Codec);
            Assert.Equal(sent[i], f.Data.ToArray());
            Assert.Equal(i == 0, f.IsKeyframe);
            Assert.Equal(TimeSpan.FromMilliseconds(33 * i).TotalMilliseconds, f.Timestamp.TotalMilliseconds, 1);
        }
        for (int i = 0; i < 10; i++)
        {
            var f = await ba.Receiver.Frames.ReadAsync(cts.Token);
            Assert.Equal(MediaCodec.Opus, f.Codec);
            Assert.Equal(new byte[] { 0x78, (byte)i, 1, 2, 3 }, f.Data.ToArray());
        }
        Assert.True(await bv.Receiver.RequestKeyframeAsync(cts.Token));
        while (Volatile.Read(ref keyframes) == 0) await Task.Delay(10, cts.Token);
        var sstats = await vt.GetStatsAsync(cts.Token);
        var rstats = await bv.GetStatsAsync(cts.Token);
        Assert.Equal(1, sstats.Stats.PliReceived);
        Assert.Equal(sstats.Stats.PacketsSent, rstats.Stats.PacketsReceived);
        Assert.Equal(0, rstats.Stats.PacketsLost);
        Assert.Equal(vt.Mid, bv.Mid);
    }
}
