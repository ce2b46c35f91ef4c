using OspBridge.Bridge.Server;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>Folding trickled candidates into a non-trickle offer (the bridge's browser → LAN signaling step).</summary>
public sealed class TrickleOfferTests
{
    private const string Offer =
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11\r\na=setup:actpass\r\na=sctp-port:5000\r\n" +
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n";

    [Fact]
    public void CandidatesGoIntoTheirSectionsByMidThenIndex()
    {
        Assert.True(TrickleOffer.TryCreate(Offer, out var offer, out string? error), error);
        Assert.True(offer!.AddCandidate("candidate:1 1 udp 2122260223 192.168.1.5 50000 typ host", "0", 0));
        Assert.True(offer.AddCandidate("a=candidate:2 1 udp 2122260223 192.168.1.5 50002 typ host", null, 1));
        Assert.True(offer.AddCandidate("candidate:1 1 udp 2122260223 192.168.1.5 50000 typ host", "0", 0)); // duplicate: written once
        string sdp = offer.BuildSdp();
        var lines = sdp.Split("\r\n");
        int m0 = Array.IndexOf(lines, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel");
        int m1 = Array.IndexOf(lines, "m=audio 9 UDP/TLS/RTP/SAVPF 111");
        int c1 = Array.IndexOf(lines, "a=candidate:1 1 udp 2122260223 192.168.1.5 50000 typ host");
        int c2 = Array.IndexOf(lines, "a=candidate:2 1 udp 2122260223 192.168.1.5 50002 typ host");
        Assert.InRange(c1, m0 + 1, m1 - 1);
        Assert.True(c2 > m1);
        Assert.Equal(1, lines.Count(l => l.StartsWith("a=candidate:1 ", StringComparison.Ordinal)));
        Assert.EndsWith("\r\n", sdp, StringComparison.Ordinal);
        var back = TrickleOffer.CandidatesOf(sdp).ToList();
        Assert.Equal([("candidate:1 1 udp 2122260223 192.168.1.5 50000 typ host", "0", 0), ("candidate:2 1 udp 2122260223 192.168.1.5 50002 typ host", "1", 1)], back);
        OspBridge.WebRtc.Sdp.SessionDescription.Parse(sdp); // still valid SDP
    }

    [Theory]
    [InlineData("")]
    [InlineData("v=0\r\nthis is not sdp")]
    public void BadSdpIsRefused(string sdp)
    {
        Assert.False(TrickleOffer.TryCreate(sdp, out _, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void MalformedAndExcessCandidatesAreDropped()
    {
        Assert.True(TrickleOffer.TryCreate(Offer, out var offer, out _));
        Assert.False(offer!.AddCandidate("not a candidate", "0", 0));
        Assert.False(offer.AddCandidate("candidate:1 1 udp 1 1.2.3.4 5 typ host\r\na=evil", "0", 0));
        Assert.False(offer.AddCandidate("candidate:" + new string('x', TrickleOffer.MaxCandidateLength), "0", 0));
        for (int i = 0; i < TrickleOffer.MaxCandidates; i++) Assert.True(offer.AddCandidate($"candidate:{i} 1 udp 1 10.0.0.1 {1000 + i} typ host", "0", 0));
        Assert.False(offer.AddCandidate("candidate:x 1 udp 1 10.0.0.1 9 typ host", "0", 0));
        Assert.Equal(TrickleOffer.MaxCandidates, offer.CandidateCount);
        Assert.DoesNotContain("evil", offer.BuildSdp(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitEndsAtEndOfCandidatesAndSeals()
    {
        Assert.True(TrickleOffer.TryCreate(Offer, out var offer, out _));
        var wait = offer!.WaitForCandidatesAsync(TimeProvider.System, CancellationToken.None);
        Assert.True(offer.AddCandidate("candidate:1 1 udp 1 10.0.0.1 9 typ host", "0", 0));
        Assert.True(offer.AddCandidate(null, null, null)); // end-of-candidates
        await wait.WaitAsync(TimeSpan.FromSeconds(1));
        Assert.False(offer.AddCandidate("candidate:2 1 udp 1 10.0.0.1 10 typ host", "0", 0)); // sealed: the offer went out
        Assert.Equal(1, offer.CandidateCount);
    }
}
