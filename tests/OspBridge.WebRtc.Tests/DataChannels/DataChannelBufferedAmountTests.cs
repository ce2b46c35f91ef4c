using OspBridge.WebRtc.DataChannels;

namespace OspBridge.WebRtc.Tests.DataChannels;

/// <summary>Per-channel buffered amount (W3C bufferedAmount) and the events a driver awaits instead of polling.</summary>
public class DataChannelBufferedAmountTests
{
    private static List<DataChannelEvent> Of(List<DataChannelEvent> events, DataChannelEventKind kind, ushort id) =>
        events.Where(e => e.Kind == kind && e.ChannelId == id).ToList();

    [Fact]
    public void ControlAndEmptyMessages_DoNotCount_AndFireNoLowEvent()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        ushort id = p.A.OpenChannel("c", new DataChannelOptions(), p.Now);
        Assert.Equal(0, p.A.GetBufferedAmount(id)); // the DCEP OPEN is queued but is not user data
        p.A.Send(id, [], isText: true, p.Now);
        Assert.Equal(0, p.A.GetBufferedAmount(id)); // an empty message adds 0 bytes (W3C), its placeholder byte is ours
        Assert.True(p.RunUntil(() => p.EventsB.Any(e => e.Kind == DataChannelEventKind.MessageReceived)));
        Assert.Empty(Of(p.EventsA, DataChannelEventKind.BufferedAmountLow, id));
        Assert.Empty(Of(p.EventsA, DataChannelEventKind.BufferedAmountChanged, id));
    }

    [Fact]
    public void Decreases_AreReportedCoalesced_DownToZero()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        ushort id = p.A.OpenChannel("c", new DataChannelOptions(), p.Now);
        ushort other = p.A.OpenChannel("idle", new DataChannelOptions(), p.Now);
        p.Flush();
        for (int i = 0; i < 10; i++)
        {
            p.A.Send(id, new byte[50_000], false, p.Now);
        }
        Assert.Equal(500_000, p.A.GetBufferedAmount(id));
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived, id).Count == 10));
        var changes = Of(p.EventsA, DataChannelEventKind.BufferedAmountChanged, id).Select(e => e.BufferedAmount).ToList();
        Assert.NotEmpty(changes);
        Assert.Equal(0, changes[^1]);
        for (int i = 1; i < changes.Count; i++)
        {
            Assert.True(changes[i] < changes[i - 1], $"not strictly decreasing at {i}: {string.Join(",", changes)}");
        }
        long packets = p.PacketsAtoB;
        Assert.True(changes.Count < packets / 2, $"{changes.Count} change events for {packets} packets: not coalesced");
        Assert.Empty(Of(p.EventsA, DataChannelEventKind.BufferedAmountChanged, other)); // nothing was queued there
    }

    [Fact]
    public void LowEvent_CarriesTheAmount_AndFiresOncePerCrossing()
    {
        var p = new DataChannelTestPair();
        p.Connect();
        ushort id = p.A.OpenChannel("c", new DataChannelOptions(), p.Now);
        p.Flush();
        p.A.SetBufferedAmountLowThreshold(id, 100_000);
        for (int i = 0; i < 8; i++)
        {
            p.A.Send(id, new byte[50_000], false, p.Now);
        }
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived, id).Count == 8));
        var low = Assert.Single(Of(p.EventsA, DataChannelEventKind.BufferedAmountLow, id));
        Assert.InRange(low.BufferedAmount, 0, 100_000);
        // A second burst crosses again: one more event.
        for (int i = 0; i < 4; i++)
        {
            p.A.Send(id, new byte[50_000], false, p.Now);
        }
        Assert.True(p.RunUntil(() => Of(p.EventsB, DataChannelEventKind.MessageReceived, id).Count == 12));
        Assert.Equal(2, Of(p.EventsA, DataChannelEventKind.BufferedAmountLow, id).Count);
        Assert.Equal(0, p.A.GetBufferedAmount(id));
    }
}
