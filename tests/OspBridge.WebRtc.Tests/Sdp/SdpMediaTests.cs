using OspBridge.WebRtc.Sdp;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.WebRtc.Tests.Sdp;

/// <summary>
/// Audio/video m-sections: parsing real and stack-shaped offers (Sdp/Fixtures: Chromium 156's own offer with
/// audio+video+data, a Firefox-layout offer, a pion/werift-layout offer, a non-BUNDLE offer with per-section ICE)
/// and the answers our core writes to them (PT kept, H.264 profile matching, directions, BUNDLE, rejections).
/// </summary>
public class SdpMediaTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Sdp", "Fixtures", name));

    private static (PeerConnectionCore Core, SessionDescription Answer) Answer(string offer, Action<PeerConnectionCore>? beforeAnswer = null)
    {
        var core = new PeerConnectionCore();
        core.SetRemoteDescription(new RTCSessionDescription(RTCSdpType.Offer, offer), TimeSpan.Zero);
        beforeAnswer?.Invoke(core);
        var answer = core.CreateAnswer();
        return (core, SessionDescription.Parse(answer.Sdp));
    }

    private static int IndexOfKind(PeerConnectionCore core, MediaKind kind)
    {
        for (int i = 0; i < core.TransceiverCount; i++) if (core.GetTransceiver(i).Kind == kind) return i;
        return -1;
    }

    [Fact]
    public void Chromium_offer_codecs_parse_with_feedback_and_fmtp()
    {
        var sd = SessionDescription.Parse(Fixture("chromium-156-audio-video-data-offer.sdp"));
        Assert.Equal(3, sd.Media.Count);
        var video = RtpCodecDescription.FromMedia(sd.Media[0]);
        var h264 = video.Where(c => c.Is("H264")).ToList();
        Assert.True(h264.Count >= 4);
        var cb = h264.Single(c => c.PayloadType == 108);
        Assert.Equal("1", cb.FmtpParameter("packetization-mode"));
        Assert.Equal("42e01f", cb.FmtpParameter("profile-level-id"));
        Assert.True(cb.HasFeedback("nack pli"));
        Assert.True(cb.HasFeedback("transport-cc"));
        Assert.Equal(90000, cb.ClockRate);
        var rtx = video.Single(c => c.PayloadType == 109);
        Assert.True(rtx.Is("rtx"));
        Assert.Equal("108", rtx.FmtpParameter("apt"));
        var audio = RtpCodecDescription.FromMedia(sd.Media[1]);
        var opus = audio[0];
        Assert.Equal((111, 48000, 2), (opus.PayloadType, opus.ClockRate, opus.Channels));
        Assert.Contains(audio, c => c.PayloadType == 0 && c.Is("PCMU"));
        Assert.Equal(9, RtpCodecNegotiation.MidExtensionId(sd.Media[0]));
        Assert.Equal(9, RtpCodecNegotiation.MidExtensionId(sd.Media[1]));
    }

    [Fact]
    public void Answer_to_chromium_keeps_pts_prefers_constrained_baseline_and_bundles_all_three()
    {
        var (core, a) = Answer(Fixture("chromium-156-audio-video-data-offer.sdp"), c =>
            c.SetDirection(IndexOfKind(c, MediaKind.Video), RTCRtpTransceiverDirection.SendOnly));
        Assert.Equal("BUNDLE 0 1 2", a.GetAttribute("group"));
        Assert.Equal(["video", "audio", "application"], a.Media.Select(m => m.Media));
        var v = a.Media[0];
        Assert.Equal(["108", "109"], v.Formats); // 42e01f, packetization-mode=1, level-asymmetry-allowed=1 — not 102 (42001f) or 104 (mode 0); 109 = its RTX
        Assert.Equal("0", v.Mid);
        Assert.True(v.HasAttribute("sendonly"));
        Assert.Equal("9 " + RtpCodecNegotiation.MidExtensionUri, v.GetAttribute("extmap"));
        var fbs = v.GetAttributes("rtcp-fb").ToList();
        Assert.Contains("108 nack", fbs);
        Assert.Contains("108 nack pli", fbs);
        Assert.Contains("108 ccm fir", fbs);
        Assert.Contains("108 goog-remb", fbs); // so that Chromium sends us its receive-side estimate (REMB)
        Assert.DoesNotContain(fbs, f => f.Contains("transport-cc", StringComparison.Ordinal) || f.StartsWith("109 ", StringComparison.Ordinal));
        Assert.Equal(["108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", "109 apt=108"], v.GetAttributes("fmtp"));
        Assert.Contains("109 rtx/90000", v.GetAttributes("rtpmap"));
        Assert.True(v.HasAttribute("rtcp-mux"));
        var ssrc = core.GetTransceiver(0).LocalSsrc.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(v.GetAttributes("ssrc"), s => s.StartsWith(ssrc + " cname:", StringComparison.Ordinal));
        // RFC 4588 §8.3 / RFC 5576: the RTX stream's SSRC is announced with its media SSRC
        var fid = v.GetAttribute("ssrc-group")!.Split(' ');
        Assert.Equal(["FID", ssrc], fid[..2]);
        Assert.NotEqual(ssrc, fid[2]);
        Assert.Contains(v.GetAttributes("ssrc"), s => s.StartsWith(fid[2] + " cname:", StringComparison.Ordinal));
        var au = a.Media[1];
        Assert.Equal(["111"], au.Formats);
        Assert.True(au.HasAttribute("recvonly")); // we did not add a track: default recvonly ∩ offered sendrecv
        Assert.Empty(au.GetAttributes("ssrc"));
        Assert.True(a.Media[2].IsDataChannel);
        Assert.Equal("2", a.Media[2].Mid);
        Assert.All(a.Media, m => Assert.Equal("active", m.Setup));
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, core.GetTransceiver(0).CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, core.GetTransceiver(1).CurrentDirection);
    }

    [Fact]
    public void Firefox_style_offer_session_level_fingerprint_and_recvonly_sections()
    {
        var (core, a) = Answer(Fixture("firefox-style-offer.sdp"), c =>
        {
            c.SetDirection(IndexOfKind(c, MediaKind.Video), RTCRtpTransceiverDirection.SendRecv);
            c.SetDirection(IndexOfKind(c, MediaKind.Audio), RTCRtpTransceiverDirection.SendRecv);
        });
        Assert.Equal(["audio", "video", "application"], a.Media.Select(m => m.Media));
        Assert.Equal(["109"], a.Media[0].Formats);
        Assert.True(a.Media[0].HasAttribute("sendonly")); // offer recvonly → we may only send
        Assert.Equal(["126", "127"], a.Media[1].Formats); // 97 lacks packetization-mode=1; 127 is 126's RTX
        Assert.True(a.Media[1].HasAttribute("sendonly"));
        Assert.Equal("3 " + RtpCodecNegotiation.MidExtensionUri, a.Media[1].GetAttribute("extmap"));
        Assert.Equal("BUNDLE 0 1 2", a.GetAttribute("group"));
        Assert.Equal(2, core.TransceiverCount);
    }

    [Fact]
    public void Pion_style_offer_picks_constrained_baseline_over_baseline_and_mode_0()
    {
        var (_, a) = Answer(Fixture("pion-style-offer.sdp"));
        Assert.Equal(["125"], a.Media[0].Formats);
        Assert.Equal(["111"], a.Media[1].Formats);
        Assert.Equal("BUNDLE 0 1", a.GetAttribute("group"));
        Assert.True(a.Media[0].HasAttribute("recvonly"));
    }

    [Fact]
    public void Non_bundle_offer_uses_first_section_transport_and_rejects_the_rest()
    {
        var (core, a) = Answer(Fixture("non-bundle-offer.sdp"));
        Assert.Null(a.GetAttribute("group")); // the offer did not bundle: we may not
        Assert.Equal(2, a.Media.Count);
        Assert.NotEqual(0, a.Media[0].Port);
        Assert.Equal(["111"], a.Media[0].Formats);
        Assert.Equal(0, a.Media[1].Port);
        Assert.Equal("video", a.Media[1].Mid);
        Assert.Equal(RTCRtpTransceiverDirection.Inactive, core.GetTransceiver(1).CurrentDirection);
        Assert.Equal("aud1", core.Ice.RemoteCredentials?.Ufrag);
    }

    [Fact]
    public void Offer_without_an_acceptable_video_codec_rejects_that_section()
    {
        var offer = Fixture("pion-style-offer.sdp").Replace("packetization-mode=1", "packetization-mode=0", StringComparison.Ordinal)
            .Replace("m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 125 108", "m=video 9 UDP/TLS/RTP/SAVPF 102 103 125 108", StringComparison.Ordinal);
        var (_, a) = Answer(offer);
        Assert.Equal(0, a.Media[0].Port);
        Assert.NotEqual(0, a.Media[1].Port);
        Assert.Equal("BUNDLE 1", a.GetAttribute("group"));
    }

    [Fact]
    public void Our_offer_with_transceivers_round_trips_through_our_answerer()
    {
        var offerer = new PeerConnectionCore();
        offerer.AddTransceiver(MediaKind.Video, RTCRtpTransceiverDirection.SendOnly);
        offerer.AddTransceiver(MediaKind.Audio, RTCRtpTransceiverDirection.SendRecv);
        var offer = offerer.CreateOffer();
        var osd = SessionDescription.Parse(offer.Sdp);
        Assert.Equal(["video", "audio", "application"], osd.Media.Select(m => m.Media));
        Assert.Equal("BUNDLE 0 1 2", osd.GetAttribute("group"));
        offerer.SetLocalDescription(offer, TimeSpan.Zero);
        var answerer = new PeerConnectionCore();
        answerer.SetRemoteDescription(offer, TimeSpan.Zero);
        var answer = answerer.CreateAnswer();
        offerer.SetRemoteDescription(answer, TimeSpan.Zero);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, offerer.GetTransceiver(0).CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, answerer.GetTransceiver(0).CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, offerer.GetTransceiver(1).CurrentDirection); // answerer's audio defaults to recvonly
        Assert.Equal("H264", offerer.GetTransceiver(0).Codec?.Name);
        Assert.Equal("opus", offerer.GetTransceiver(1).Codec?.Name);
    }

    [Theory]
    [InlineData("42e01f", H264Profile.ConstrainedBaseline, 0x1f)]
    [InlineData("42c01f", H264Profile.ConstrainedBaseline, 0x1f)]
    [InlineData("42001f", H264Profile.Baseline, 0x1f)]
    [InlineData("4d001f", H264Profile.Main, 0x1f)]
    [InlineData("4de01f", H264Profile.ConstrainedBaseline, 0x1f)]
    [InlineData("640c1f", H264Profile.ConstrainedHigh, 0x1f)]
    [InlineData("64001f", H264Profile.High, 0x1f)]
    [InlineData("f4001f", H264Profile.PredictiveHigh444, 0x1f)]
    public void H264_profile_level_id_classification(string text, H264Profile profile, int level)
    {
        Assert.True(H264ProfileLevelId.TryParse(text, out var p));
        Assert.Equal(profile, p.Profile);
        Assert.Equal(level, p.Level);
        Assert.Equal(text, p.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("42e01")]
    [InlineData("zz001f")]
    [InlineData("11001f")]
    public void H264_profile_level_id_rejects_bad_text(string? text) => Assert.False(H264ProfileLevelId.TryParse(text, out _));

    [Theory]
    [InlineData(RTCRtpTransceiverDirection.SendRecv, RTCRtpTransceiverDirection.SendRecv, RTCRtpTransceiverDirection.SendRecv)]
    [InlineData(RTCRtpTransceiverDirection.SendRecv, RTCRtpTransceiverDirection.RecvOnly, RTCRtpTransceiverDirection.SendOnly)]
    [InlineData(RTCRtpTransceiverDirection.SendRecv, RTCRtpTransceiverDirection.SendOnly, RTCRtpTransceiverDirection.RecvOnly)]
    [InlineData(RTCRtpTransceiverDirection.RecvOnly, RTCRtpTransceiverDirection.RecvOnly, RTCRtpTransceiverDirection.Inactive)]
    [InlineData(RTCRtpTransceiverDirection.SendOnly, RTCRtpTransceiverDirection.Inactive, RTCRtpTransceiverDirection.Inactive)]
    public void Answer_direction_intersects(RTCRtpTransceiverDirection local, RTCRtpTransceiverDirection offered, RTCRtpTransceiverDirection expected) =>
        Assert.Equal(expected, RTCRtpTransceiverDirections.Answer(local, offered));

    /// <summary>Mutated media sections (seeded): parsing and answering never throw anything but WebRtcException.</summary>
    [Fact]
    public void Mutated_media_offers_fail_only_with_WebRtcException()
    {
        var lines = Fixture("chromium-156-audio-video-data-offer.sdp").Replace("\r", "", StringComparison.Ordinal).Split('\n');
        var rnd = new Random(4242);
        string[] junk = ["", " ", "a=rtpmap:", "a=rtpmap:999 H264/90000", "a=fmtp:108", "a=rtcp-fb:* nack", "a=extmap:99 " + RtpCodecNegotiation.MidExtensionUri,
            "a=rtpmap:108 H264/0", "a=group:BUNDLE", "a=group:BUNDLE 7", "m=video 0 RTP/AVP 0", "a=ssrc:notanumber cname:x", "a=mid:", "a=fmtp:108 profile-level-id=zzzzzz;packetization-mode=1"];
        for (int round = 0; round < 400; round++)
        {
            var l = lines.ToList();
            for (int k = 0; k < 3; k++)
            {
                int i = rnd.Next(1, l.Count);
                switch (rnd.Next(3))
                {
                    case 0: l.RemoveAt(i); break;
                    case 1: l.Insert(i, junk[rnd.Next(junk.Length)]); break;
                    default: l[i] = l[i].Length > 2 ? l[i][..rnd.Next(2, l[i].Length)] : l[i]; break;
                }
            }
            string text = string.Join("\r\n", l);
            try { Answer(text); }
            catch (WebRtcException) { }
        }
    }
}
