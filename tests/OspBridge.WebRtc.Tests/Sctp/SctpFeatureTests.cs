using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.Sctp;

public class SctpFeatureTests
{
    private static SctpOptions Opt(bool client) => new() { IsDtlsClient = client, RemoteMaxMessageSize = 262_144 };

    private static SctpTestPair Connected(VirtualLinkOptions? ab = null, VirtualLinkOptions? ba = null, SctpOptions? a = null, SctpOptions? b = null)
    {
        var p = new SctpTestPair(a ?? Opt(true), b ?? Opt(false), ab, ba);
        p.ConnectBoth();
        return p;
    }

    private static List<SctpEvent> Messages(List<SctpEvent> events) => events.Where(e => e.Kind == SctpEventKind.MessageReceived).ToList();

    [Fact]
    public void Unordered_AllMessagesArrive_SomeOutOfOrderUnderReordering()
    {
        var p = Connected(new VirtualLinkOptions { ReorderRate = 0.5, ReorderDelay = TimeSpan.FromMilliseconds(50), Seed = 21 });
        const int count = 300;
        for (int i = 0; i < count; i++)
        {
            p.A.Send(2, 53, BitConverter.GetBytes(i), new SctpSendOptions { Ordered = false }, p.Now);
        }
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == count));
        var got = Messages(p.EventsB).Select(e => BitConverter.ToInt32(e.Data!)).ToList();
        Assert.Equal(Enumerable.Range(0, count), got.Order());
        Assert.NotEqual(Enumerable.Range(0, count), got); // reordering shows through unordered delivery
        Assert.All(Messages(p.EventsB), e => Assert.True(e.Unordered));
    }

    [Fact]
    public void Ordered_StaysInOrderUnderReorderingAndLoss()
    {
        var p = Connected(new VirtualLinkOptions { ReorderRate = 0.5, LossRate = 0.1, ReorderDelay = TimeSpan.FromMilliseconds(50), Seed = 22 });
        const int count = 300;
        for (int i = 0; i < count; i++)
        {
            p.A.Send(2, 53, BitConverter.GetBytes(i), SctpSendOptions.Reliable, p.Now);
        }
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == count));
        Assert.Equal(Enumerable.Range(0, count), Messages(p.EventsB).Select(e => BitConverter.ToInt32(e.Data!)));
    }

    [Fact]
    public void PartialReliability_MaxRetransmitsZero_AbandonsAndForwardTsnMovesPeerCumulativeTsn()
    {
        var p = Connected(new VirtualLinkOptions { LossRate = 0.3, Seed = 23 });
        const int count = 400;
        for (int i = 0; i < count; i++)
        {
            var msg = new byte[3000];
            BitConverter.GetBytes(i).CopyTo(msg, 0);
            p.A.Send(4, 53, msg, new SctpSendOptions { Ordered = true, MaxRetransmits = 0 }, p.Now);
        }
        // Everything the sender gave a TSN is acknowledged or abandoned, and the peer's cumulative TSN reached the end.
        Assert.True(p.RunUntil(() => p.A.OutstandingChunks == 0 && p.A.BufferedAmount == 0, TimeSpan.FromSeconds(60)));
        Assert.Equal(p.A.NextTsn - 1, p.B.PeerCumulativeTsn);
        var got = Messages(p.EventsB).Select(e => BitConverter.ToInt32(e.Data!)).ToList();
        Assert.True(got.Count < count, "with 30% loss and no retransmissions some messages must be lost");
        Assert.True(got.Count > count / 4);
        Assert.Equal(got.Order(), got); // ordered channel: delivered in order, with holes
        Assert.All(Messages(p.EventsB), e => Assert.Equal(3000, e.Data!.Length)); // never a partial message
        // The stream keeps working after abandonments.
        p.A.Send(4, 51, "after"u8, SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Any(e => e.Ppid == 51)));
    }

    [Theory]
    [InlineData(false, 500)]
    [InlineData(true, 500)]
    [InlineData(true, 7000)]
    [InlineData(false, 7000)]
    public void PartialReliability_MaxLifetime_AbandonsExpiredMessages(bool ordered, int size)
    {
        // A dead link for a while: messages with a 100 ms lifetime expire; the reliable one still arrives later.
        bool linkUp = true;
        var p = Connected(new VirtualLinkOptions { Seed = 24, Filter = _ => linkUp });
        linkUp = false;
        for (int i = 0; i < 20; i++)
        {
            p.A.Send(6, 53, new byte[size], new SctpSendOptions { Ordered = ordered, MaxLifetime = TimeSpan.FromMilliseconds(100) }, p.Now);
        }
        p.RunUntil(() => false, TimeSpan.FromSeconds(2));
        linkUp = true;
        p.A.Send(6, 51, "reliable"u8, SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Any(e => e.Ppid == 51) && p.A.OutstandingChunks == 0, TimeSpan.FromSeconds(30)));
        Assert.DoesNotContain(Messages(p.EventsB), e => e.Ppid == 53);
        Assert.Equal(p.A.NextTsn - 1, p.B.PeerCumulativeTsn);
    }

    [Fact]
    public void StreamReset_BothDirections_ResetsSsnsAndReportsOnBothSides()
    {
        var p = Connected();
        p.A.Send(8, 51, "before"u8, SctpSendOptions.Reliable, p.Now);
        p.B.Send(8, 51, "reply"u8, SctpSendOptions.Reliable, p.Now);
        p.A.ResetOutgoingStreams([8]);
        Assert.Throws<WebRtcException>(() => p.A.Send(8, 51, "x"u8, SctpSendOptions.Reliable, p.Now));
        Assert.True(p.RunUntil(() => p.EventsB.Any(e => e.Kind == SctpEventKind.IncomingStreamReset && e.StreamId == 8)));
        // The message queued before the reset is delivered before the reset event.
        int msg = p.EventsB.FindIndex(e => e.Kind == SctpEventKind.MessageReceived);
        int reset = p.EventsB.FindIndex(e => e.Kind == SctpEventKind.IncomingStreamReset);
        Assert.True(msg >= 0 && msg < reset);
        p.B.ResetOutgoingStreams([8]);
        Assert.True(p.RunUntil(() => p.EventsA.Any(e => e.Kind == SctpEventKind.IncomingStreamReset && e.StreamId == 8)
            && p.EventsA.Any(e => e.Kind == SctpEventKind.OutgoingStreamReset && e.StreamId == 8)
            && p.EventsB.Any(e => e.Kind == SctpEventKind.OutgoingStreamReset && e.StreamId == 8)));
        // Reused stream: SSNs restart at 0 on both sides and messages flow again.
        p.A.Send(8, 51, "again"u8, SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == 2));
        Assert.Equal("again"u8.ToArray(), Messages(p.EventsB)[1].Data);
    }

    [Fact]
    public void StreamReset_WaitsForOutstandingDataUnderLoss()
    {
        var p = Connected(new VirtualLinkOptions { LossRate = 0.2, Seed = 25 }, new VirtualLinkOptions { LossRate = 0.2, Seed = 26 });
        for (int i = 0; i < 50; i++)
        {
            p.A.Send(10, 53, new byte[2000], SctpSendOptions.Reliable, p.Now);
        }
        p.A.ResetOutgoingStreams([10]);
        Assert.True(p.RunUntil(() => p.EventsA.Any(e => e.Kind == SctpEventKind.OutgoingStreamReset), TimeSpan.FromSeconds(60)));
        Assert.Equal(50, Messages(p.EventsB).Count);
        Assert.Equal(SctpEventKind.IncomingStreamReset, p.EventsB.Last(e => e.Kind != SctpEventKind.MessageReceived).Kind);
    }

    [Fact]
    public void TwentyStreamsAtOnce_AllMessagesArrivePerStreamInOrder()
    {
        var p = Connected(new VirtualLinkOptions { LossRate = 0.05, ReorderRate = 0.1, Seed = 27 });
        for (int round = 0; round < 20; round++)
        {
            for (ushort s = 0; s < 20; s++)
            {
                p.A.Send((ushort)(s * 2), 53, BitConverter.GetBytes((s * 1000) + round), SctpSendOptions.Reliable, p.Now);
                p.B.Send((ushort)((s * 2) + 1), 53, BitConverter.GetBytes((s * 1000) + round), SctpSendOptions.Reliable, p.Now);
            }
        }
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == 400 && Messages(p.EventsA).Count == 400, TimeSpan.FromSeconds(60)));
        foreach (var g in Messages(p.EventsB).GroupBy(e => e.StreamId))
        {
            int s = g.Key / 2;
            Assert.Equal(Enumerable.Range(0, 20).Select(r => (s * 1000) + r), g.Select(e => BitConverter.ToInt32(e.Data!)));
        }
        Assert.Equal(20, Messages(p.EventsA).Select(e => e.StreamId).Distinct().Count());
    }

    [Fact]
    public void Shutdown_DeliversQueuedDataThenClosesBothSides()
    {
        var p = Connected(new VirtualLinkOptions { LossRate = 0.1, Seed = 28 });
        for (int i = 0; i < 30; i++)
        {
            p.A.Send(0, 53, new byte[5000], SctpSendOptions.Reliable, p.Now);
        }
        p.A.Shutdown(p.Now);
        Assert.Throws<WebRtcException>(() => p.A.Send(0, 53, new byte[1], SctpSendOptions.Reliable, p.Now));
        Assert.True(p.RunUntil(() => p.A.State == SctpState.Closed && p.B.State == SctpState.Closed, TimeSpan.FromSeconds(60)));
        Assert.Equal(30, Messages(p.EventsB).Count);
        Assert.Contains(p.EventsA, e => e.Kind == SctpEventKind.Closed);
        Assert.Contains(p.EventsB, e => e.Kind == SctpEventKind.Closed);
        Assert.Null(p.A.NextDeadline);
    }

    [Fact]
    public void Abort_ReportsAbortedAtPeer()
    {
        var p = Connected();
        p.A.Abort();
        Assert.Equal(SctpState.Closed, p.A.State);
        Assert.True(p.RunUntil(() => p.B.State == SctpState.Closed));
        Assert.Equal(WebRtcError.Aborted, p.EventsB.Single(e => e.Kind == SctpEventKind.Aborted).Error);
        Assert.Contains(p.EventsA, e => e.Kind == SctpEventKind.Closed);
    }

    [Fact]
    public void DeadPeer_FailsAfterMaxRetransmissions()
    {
        bool up = true;
        var p = Connected(new VirtualLinkOptions { Seed = 29, Filter = _ => up });
        up = false;
        p.A.Send(0, 53, new byte[100], SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => p.A.State == SctpState.Closed, TimeSpan.FromMinutes(10)));
        Assert.Equal(WebRtcError.Timeout, p.EventsA.Single(e => e.Kind == SctpEventKind.Aborted).Error);
    }

    [Fact]
    public void Heartbeat_MeasuresRttWhenIdle()
    {
        var p = Connected(new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(40), Seed = 30 }, new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(40), Seed = 31 });
        Assert.Null(p.A.SmoothedRtt);
        Assert.True(p.RunUntil(() => p.A.SmoothedRtt is not null, TimeSpan.FromSeconds(90)));
        Assert.Equal(TimeSpan.FromMilliseconds(80), p.A.SmoothedRtt);
        Assert.Equal(SctpState.Established, p.A.State);
    }

    [Fact]
    public void Send_RejectsOversizeEmptyAndUnknownStream()
    {
        var p = Connected(a: Opt(true) with { RemoteMaxMessageSize = 1000 });
        Assert.Equal(WebRtcError.MessageTooLarge, Assert.Throws<WebRtcException>(() => p.A.Send(0, 53, new byte[1001], SctpSendOptions.Reliable, p.Now)).Error);
        Assert.Equal(WebRtcError.InvalidArgument, Assert.Throws<WebRtcException>(() => p.A.Send(0, 53, [], SctpSendOptions.Reliable, p.Now)).Error);
        Assert.Equal(WebRtcError.InvalidArgument, Assert.Throws<WebRtcException>(() => p.A.Send(5000, 53, new byte[1], SctpSendOptions.Reliable, p.Now)).Error);
        p.A.Send(0, 53, new byte[1000], SctpSendOptions.Reliable, p.Now);
    }

    [Fact]
    public void Send_BoundedBySendBuffer()
    {
        var p = Connected(a: Opt(true) with { SendBufferSize = 100_000 });
        for (int i = 0; i < 10; i++)
        {
            p.A.Send(0, 53, new byte[10_000], SctpSendOptions.Reliable, p.Now);
        }
        Assert.Equal(WebRtcError.SendBufferFull, Assert.Throws<WebRtcException>(() => p.A.Send(0, 53, new byte[1], SctpSendOptions.Reliable, p.Now)).Error);
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == 10));
        Assert.True(p.RunUntil(() => p.A.SendBufferUsed == 0));
        p.A.Send(0, 53, new byte[1], SctpSendOptions.Reliable, p.Now);
    }

    [Fact]
    public void Receive_OversizeMessageIsDiscardedAndReported_AssociationContinues()
    {
        var p = Connected(a: Opt(true) with { RemoteMaxMessageSize = 200_000 }, b: Opt(false) with { MaxMessageSize = 50_000 });
        p.A.Send(1, 53, new byte[120_000], SctpSendOptions.Reliable, p.Now);
        p.A.Send(3, 53, new byte[40_000], SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == 1 && p.EventsB.Any(e => e.Kind == SctpEventKind.MessageTooLarge)));
        Assert.Equal(1, p.EventsB.First(e => e.Kind == SctpEventKind.MessageTooLarge).StreamId);
        Assert.Equal(3, Messages(p.EventsB)[0].StreamId);
        Assert.True(p.RunUntil(() => p.B.ReceiveBufferUsed == 0 && p.A.OutstandingChunks == 0));
    }

    [Fact]
    public void Receive_WindowBoundsBufferingWhenApplicationDoesNotRead()
    {
        var p = new SctpTestPair(Opt(true), Opt(false) with { ReceiveWindow = 400_000 });
        p.ConnectBoth();
        p.DrainB = false;
        for (int i = 0; i < 100; i++)
        {
            p.A.Send(0, 53, new byte[20_000], SctpSendOptions.Reliable, p.Now);
        }
        p.RunUntil(() => false, TimeSpan.FromMinutes(5)); // a long stall: zero-window probing must not kill the association
        Assert.True(p.B.ReceiveBufferUsed <= 400_000 + 1200, $"buffered {p.B.ReceiveBufferUsed}");
        Assert.True(p.B.PendingEventCount < 30);
        Assert.Equal(SctpState.Established, p.A.State); // zero-window probing keeps the association alive
        p.DrainB = true;
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == 100, TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void Shutdown_UnderHeavyLoss_BothSidesCloseGracefully()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            // Loss starts after the handshake (whose own loss tolerance is tested elsewhere): 40 % each way.
            bool lossy = false;
            var rnd = new Random(seed);
            var p = new SctpTestPair(Opt(true), Opt(false), new VirtualLinkOptions { Seed = 100 + seed, Filter = _ => !lossy || rnd.NextDouble() >= 0.4 },
                new VirtualLinkOptions { Seed = 200 + seed, Filter = _ => !lossy || rnd.NextDouble() >= 0.4 });
            p.ConnectBoth();
            lossy = true;
            p.A.Send(0, 53, new byte[3000], SctpSendOptions.Reliable, p.Now);
            p.A.Shutdown(p.Now);
            Assert.True(p.RunUntil(() => p.A.State == SctpState.Closed && p.B.State == SctpState.Closed, TimeSpan.FromMinutes(5)), $"seed {seed}: A={p.A.State} B={p.B.State}");
            Assert.Contains(p.EventsA, e => e.Kind == SctpEventKind.Closed);
            Assert.Contains(p.EventsB, e => e.Kind == SctpEventKind.Closed);
            Assert.Single(p.EventsB, e => e.Kind == SctpEventKind.MessageReceived);
        }
    }

    [Fact]
    public void Connect_IsIdempotent_EvenAfterThePeersHandshakeEstablishedUs()
    {
        var p = new SctpTestPair(Opt(true), Opt(false));
        p.A.Connect(p.Now);
        Assert.True(p.RunUntil(() => p.B.State == SctpState.Established));
        p.B.Connect(p.Now); // the application connects late: nothing happens
        p.A.Connect(p.Now);
        p.B.Send(1, 51, "ok"u8, SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => p.EventsA.Any(e => e.Kind == SctpEventKind.MessageReceived)));
        Assert.Single(p.EventsB, e => e.Kind == SctpEventKind.Connected);
    }

    [Fact]
    public void Packets_WithBadChecksumPortsOrTag_AreDropped()
    {
        var p = Connected();
        var buf = new byte[1200];
        p.B.Send(1, 51, "x"u8, SctpSendOptions.Reliable, p.Now);
        Assert.True(p.B.TryPollTransmit(buf, p.Now, out var nTx));
        int n = nTx.Length;
        var pkt = buf.AsSpan(0, n).ToArray();
        long dropped = p.A.DroppedPackets;
        var badCrc = (byte[])pkt.Clone();
        badCrc[^1] ^= 1;
        p.A.Receive(badCrc, p.Now);
        var badPort = (byte[])pkt.Clone();
        badPort[1] ^= 1;
        OspBridge.WebRtc.Sctp.SctpCommonHeader.Seal(badPort);
        p.A.Receive(badPort, p.Now);
        var badTag = (byte[])pkt.Clone();
        badTag[4] ^= 1;
        OspBridge.WebRtc.Sctp.SctpCommonHeader.Seal(badTag);
        p.A.Receive(badTag, p.Now);
        Assert.Equal(dropped + 3, p.A.DroppedPackets);
        p.Flush();
        Assert.DoesNotContain(p.EventsA, e => e.Kind == SctpEventKind.MessageReceived);
        p.A.Receive(pkt, p.Now);
        p.Flush();
        Assert.Single(p.EventsA, e => e.Kind == SctpEventKind.MessageReceived);
    }

    [Fact]
    public void StaleCookie_PeerReportsIt_AndTheHandshakeRestartsWithInit()
    {
        SctpTestPair? pair = null;
        int cookieEchoes = 0, inits = 0;
        var p = new SctpTestPair(Opt(true), Opt(false) with { CookieLifetime = TimeSpan.FromSeconds(2) },
            new VirtualLinkOptions
            {
                Seed = 50,
                Filter = d =>
                {
                    if (d.Span[12] == 1)
                    {
                        inits++;
                    }
                    // Hold back COOKIE ECHOs for the first 5 s so the cookie goes stale.
                    return d.Span[12] != 10 || ++cookieEchoes > 0 && pair!.Now > TimeSpan.FromSeconds(6);
                },
            });
        pair = p;
        p.A.Connect(p.Now);
        Assert.True(p.RunUntil(() => p.A.State == SctpState.Established && p.B.State == SctpState.Established, TimeSpan.FromSeconds(60)));
        Assert.True(inits >= 2, "A must have restarted with a new INIT after the Stale Cookie error");
    }

    [Fact]
    public void Scheduler_RoundRobinBetweenStreams_SmallMessageIsNotStuckBehindBulk()
    {
        var p = Connected();
        for (int i = 0; i < 40; i++)
        {
            p.A.Send(1, 53, new byte[65_536], SctpSendOptions.Reliable, p.Now);
        }
        p.A.Send(3, 51, "urgent"u8, SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == 41));
        int urgent = Messages(p.EventsB).FindIndex(e => e.StreamId == 3);
        Assert.True(urgent <= 2, $"the small message on another stream arrived as #{urgent}");
        Assert.Equal(40, Messages(p.EventsB).Count(e => e.StreamId == 1));
    }

    [Fact]
    public void IncomingSsnResetRequest_MakesUsResetOurOutgoingStream()
    {
        var p = Connected();
        p.A.Send(9, 51, "before"u8, SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => Messages(p.EventsB).Count == 1));
        // Craft B's "please reset your outgoing stream 9" (RFC 6525 §4.2); B has sent no request yet, so its request
        // sequence number is still its initial TSN, which equals its next TSN since B sent no DATA.
        var pkt = new byte[64];
        new SctpCommonHeader(5000, 5000, p.A.LocalTag).Write(pkt);
        var chunk = pkt.AsSpan(SctpCommonHeader.Length);
        int plen = OspBridge.WebRtc.Sctp.Parameters.IncomingSsnResetRequestParameter.Write(chunk.Slice(4), p.B.NextTsn, [9]);
        int n = SctpCommonHeader.Length + OspBridge.WebRtc.Sctp.Chunks.ReconfigChunk.WriteHeader(chunk, 4 + 4 + 2);
        SctpCommonHeader.Seal(pkt.AsSpan(0, n));
        _ = plen;
        p.A.Receive(pkt.AsSpan(0, n), p.Now);
        Assert.True(p.A.IsOutgoingResetPending(9));
        Assert.True(p.RunUntil(() => p.EventsB.Any(e => e.Kind == SctpEventKind.IncomingStreamReset && e.StreamId == 9)
            && p.EventsA.Any(e => e.Kind == SctpEventKind.OutgoingStreamReset && e.StreamId == 9)));
        Assert.Equal(SctpState.Established, p.A.State);
    }
}
