using OspBridge.PeerFetch.Core;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Tests;

/// <summary>The sans-IO core alone: messages and virtual time in, messages/events/deadlines out.</summary>
public class MuxTests
{
    private static readonly TimeSpan T0 = TimeSpan.FromSeconds(100);

    internal sealed class Pair
    {
        public PeerFetchMux A { get; }
        public PeerFetchMux B { get; }
        public List<MuxEvent> EventsA { get; } = [];
        public List<MuxEvent> EventsB { get; } = [];
        public List<byte[]> WireAtoB { get; } = [];
        public List<byte[]> WireBtoA { get; } = [];

        public Pair(PeerFetchSettings? a = null, PeerFetchSettings? b = null, long maxMessage = 0)
        {
            A = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = true, LocalSettings = a ?? PeerFetchSettings.Default, MaxMessageSize = maxMessage });
            B = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = false, LocalSettings = b ?? PeerFetchSettings.Default, MaxMessageSize = maxMessage });
            A.Start(T0);
            B.Start(T0);
            Pump();
        }

        public void Pump()
        {
            for (int round = 0; round < 100; round++)
            {
                bool any = false;
                while (A.TryPollMessage(out var m)) { WireAtoB.Add(m); B.Receive(m, false, T0); any = true; }
                while (B.TryPollMessage(out var m)) { WireBtoA.Add(m); A.Receive(m, false, T0); any = true; }
                while (A.TryPollEvent(out var e)) EventsA.Add(e);
                while (B.TryPollEvent(out var e)) EventsB.Add(e);
                if (!any) return;
            }
        }
    }

    private static readonly KeyValuePair<string, string>[] Get = [new(":method", "GET"), new(":path", "/"), new(":authority", "x")];

    [Fact]
    public void Negotiation_both_hellos_then_open()
    {
        var p = new Pair();
        Assert.Equal(MuxState.Open, p.A.State);
        Assert.Equal(MuxState.Open, p.B.State);
        Assert.Contains(p.EventsA, e => e.Type == MuxEventType.Negotiated);
        Assert.Null(p.A.NextDeadline);
    }

    [Fact]
    public void Text_answer_means_v1_and_silence_times_out()
    {
        var a = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = true, NegotiationTimeout = TimeSpan.FromSeconds(3) });
        a.Start(T0);
        Assert.Equal(T0 + TimeSpan.FromSeconds(3), a.NextDeadline);
        a.Receive("""{"status":202}"""u8.ToArray(), isText: true, T0);
        Assert.True(a.TryPollEvent(out var e));
        Assert.Equal(MuxEventType.PeerIsV1, e.Type);

        var b = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = true, NegotiationTimeout = TimeSpan.FromSeconds(3) });
        b.Start(T0);
        b.HandleDeadline(T0 + TimeSpan.FromSeconds(2.9));
        Assert.False(b.TryPollEvent(out _));
        b.HandleDeadline(T0 + TimeSpan.FromSeconds(3));
        Assert.True(b.TryPollEvent(out e));
        Assert.Equal(MuxEventType.NegotiationTimedOut, e.Type);
        Assert.Equal(MuxState.Closed, b.State);
    }

    [Fact]
    public void Same_role_on_both_ends_is_a_protocol_error()
    {
        var a = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = true });
        var b = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = true });
        a.Start(T0); b.Start(T0);
        Assert.True(b.TryPollMessage(out var hello));
        a.Receive(hello, false, T0);
        Assert.Equal(MuxState.Closed, a.State);
        Assert.Contains(Drain(a), e => e.Type == MuxEventType.ConnectionError);
    }

    private static List<MuxEvent> Drain(PeerFetchMux m)
    {
        var l = new List<MuxEvent>();
        while (m.TryPollEvent(out var e)) l.Add(e);
        return l;
    }

    [Fact]
    public void Stream_credit_limits_data_and_window_updates_release_it()
    {
        var small = PeerFetchSettings.Default with { InitialStreamWindow = 4096, InitialChannelWindow = 1 << 20 };
        var p = new Pair(b: small);
        uint id = p.A.OpenStream([new(":method", "POST"), new(":path", "/u")], endStream: false);
        p.Pump();
        var data = new byte[10_000];
        Assert.Equal(4096, p.A.SendData(id, data, endStream: true));
        Assert.Equal(0, p.A.SendCredit(id));
        p.Pump();
        var got = p.EventsB.Where(e => e.Type == MuxEventType.Data).Sum(e => e.Data.Length);
        Assert.Equal(4096, got);
        // B's application consumes: at half the window a WINDOW_UPDATE goes out.
        p.B.Consume(id, 2048);
        p.Pump();
        Assert.Contains(p.EventsA, e => e.Type == MuxEventType.Credit && e.StreamId == id);
        Assert.Equal(2048, p.A.SendCredit(id));
        Assert.Equal(2048, p.A.SendData(id, data.AsSpan(4096), endStream: true));
    }

    [Fact]
    public void Peer_exceeding_stream_window_is_reset_and_channel_window_is_fatal()
    {
        var small = PeerFetchSettings.Default with { InitialStreamWindow = 1024, InitialChannelWindow = 4096, MaxFramePayload = 16384 };
        var p = new Pair(b: small);
        uint id = p.A.OpenStream([new(":method", "POST"), new(":path", "/u")], endStream: false);
        p.Pump();
        // A misbehaving peer ignores credit: a raw 2000-byte DATA frame on a 1024 window.
        p.B.Receive(DataFrame.Create(id, new byte[2000], endStream: false), false, T0);
        var outFrames = new List<byte[]>();
        while (p.B.TryPollMessage(out var f)) outFrames.Add(f);
        var rst = Assert.Single(outFrames, f => f[3] == (byte)FrameType.Reset);
        Assert.True(FrameHeader.TryRead(rst, out var h));
        Assert.True(ResetFrame.TryRead(h, rst.AsSpan(FrameHeader.Size), out var code));
        Assert.Equal(PeerFetchErrorCode.FlowControlError, code);
        // 5000 bytes on other streams exceed the 4096 channel window: GOAWAY FLOW_CONTROL_ERROR, everything reset.
        uint id2 = 3;
        p.B.Receive(HeadersFrame.Create(id2, [new(":method", "POST"), new(":path", "/v")], false), false, T0);
        p.B.Receive(DataFrame.Create(id2, new byte[1000], false), false, T0);
        p.B.Receive(DataFrame.Create(id2, new byte[4000], false), false, T0);
        Assert.Equal(MuxState.Closed, p.B.State);
        var frames = new List<byte[]>();
        while (p.B.TryPollMessage(out var m)) frames.Add(m);
        Assert.Contains(frames, f => f[3] == (byte)FrameType.GoAway);
    }

    [Fact]
    public void Concurrency_limit_is_respected_and_enforced()
    {
        var p = new Pair(b: PeerFetchSettings.Default with { MaxConcurrentStreams = 1 });
        p.A.OpenStream(Get, endStream: true);
        var ex = Assert.Throws<PeerFetchException>(() => p.A.OpenStream(Get, endStream: true));
        Assert.Equal(PeerFetchError.LimitExceeded, ex.Error);
        p.Pump();
        // A peer that ignores the limit gets REFUSED_STREAM.
        p.B.Receive(HeadersFrame.Create(3, Get, endStream: true), false, T0);
        Assert.True(p.B.TryPollMessage(out var rst));
        Assert.True(FrameHeader.TryRead(rst, out var h));
        Assert.True(ResetFrame.TryRead(h, rst.AsSpan(FrameHeader.Size), out var code));
        Assert.Equal((3u, PeerFetchErrorCode.RefusedStream), (h.StreamId, code));
    }

    [Fact]
    public void Request_response_trailers_reset_ping_goaway()
    {
        var p = new Pair();
        uint id = p.A.OpenStream(Get, endStream: true);
        p.Pump();
        var opened = Assert.Single(p.EventsB, e => e.Type == MuxEventType.StreamOpened);
        Assert.True(opened.EndStream);
        p.B.SendHeaders(id, [new(":status", "200")], endStream: false);
        Assert.Equal(5, p.B.SendData(id, "hello"u8, endStream: false));
        p.B.SendHeaders(id, [new("x-sum", "1")], endStream: true);
        Assert.Equal(0, p.B.ActiveStreams);
        p.Pump();
        var heads = p.EventsA.Where(e => e.Type == MuxEventType.Headers).ToList();
        Assert.Equal(2, heads.Count);
        Assert.Equal("200", heads[0].Headers![0].Value);
        Assert.True(heads[1].EndStream);
        Assert.Equal(0, p.A.ActiveStreams);

        uint id2 = p.A.OpenStream(Get, endStream: true);
        p.A.Reset(id2, PeerFetchErrorCode.Cancel);
        p.Pump();
        Assert.Contains(p.EventsB, e => e.Type == MuxEventType.StreamReset && e.StreamId == id2 && e.Code == PeerFetchErrorCode.Cancel);

        p.A.Ping(77);
        p.Pump();
        Assert.Contains(p.EventsA, e => e.Type == MuxEventType.PingAck && e.Opaque == 77);

        uint id3 = p.A.OpenStream(Get, endStream: true);
        p.Pump();
        p.B.GoAway(PeerFetchErrorCode.NoError, "bye");
        uint id4 = p.A.OpenStream(Get, endStream: true); // crosses the GOAWAY on the wire
        p.Pump();
        Assert.True(p.A.PeerGoingAway);
        Assert.Contains(p.EventsA, e => e.Type == MuxEventType.StreamReset && e.StreamId == id4 && e.Code == PeerFetchErrorCode.RefusedStream);
        Assert.DoesNotContain(p.EventsA, e => e.Type == MuxEventType.StreamReset && e.StreamId == id3);
        Assert.Equal(PeerFetchError.GoingAway, Assert.Throws<PeerFetchException>(() => p.A.OpenStream(Get, true)).Error);
    }

    [Fact]
    public void Data_frames_respect_the_channel_max_message_size()
    {
        var p = new Pair(maxMessage: 16384);
        uint id = p.A.OpenStream([new(":method", "POST"), new(":path", "/u")], endStream: false);
        p.Pump();
        p.A.SendData(id, new byte[100_000], endStream: true);
        p.Pump();
        Assert.All(p.WireAtoB, m => Assert.True(m.Length <= 16384));
        Assert.Equal(100_000, p.EventsB.Where(e => e.Type == MuxEventType.Data).Sum(e => e.Data.Length));
    }
}
