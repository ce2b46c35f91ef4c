using System.Net;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Sdp;
using OspBridge.WebRtc.Tracks;

using static OspBridge.WebRtc.Tests.PeerConnection.CoreNegotiation;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// H.265 (RFC 7798) selection: our offer carries H.264 and H.265; without preferences the answer keeps H.264; an
/// answerer whose source is H.265 sets codec preferences and H.265 is negotiated and carried byte-exact (ours↔ours:
/// Chromium 156 on this machine offers no H.265 — see docs/media.md).
/// </summary>
public sealed class H265NegotiationTests
{
    [Fact]
    public void Our_offer_lists_h264_then_h265_each_with_rtx_and_the_default_answer_keeps_h264()
    {
        var a = NewCore(1);
        var b = NewCore(2);
        a.AddTransceiver(MediaKind.Video, RTCRtpTransceiverDirection.SendOnly);
        a.SetLocalDescription(a.CreateOffer(), TimeSpan.Zero);
        var sdp = a.LocalDescription!.Sdp;
        Assert.Contains("m=video 9 UDP/TLS/RTP/SAVPF 102 103 104 105", sdp, StringComparison.Ordinal);
        Assert.Contains("a=rtpmap:104 H265/90000", sdp, StringComparison.Ordinal);
        Assert.Contains("a=fmtp:105 apt=104", sdp, StringComparison.Ordinal);
        b.SetRemoteDescription(a.LocalDescription!, TimeSpan.Zero);
        b.SetLocalDescription(b.CreateAnswer(), TimeSpan.Zero);
        Assert.Equal("H264", b.GetTransceiver(0).Codec!.Name);
        Assert.DoesNotContain("H265", b.LocalDescription!.Sdp, StringComparison.Ordinal);
    }

    [Fact]
    public void Codec_preferences_select_h265_when_both_offer_it_and_prefer_by_order()
    {
        IReadOnlyList<RtpCodecDescription> offered = RtpCodecNegotiation.LocalCodecs(MediaKind.Video);
        Assert.Equal("H264", RtpCodecNegotiation.Select(MediaKind.Video, offered)!.Name);
        Assert.Equal("H265", RtpCodecNegotiation.Select(MediaKind.Video, offered, [MediaCodec.H265])!.Name);
        Assert.Equal("H265", RtpCodecNegotiation.Select(MediaKind.Video, offered, [MediaCodec.H265, MediaCodec.H264])!.Name);
        Assert.Equal("H264", RtpCodecNegotiation.Select(MediaKind.Video, offered, [MediaCodec.H264, MediaCodec.H265])!.Name);
        // an offer without H.265 (Chromium 156 here): an H.265-only preference rejects, [H265, H264] falls back
        var h264Only = offered.Where(c => !c.Is("H265")).ToList();
        Assert.Null(RtpCodecNegotiation.Select(MediaKind.Video, h264Only, [MediaCodec.H265]));
        Assert.Equal("H264", RtpCodecNegotiation.Select(MediaKind.Video, h264Only, [MediaCodec.H265, MediaCodec.H264])!.Name);
        // an offerer's preferences restrict its offer
        var a = NewCore(3);
        int v = a.AddTransceiver(MediaKind.Video, RTCRtpTransceiverDirection.RecvOnly);
        a.SetCodecPreferences(v, [MediaCodec.H265]);
        a.SetLocalDescription(a.CreateOffer(), TimeSpan.Zero);
        Assert.Contains("m=video 9 UDP/TLS/RTP/SAVPF 104 105", a.LocalDescription!.Sdp, StringComparison.Ordinal);
        Assert.DoesNotContain("H264", a.LocalDescription!.Sdp, StringComparison.Ordinal);
    }

    [Fact]
    public void An_answerer_preferring_h265_negotiates_it_and_h265_access_units_arrive_byte_exact()
    {
        var net = new VirtualNetwork();
        var a = NewCore(11);
        var b = NewCore(12);
        var received = new List<EncodedFrame>();
        int videoB = -1;
        var na = net.Add<PeerConnectionEvent>("A", a, e =>
        {
            if (e.Kind != PeerConnectionEventKind.RtpReceived) return;
            while (a.TryReadFrame(e.Transceiver, out var f)) received.Add(f with { Data = f.Data.ToArray() });
        }, EpA);
        var nb = net.Add<PeerConnectionEvent>("B", b, _ => { }, EpB);
        var link = new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(5), Seed = 1 };
        net.Connect(na, nb, link, link with { Seed = 2 });
        // B is the device (sends H.265), A the viewer (offers recvonly): B answers with its preference
        int videoA = a.AddTransceiver(MediaKind.Video, RTCRtpTransceiverDirection.RecvOnly);
        Offer(a, net.Now);
        videoB = 0;
        Answer(a, b, net.Now, () =>
        {
            b.SetDirection(videoB, RTCRtpTransceiverDirection.SendOnly);
            b.SetCodecPreferences(videoB, [MediaCodec.H265]);
        });
        Assert.Contains("a=rtpmap:104 H265/90000", b.LocalDescription!.Sdp, StringComparison.Ordinal);
        Assert.Contains("a=fmtp:105 apt=104", b.LocalDescription!.Sdp, StringComparison.Ordinal);
        Assert.Equal("H265", b.GetTransceiver(videoB).Codec!.Name);
        Assert.Equal("H265", a.GetTransceiver(videoA).Codec!.Name);
        Assert.True(RunUntilMediaConnected(net, a, b), $"A {a.ConnectionState}, B {b.ConnectionState}");
        var rnd = new Random(5);
        var sent = new List<byte[]>();
        for (int i = 0; i < 30; i++)
        {
            var au = H265AccessUnit(rnd, i, key: i % 10 == 0, size: i % 10 == 0 ? 6000 : 800 + i * 10);
            sent.Add(au);
            Assert.True(b.SendFrame(videoB, new EncodedFrame(MediaCodec.H265, au, TimeSpan.FromMilliseconds(33 * i), i % 10 == 0), net.Now),
                $"B did not send frame {i}: {b.GetTransceiver(videoB).CurrentDirection}");
            net.RunUntil(() => false, TimeSpan.FromMilliseconds(33));
        }
        net.RunUntil(() => received.Count >= sent.Count, TimeSpan.FromSeconds(2));
        Assert.True(sent.Count == received.Count, $"{received.Count} of {sent.Count} access units received; B {b.GetTransceiver(videoB).Stats}; A {a.GetTransceiver(videoA).Stats}");
        for (int i = 0; i < sent.Count; i++)
        {
            Assert.Equal(MediaCodec.H265, received[i].Codec);
            Assert.Equal(i % 10 == 0, received[i].IsKeyframe);
            Assert.True(sent[i].AsSpan().SequenceEqual(received[i].Data.Span), $"access unit {i} differs ({sent[i].Length} sent, {received[i].Data.Length} received)");
        }
    }

    /// <summary>An H.265 access unit: VPS/SPS/PPS + IDR_W_RADL (type 19) for keyframes, TRAIL_R (type 1) otherwise.</summary>
    private static byte[] H265AccessUnit(Random rnd, int index, bool key, int size)
    {
        var nal = new byte[size];
        rnd.NextBytes(nal);
        for (int i = 0; i < nal.Length; i++) if (nal[i] < 4) nal[i] = 4;
        nal[0] = (byte)((key ? 19 : 1) << 1);
        nal[1] = 1;
        nal[2] = (byte)index;
        byte[] vps = [0x40, 0x01, 0x0c, 0x01], sps = [0x42, 0x01, 0x01, 0x01], pps = [0x44, 0x01, 0xc1, 0x72];
        return key ? [0, 0, 0, 1, .. vps, 0, 0, 0, 1, .. sps, 0, 0, 0, 1, .. pps, 0, 0, 0, 1, .. nal] : [0, 0, 0, 1, .. nal];
    }

    /// <summary>
    /// setCodecPreferences before answering goes through the one answer-time selection: a preference the offer cannot
    /// meet rejects the section, and a later preference it can meet un-rejects it.
    /// </summary>
    [Fact]
    public void Codec_preferences_can_reject_and_then_unreject_an_offered_section()
    {
        var a = NewCore(21);
        var b = NewCore(22);
        int va = a.AddTransceiver(MediaKind.Video, RTCRtpTransceiverDirection.RecvOnly);
        a.SetCodecPreferences(va, [MediaCodec.H264]); // the offer carries H.264 only
        Offer(a, TimeSpan.Zero);
        Assert.DoesNotContain("H265", a.LocalDescription!.Sdp, StringComparison.Ordinal);
        b.SetRemoteDescription(a.LocalDescription!, TimeSpan.Zero);
        b.SetCodecPreferences(0, [MediaCodec.H265]);
        Assert.Null(b.GetTransceiver(0).Codec); // nothing in common: rejected
        b.SetCodecPreferences(0, [MediaCodec.H264]);
        Assert.Equal("H264", b.GetTransceiver(0).Codec?.Name);
        b.SetDirection(0, RTCRtpTransceiverDirection.SendOnly);
        b.SetLocalDescription(b.CreateAnswer(), TimeSpan.Zero);
        Assert.Contains("m=video 9 ", b.LocalDescription!.Sdp, StringComparison.Ordinal); // not port 0
        Assert.Contains("H264/90000", b.LocalDescription!.Sdp, StringComparison.Ordinal);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, b.GetTransceiver(0).CurrentDirection);
    }
}
