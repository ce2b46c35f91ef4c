using OspBridge.Net.Channels;
using OspBridge.Net.Simulation;
using OspBridge.WebRtc.DataChannels;

namespace OspBridge.WebRtc.Tests.DataChannels;

public class DataChannelEndpointTests
{
    private static List<DataChannelEvent> Of(List<DataChannelEvent> events, DataChannelEventKind kind) => events.Where(e => e.Kind == kind).ToList();

    [Fact]
    public void Dcep_OpenAckRoundTrip_EvenIdForDtlsClient_OddForServer()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        ushort a = p.A.OpenChannel("chat", new DataChannelOptions { Protocol = "json" }, p.Now);
        ushort b = p.B.OpenChannel("files", new DataChannelOptions { Ordered = false, MaxRetransmits = 3 }, p.Now);
        Assert.Equal(0, a);
        Assert.Equal(1, b);
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.ChannelOpened).Count == 2 && Of(p.EventsA, DataChannelEventKind.ChannelOpened).Count == 2));
        var remoteAtB = Of(p.EventsB, DataChannelEventKind.ChannelOpened).Single(e => e.IsRemote);
        Assert.Equal((ushort)0, remoteAtB.ChannelId);
        Assert.Equal("chat", remoteAtB.Label);
        Assert.Equal("json", remoteAtB.Options!.Protocol);
        Assert.True(remoteAtB.Options.Ordered);
        Assert.Null(remoteAtB.Options.MaxRetransmits);
        var remoteAtA = Of(p.EventsA, DataChannelEventKind.ChannelOpened).Single(e => e.IsRemote);
        Assert.Equal((ushort)1, remoteAtA.ChannelId);
        Assert.Equal("files", remoteAtA.Label);
        Assert.False(remoteAtA.Options!.Ordered);
        Assert.Equal(3, remoteAtA.Options.MaxRetransmits);
        Assert.Equal(MessageChannelState.Open, p.A.GetState(0));
        Assert.Equal(MessageChannelState.Open, p.B.GetState(0));
    }

    [Fact]
    public void ChannelOpenedBeforeConnect_OpensOnceAssociationIsUp()
    {
        var p = new DataChannelTestPair();
        ushort id = p.A.OpenChannel("early", new DataChannelOptions(), p.Now);
        Assert.Equal(MessageChannelState.Connecting, p.A.GetState(id));
        p.Connect();
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.ChannelOpened).Count == 1));
        Assert.Equal("early", Of(p.EventsB, DataChannelEventKind.ChannelOpened)[0].Label);
    }

    [Fact]
    public void TextBinaryAndEmptyMessages_KeepTheirKind()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        ushort id = p.A.OpenChannel("m", new DataChannelOptions(), p.Now);
        p.A.Send(id, "héllo"u8, isText: true, p.Now);
        p.A.Send(id, new byte[] { 1, 2, 3 }, isText: false, p.Now);
        p.A.Send(id, [], isText: true, p.Now);
        p.A.Send(id, [], isText: false, p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived).Count == 4));
        var m = Of(p.EventsB, DataChannelEventKind.MessageReceived);
        Assert.True(m[0].IsText);
        Assert.Equal("héllo"u8.ToArray(), m[0].Payload);
        Assert.False(m[1].IsText);
        Assert.Equal(new byte[] { 1, 2, 3 }, m[1].Payload);
        Assert.True(m[2].IsText);
        Assert.Empty(m[2].Payload!);
        Assert.False(m[3].IsText);
        Assert.Empty(m[3].Payload!);
    }

    [Fact]
    public void NegotiatedChannels_SkipDcep_AndTalkOnTheChosenId()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        var opts = new DataChannelOptions { Negotiated = true, Id = 7 };
        Assert.Equal(7, p.A.OpenChannel("neg", opts, p.Now));
        Assert.Equal(7, p.B.OpenChannel("neg", opts, p.Now));
        p.A.Send(7, "ping"u8, true, p.Now);
        p.B.Send(7, "pong"u8, true, p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsA, DataChannelEventKind.MessageReceived).Count == 1 && Of(p.EventsB, DataChannelEventKind.MessageReceived).Count == 1));
        Assert.All(Of(p.EventsA, DataChannelEventKind.ChannelOpened), e => Assert.False(e.IsRemote));
        Assert.All(Of(p.EventsB, DataChannelEventKind.ChannelOpened), e => Assert.False(e.IsRemote));
        Assert.Equal("pong"u8.ToArray(), Of(p.EventsA, DataChannelEventKind.MessageReceived)[0].Payload);
    }

    [Fact]
    public void Close_FromEitherSide_IsSeenByBoth_AndIdIsReusable()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        ushort a = p.A.OpenChannel("x", new DataChannelOptions(), p.Now);
        ushort b = p.B.OpenChannel("y", new DataChannelOptions(), p.Now);
        p.A.Send(a, "last words"u8, true, p.Now);
        p.A.CloseChannel(a, p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsA, DataChannelEventKind.ChannelClosed).Any(e => e.ChannelId == a)
            && Of(p.EventsB, DataChannelEventKind.ChannelClosed).Any(e => e.ChannelId == a)));
        Assert.Single(Of(p.EventsB, DataChannelEventKind.MessageReceived));
        Assert.Equal(MessageChannelState.Closed, p.A.GetState(a));
        p.B.CloseChannel(b, p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsA, DataChannelEventKind.ChannelClosed).Any(e => e.ChannelId == b)
            && Of(p.EventsB, DataChannelEventKind.ChannelClosed).Any(e => e.ChannelId == b)));
        Assert.Equal(a, p.A.OpenChannel("again", new DataChannelOptions(), p.Now));
        p.A.Send(a, "hello again"u8, true, p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived).Count == 2));
        Assert.Equal("again", Of(p.EventsB, DataChannelEventKind.ChannelOpened).Last().Label);
    }

    [Fact]
    public void TwentyChannelsAtOnce_EchoOverLossyLink()
    {
        var p = new DataChannelTestPair(new VirtualLinkOptions { LossRate = 0.05, ReorderRate = 0.1, Seed = 41 }, new VirtualLinkOptions { LossRate = 0.05, Seed = 42 });
        p.Connect();
        var ids = Enumerable.Range(0, 20).Select(i => p.A.OpenChannel($"c{i}", new DataChannelOptions(), p.Now)).ToList();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (ushort)(2 * i)), ids);
        int echoed = 0;
        p.OnStep = pair =>
        {
            foreach (var e in pair.EventsB.Where(e => e.Kind == DataChannelEventKind.MessageReceived).ToList())
            {
                pair.B.Send(e.ChannelId, e.Payload, e.IsText, pair.Now);
                echoed++;
            }
            pair.EventsB.RemoveAll(e => e.Kind == DataChannelEventKind.MessageReceived);
        };
        foreach (var id in ids)
        {
            for (int k = 0; k < 10; k++)
            {
                p.A.Send(id, System.Text.Encoding.UTF8.GetBytes($"{id}:{k}"), true, p.Now);
            }
        }
        Assert.True(p.RunUntil(() => Of(p.EventsA, DataChannelEventKind.MessageReceived).Count == 200, TimeSpan.FromSeconds(60)));
        foreach (var g in Of(p.EventsA, DataChannelEventKind.MessageReceived).GroupBy(e => e.ChannelId))
        {
            Assert.Equal(Enumerable.Range(0, 10).Select(k => $"{g.Key}:{k}"), g.Select(e => System.Text.Encoding.UTF8.GetString(e.Payload!)));
        }
        Assert.Equal(200, echoed);
    }

    [Fact]
    public void MaxMessageSize_EnforcedOnSend()
    {
        var p = new DataChannelTestPair(maxMessage: 1000);
        p.Connect();
        ushort id = p.A.OpenChannel("m", new DataChannelOptions(), p.Now);
        Assert.Equal(WebRtcError.MessageTooLarge, Assert.Throws<WebRtcException>(() => p.A.Send(id, new byte[1001], false, p.Now)).Error);
        p.A.Send(id, new byte[1000], false, p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived).Count == 1));
    }

    [Fact]
    public void BufferedAmount_TracksQueue_AndLowThresholdFires()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        ushort id = p.A.OpenChannel("b", new DataChannelOptions(), p.Now);
        p.Flush();
        p.EventsA.Clear(); // the DCEP OPEN leaving the queue already crossed the default threshold 0
        p.A.SetBufferedAmountLowThreshold(id, 10_000);
        for (int i = 0; i < 10; i++)
        {
            p.A.Send(id, new byte[50_000], false, p.Now);
        }
        Assert.Equal(500_000, p.A.GetBufferedAmount(id));
        Assert.True(p.RunUntil(() => Of(p.EventsA, DataChannelEventKind.BufferedAmountLow).Count > 0));
        Assert.True(p.A.GetBufferedAmount(id) <= 10_000, $"buffered {p.A.GetBufferedAmount(id)} events {string.Join(",", p.EventsA.Select(e => e.Kind + ":" + e.ChannelId))}");
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived).Count == 10));
        Assert.Equal(0, p.A.GetBufferedAmount(id));
    }

    [Fact]
    public void UnreliableChannel_LossyLink_DropsButNeverCorrupts()
    {
        var p = new DataChannelTestPair(new VirtualLinkOptions { LossRate = 0.3, Seed = 43 });
        p.Connect();
        ushort id = p.A.OpenChannel("u", new DataChannelOptions { Ordered = false, MaxRetransmits = 0 }, p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.ChannelOpened).Count == 1 && Of(p.EventsA, DataChannelEventKind.ChannelOpened).Count == 1));
        p.RunUntil(() => false, TimeSpan.FromSeconds(2)); // let the DCEP ACK arrive so unordered sending starts
        for (int i = 0; i < 200; i++)
        {
            var m = new byte[2500];
            Array.Fill(m, (byte)i);
            p.A.Send(id, m, false, p.Now);
        }
        Assert.True(p.RunUntil(() => p.A.Association.OutstandingChunks == 0 && p.A.Association.BufferedAmount == 0, TimeSpan.FromSeconds(60)));
        var got = Of(p.EventsB, DataChannelEventKind.MessageReceived);
        Assert.InRange(got.Count, 20, 199);
        Assert.All(got, e => Assert.True(e.Payload!.Length == 2500 && e.Payload.All(x => x == e.Payload[0])));
    }

    [Fact]
    public void Shutdown_ClosesAllChannelsOnBothSides()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        p.A.OpenChannel("1", new DataChannelOptions(), p.Now);
        p.A.OpenChannel("2", new DataChannelOptions(), p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.ChannelOpened).Count == 2));
        p.A.Shutdown(p.Now);
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.Disconnected).Count == 1 && Of(p.EventsA, DataChannelEventKind.Disconnected).Count == 1));
        Assert.Equal(2, Of(p.EventsB, DataChannelEventKind.ChannelClosed).Count);
        Assert.Equal(2, Of(p.EventsA, DataChannelEventKind.ChannelClosed).Count);
        Assert.Equal(WebRtcError.Closed, Of(p.EventsB, DataChannelEventKind.Disconnected)[0].Error);
    }

    [Fact]
    public void LargeMessages_1BTo256KiB_ArriveIntact()
    {
        var p = new DataChannelTestPair(new VirtualLinkOptions { LossRate = 0.02, Seed = 44 });
        p.Connect();
        ushort id = p.A.OpenChannel("big", new DataChannelOptions(), p.Now);
        var sizes = new[] { 1, 2, 1000, 1200, 16_384, 65_535, 65_536, 100_000, 262_144 };
        var rnd = new Random(45);
        var sent = sizes.Select(s => { var b = new byte[s]; rnd.NextBytes(b); return b; }).ToList();
        foreach (var m in sent)
        {
            p.A.Send(id, m, false, p.Now);
        }
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived).Count == sizes.Length, TimeSpan.FromSeconds(60)));
        Assert.Equal(sent, Of(p.EventsB, DataChannelEventKind.MessageReceived).Select(e => e.Payload!));
    }

    [Fact]
    public void TenMegabytes_OverAChannel_ByteExact_UnderLossReorderingAndDuplication()
    {
        var p = new DataChannelTestPair(
            new VirtualLinkOptions { LossRate = 0.1, ReorderRate = 0.1, DuplicateRate = 0.05, Seed = 51 },
            new VirtualLinkOptions { LossRate = 0.1, ReorderRate = 0.1, DuplicateRate = 0.05, Seed = 52 });
        p.Connect();
        ushort id = p.A.OpenChannel("bulk", new DataChannelOptions(), p.Now);
        const long total = 10_000_000;
        var rnd = new Random(53);
        using var sent = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var got = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        long queued = 0, received = 0;
        p.A.SetBufferedAmountLowThreshold(id, 256 * 1024);
        p.OnStep = pair =>
        {
            while (queued < total && pair.A.GetBufferedAmount(id) < 1 << 20)
            {
                var m = new byte[(int)Math.Min(total - queued, rnd.Next(1, 262_144))];
                rnd.NextBytes(m);
                sent.AppendData(m);
                pair.A.Send(id, m, false, pair.Now);
                queued += m.Length;
            }
            foreach (var e in pair.EventsB)
            {
                if (e.Kind == DataChannelEventKind.MessageReceived)
                {
                    got.AppendData(e.Payload!);
                    received += e.Payload!.Length;
                }
            }
            pair.EventsB.Clear();
        };
        Assert.True(p.RunUntil(() => received == total, TimeSpan.FromHours(1)), $"received {received}");
        Assert.Equal(sent.GetHashAndReset(), got.GetHashAndReset());
    }
}
