using OspBridge.PeerFetch.Core;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Tests;

/// <summary>v2 keep-alive and idle timeout in the sans-IO core, in virtual time (docs/peerfetch.md §2.4).</summary>
public class KeepAliveTests
{
    private static readonly TimeSpan T0 = TimeSpan.FromSeconds(1000);
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(60);

    private sealed class Ends
    {
        public PeerFetchMux A { get; } = new(new PeerFetchMuxOptions { IsInitiator = true, KeepAliveInterval = KeepAlive, IdleTimeout = Idle });
        public PeerFetchMux B { get; } = new(new PeerFetchMuxOptions { IsInitiator = false, KeepAliveInterval = KeepAlive, IdleTimeout = Idle });
        public List<MuxEvent> EventsA { get; } = [];
        public List<byte[]> AtoB { get; } = [];
        public List<byte[]> BtoA { get; } = [];

        public Ends()
        {
            A.Start(T0);
            B.Start(T0);
            Deliver(T0);
        }

        /// <summary>Delivers everything queued both ways at <paramref name="now"/> (until quiet); returns the frames that went A→B.</summary>
        public void Deliver(TimeSpan now, bool dropAtoB = false, bool dropBtoA = false)
        {
            for (int round = 0; round < 20; round++)
            {
                bool any = false;
                while (A.TryPollMessage(out var m)) { AtoB.Add(m); if (!dropAtoB) B.Receive(m, false, now); any = true; }
                while (B.TryPollMessage(out var m)) { BtoA.Add(m); if (!dropBtoA) A.Receive(m, false, now); any = true; }
                while (A.TryPollEvent(out var e)) EventsA.Add(e);
                while (B.TryPollEvent(out _)) { }
                if (!any) return;
            }
        }
    }

    private static bool IsPing(byte[] m, bool ack) =>
        FrameHeader.TryRead(m, out var h) && h.Type == FrameType.Ping && ((h.Flags & FrameFlags.EndStream) != 0) == ack;

    [Fact]
    public void Silence_sends_one_ping_after_the_interval_and_the_ack_keeps_the_channel_open()
    {
        var e = new Ends();
        Assert.Equal(MuxState.Open, e.A.State);
        Assert.Equal(T0 + KeepAlive, e.A.NextDeadline);
        e.AtoB.Clear();

        // Before the interval nothing happens.
        e.A.HandleDeadline(T0 + KeepAlive - TimeSpan.FromMilliseconds(1));
        Assert.False(e.A.TryPollMessage(out _));

        // At the interval: one PING; the next deadline is the idle timeout (no second PING while it is unanswered).
        e.A.HandleDeadline(T0 + KeepAlive);
        Assert.True(e.A.TryPollMessage(out var ping));
        Assert.True(IsPing(ping, ack: false));
        Assert.False(e.A.TryPollMessage(out _));
        Assert.Equal(T0 + Idle, e.A.NextDeadline);
        e.A.HandleDeadline(T0 + KeepAlive + TimeSpan.FromSeconds(5));
        Assert.False(e.A.TryPollMessage(out _));

        // B answers (its own silence timer restarts on the PING); the ACK restarts A's and is not an application event.
        var at = T0 + KeepAlive + TimeSpan.FromSeconds(1);
        e.B.Receive(ping, false, at);
        e.Deliver(at);
        Assert.Contains(e.BtoA, m => IsPing(m, ack: true));
        Assert.DoesNotContain(e.EventsA, x => x.Type == MuxEventType.PingAck);
        Assert.Equal(at + KeepAlive, e.A.NextDeadline);
        Assert.Equal(at + KeepAlive, e.B.NextDeadline);

        // An hour of keep-alives both ways keeps both ends open.
        var now = at;
        for (int i = 0; i < 240; i++)
        {
            now += KeepAlive;
            e.A.HandleDeadline(now);
            e.B.HandleDeadline(now);
            e.Deliver(now);
        }
        Assert.Equal(MuxState.Open, e.A.State);
        Assert.Equal(MuxState.Open, e.B.State);
        Assert.DoesNotContain(e.EventsA, x => x.Type == MuxEventType.ConnectionError);
    }

    [Fact]
    public void A_silent_peer_closes_the_channel_at_the_idle_timeout_and_fails_open_streams()
    {
        var e = new Ends();
        uint id = e.A.OpenStream([new(":method", "GET"), new(":path", "/slow"), new(":authority", "x")], endStream: true);
        e.Deliver(T0);

        // From now on B's frames are lost (peer gone): A pings once, then gives up at T0 + Idle.
        e.A.HandleDeadline(T0 + KeepAlive);
        e.Deliver(T0 + KeepAlive, dropBtoA: true);
        Assert.Equal(MuxState.Open, e.A.State);
        e.A.HandleDeadline(T0 + Idle - TimeSpan.FromMilliseconds(1));
        Assert.Equal(MuxState.Open, e.A.State);
        e.A.HandleDeadline(T0 + Idle);
        e.Deliver(T0 + Idle, dropAtoB: true);
        Assert.Equal(MuxState.Closed, e.A.State);
        Assert.Null(e.A.NextDeadline);
        Assert.Contains(e.EventsA, x => x.Type == MuxEventType.StreamReset && x.StreamId == id && x.Code == PeerFetchErrorCode.Cancel);
        var error = Assert.Single(e.EventsA, x => x.Type == MuxEventType.ConnectionError);
        Assert.Contains("nothing from the peer for 60 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Traffic_restarts_the_timers_and_zero_disables_them()
    {
        var e = new Ends();
        var later = T0 + TimeSpan.FromSeconds(10);
        e.A.OpenStream([new(":method", "GET"), new(":path", "/"), new(":authority", "x")], endStream: true);
        e.Deliver(later);
        Assert.Equal(later + KeepAlive, e.B.NextDeadline);

        var off = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = true });
        var peer = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = false });
        off.Start(T0);
        peer.Start(T0);
        while (off.TryPollMessage(out var m)) peer.Receive(m, false, T0);
        while (peer.TryPollMessage(out var m)) off.Receive(m, false, T0);
        Assert.Equal(MuxState.Open, off.State);
        Assert.Null(off.NextDeadline);
        off.HandleDeadline(T0 + TimeSpan.FromDays(1));
        Assert.Equal(MuxState.Open, off.State);
        Assert.False(off.TryPollMessage(out _));
    }
}
