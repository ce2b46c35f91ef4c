using System.Diagnostics;
using OspBridge.WebRtc.Sdp;

namespace OspBridge.WebRtc.Tests.Sdp;

public class SdpTests
{
    // The shape of a Chromium data-channel offer (values made up, structure as Chrome emits it).
    internal const string ChromeOffer =
        "v=0\r\n" +
        "o=- 4215775240449105457 2 IN IP4 127.0.0.1\r\n" +
        "s=-\r\n" +
        "t=0 0\r\n" +
        "a=group:BUNDLE 0\r\n" +
        "a=extmap-allow-mixed\r\n" +
        "a=msid-semantic: WMS\r\n" +
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
        "c=IN IP4 0.0.0.0\r\n" +
        "a=candidate:2857187424 1 udp 2113937151 3e4a4b5d-1c2f-4e3b-9e0c-2ab5c2b63a55.local 54321 typ host generation 0 network-cost 999\r\n" +
        "a=candidate:1467250027 1 udp 2122260223 10.77.0.2 46243 typ host generation 0 network-id 1\r\n" +
        "a=ice-ufrag:Dtx+\r\n" +
        "a=ice-pwd:fJT2WzNa3HTc2Rk2DbCFcVO0\r\n" +
        "a=ice-options:trickle\r\n" +
        "a=fingerprint:sha-256 5B:0F:2E:8C:5A:41:7E:0B:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:01:02:03:04:05:06:07:08\r\n" +
        "a=setup:actpass\r\n" +
        "a=mid:0\r\n" +
        "a=sctp-port:5000\r\n" +
        "a=max-message-size:262144\r\n";

    [Fact]
    public void Parses_chrome_datachannel_offer()
    {
        var sd = SessionDescription.Parse(ChromeOffer);
        Assert.Equal("4215775240449105457", sd.Origin.SessionId);
        Assert.Equal(2UL, sd.Origin.SessionVersion);
        Assert.Equal("BUNDLE 0", sd.GetAttribute("group"));
        var m = Assert.Single(sd.Media);
        Assert.True(m.IsDataChannel);
        Assert.Same(m, sd.DataChannelMedia);
        Assert.Equal(9, m.Port);
        Assert.Equal("UDP/DTLS/SCTP", m.Protocol);
        Assert.Equal("0", m.Mid);
        Assert.Equal("Dtx+", m.IceUfrag);
        Assert.Equal("fJT2WzNa3HTc2Rk2DbCFcVO0", m.IcePwd);
        Assert.Equal("actpass", m.Setup);
        Assert.Equal(5000, m.SctpPort);
        Assert.Equal(262144L, m.MaxMessageSize);
        Assert.Equal(2, m.Candidates.Count());
        Assert.False(m.EndOfCandidates);
        Assert.True(SdpFingerprint.TryParse(m.Fingerprints.Single(), out var fp));
        Assert.Equal("sha-256", fp!.Algorithm);
        Assert.Equal(32, fp.Value.Length);
        Assert.Equal(0x5B, fp.Value[0]);
        Assert.Equal("msid-semantic", sd.Attributes[2].Name);
        Assert.Equal(" WMS", sd.Attributes[2].Value);
    }

    [Fact]
    public void Write_then_parse_is_identity_and_canonical()
    {
        var sd = SessionDescription.Parse(ChromeOffer);
        string written = sd.ToString();
        Assert.Equal(ChromeOffer, written);
        Assert.Equal(written, SessionDescription.Parse(written).ToString());
    }

    [Fact]
    public void Accepts_lf_only_and_session_level_credentials()
    {
        string text = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nt=0 0\na=ice-lite\na=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\n" +
                      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:data\na=sctp-port:5000\n";
        var sd = SessionDescription.Parse(text);
        Assert.True(sd.IceLite);
        var m = sd.DataChannelMedia!;
        Assert.Null(m.IceUfrag);
        Assert.Equal("abcd", sd.GetEffective(m, "ice-ufrag"));
        Assert.Null(m.MaxMessageSize);
    }

    [Fact]
    public void Keeps_audio_video_sections_for_later()
    {
        string text = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
                      "m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\nc=IN IP4 0.0.0.0\r\nb=AS:64\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-mux\r\n" +
                      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sctp-port:5000\r\n";
        var sd = SessionDescription.Parse(text);
        Assert.Equal(2, sd.Media.Count);
        Assert.False(sd.Media[0].IsDataChannel);
        Assert.Equal(["111", "63"], sd.Media[0].Formats);
        Assert.Equal("AS:64", sd.Media[0].OtherLines.Single().Value);
        Assert.Equal("1", sd.DataChannelMedia!.Mid);
        Assert.Equal(text, sd.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("o=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n")]
    [InlineData("v=1\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n")]
    [InlineData("v=0\r\no=- 1 x IN IP4 127.0.0.1\r\ns=-\r\n")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=application 99999 UDP/DTLS/SCTP webrtc-datachannel\r\n")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=application 9 UDP/DTLS/SCTP\r\n")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nbogus\r\n")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\na=\r\n")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\na=x\0y\r\n")]
    public void Rejects_malformed(string text)
    {
        var ex = Assert.Throws<WebRtcException>(() => SessionDescription.Parse(text));
        Assert.Equal(WebRtcError.Malformed, ex.Error);
    }

    [Fact]
    public void Enforces_limits()
    {
        var limits = new SdpLimits { MaxMediaSections = 2, MaxLength = 100_000 };
        string m = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        string head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
        Assert.Equal(WebRtcError.LimitExceeded, Assert.Throws<WebRtcException>(() => SessionDescription.Parse(head + m + m + m, limits)).Error);
        Assert.Equal(WebRtcError.LimitExceeded, Assert.Throws<WebRtcException>(() => SessionDescription.Parse(head + new string('a', 100_001), limits)).Error);
        Assert.Equal(WebRtcError.LimitExceeded, Assert.Throws<WebRtcException>(() => SessionDescription.Parse(head + "a=x:" + new string('y', 9000) + "\r\n")).Error);
    }

    [Fact]
    public void Fingerprint_round_trip_and_rejects()
    {
        var fp = SdpFingerprint.Sha256([1, 2, 3]);
        Assert.True(SdpFingerprint.TryParse(fp.ToString(), out var back));
        Assert.True(back!.Matches("SHA-256", fp.Value));
        Assert.False(SdpFingerprint.TryParse("sha-256 ZZ:00", out _));
        Assert.False(SdpFingerprint.TryParse("sha-256", out _));
        Assert.False(SdpFingerprint.TryParse("sha-256 0:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF", out _));
    }

    [Fact]
    public void Mutation_fuzz_only_throws_WebRtcException()
    {
        var rng = new Random(8866);
        var seed = ChromeOffer.ToCharArray();
        const string alphabet = "v=o-s\r\n :amc0129/.\0\u00ff\u2603tpUDLS";
        var sw = Stopwatch.StartNew();
        int parsed = 0, rejected = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var buf = (char[])seed.Clone();
            int len = buf.Length;
            int mutations = 1 + rng.Next(8);
            for (int k = 0; k < mutations; k++)
            {
                switch (rng.Next(3))
                {
                    case 0: buf[rng.Next(len)] = alphabet[rng.Next(alphabet.Length)]; break;
                    case 1: len = Math.Max(0, len - rng.Next(1, 40)); break;
                    default:
                    {
                        int a = rng.Next(len), b = rng.Next(len);
                        (buf[a], buf[b]) = (buf[b], buf[a]);
                        break;
                    }
                }
            }
            try
            {
                var sd = SessionDescription.Parse(new string(buf, 0, len));
                _ = sd.ToString();
                _ = sd.DataChannelMedia?.SctpPort;
                _ = sd.DataChannelMedia?.MaxMessageSize;
                parsed++;
            }
            catch (WebRtcException)
            {
                rejected++;
            }
        }
        Assert.True(parsed > 0 && rejected > 0, $"parsed {parsed}, rejected {rejected}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"fuzz took {sw.Elapsed}");
    }
}
