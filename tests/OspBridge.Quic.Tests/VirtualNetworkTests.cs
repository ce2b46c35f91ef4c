using System.Security.Cryptography;
using OspBridge.Net.Simulation;
using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;

namespace OspBridge.Quic.Tests;

/// <summary>Connection cores over simulated links in virtual time: loss, reordering, duplication, limits.</summary>
public class VirtualNetworkTests
{
    /// <summary><paramref name="size"/> bytes from a seeded generator (the same bytes for the same seed).</summary>
    internal static byte[] Data(int size, int seed)
    {
        var d = new byte[size];
        new Random(seed).NextBytes(d);
        return d;
    }

    /// <summary>Pushes <paramref name="source"/> into a stream as far as buffers allow.</summary>
    private sealed class Sender(ConnectionCore core, long id, byte[] source)
    {
        public int Offset;
        public void Pump()
        {
            if (Offset >= source.Length && Finished) return;
            int n = core.StreamWrite(id, source.AsSpan(Offset), fin: true);
            Offset += n;
            if (Offset == source.Length) Finished = true;
        }
        public bool Finished;
    }

    private sealed class Receiver(ConnectionCore core, Func<TimeSpan> now)
    {
        public long Id = -1;
        public readonly MemoryStream Data = new();
        public bool Fin;
        private readonly byte[] _buf = new byte[65536];
        public void Pump()
        {
            if (Id < 0 || Fin) return;
            while (true)
            {
                int n = core.StreamRead(Id, _buf, now(), out bool fin);
                Data.Write(_buf, 0, n);
                if (fin) { Fin = true; return; }
                if (n == 0) return;
            }
        }
    }

    [Fact]
    public void Handshake_Completes_NoLoss()
    {
        var pair = new QuicPair();
        Assert.True(pair.Handshake());
        Assert.Contains(pair.ClientEvents, e => e.Kind == CoreEventKind.Connected);
        Assert.Contains(pair.ServerEvents, e => e.Kind == CoreEventKind.Connected);
        Assert.True(pair.Server!.IsHandshakeConfirmed);
        Assert.NotNull(pair.Client.PeerParameters);
        Assert.NotNull(pair.Server.PeerParameters);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Transfer_10MB_BothDirections_Under10PercentLoss_Reorder_Duplication(bool cubic)
    {
        var impaired = (int seed) => new VirtualLinkOptions
        {
            Seed = seed, LossRate = 0.10, ReorderRate = 0.10, DuplicateRate = 0.05,
            Delay = TimeSpan.FromMilliseconds(10), ReorderDelay = TimeSpan.FromMilliseconds(15),
        };
        var cc = cubic ? Transport.CongestionAlgorithm.Cubic : Transport.CongestionAlgorithm.NewReno;
        var pair = new QuicPair(impaired(11), impaired(12), new CoreOptions { CongestionControl = cc }, new CoreOptions { CongestionControl = cc });
        Assert.True(pair.Handshake(TimeSpan.FromSeconds(60)), "handshake");
        const int Size = 10 << 20;
        var up = Data(Size, 1);
        var down = Data(Size, 2);
        long id = pair.Client.OpenStream(bidirectional: true);
        Assert.Equal(0, id);
        var clientSend = new Sender(pair.Client, id, up);
        var serverRecv = new Receiver(pair.Server!, () => pair.Now);
        var clientRecv = new Receiver(pair.Client, () => pair.Now) { Id = id };
        Sender? serverSend = null;
        bool ok = pair.RunUntil(() => serverRecv.Fin && clientRecv.Fin, TimeSpan.FromMinutes(30), eachStep: () =>
        {
            clientSend.Pump();
            if (serverRecv.Id < 0 && pair.Server!.TryAcceptStream(out long sid)) { serverRecv.Id = sid; serverSend = new Sender(pair.Server, sid, down); }
            serverSend?.Pump();
            serverRecv.Pump();
            clientRecv.Pump();
        });
        Assert.True(ok, $"transfer incomplete: server got {serverRecv.Data.Length}, client got {clientRecv.Data.Length}, t={pair.Now}");
        Assert.Equal(SHA256.HashData(up), SHA256.HashData(serverRecv.Data.ToArray()));
        Assert.Equal(SHA256.HashData(down), SHA256.HashData(clientRecv.Data.ToArray()));
        Assert.True(pair.ToServer.Dropped > 100 && pair.ToClient.Dropped > 100);
        Assert.True(pair.ToServer.Duplicated > 0 && pair.ToServer.Reordered > 0);
        Assert.True(pair.Client.PacketsLost > 0 && pair.Server!.PacketsLost > 0);
        Assert.Equal(cc, pair.Client.Congestion.Algorithm);
        Assert.Equal(cc, pair.Server.Congestion.Algorithm);
        Assert.True(pair.Client.Congestion.CongestionEvents > 0 && pair.Server.Congestion.CongestionEvents > 0,
            $"congestion events client {pair.Client.Congestion.CongestionEvents} server {pair.Server.Congestion.CongestionEvents}");
    }

    [Theory]
    [InlineData(101)]
    [InlineData(202)]
    [InlineData(303)]
    public void Handshake_Completes_At30PercentLoss(int seed)
    {
        var lossy = (int s) => new VirtualLinkOptions { Seed = s, LossRate = 0.30, Delay = TimeSpan.FromMilliseconds(20) };
        var pair = new QuicPair(lossy(seed), lossy(seed + 1));
        Assert.True(pair.Handshake(TimeSpan.FromSeconds(60)), $"handshake at 30% loss did not complete by {pair.Now}");
        Assert.True(pair.ToServer.Dropped + pair.ToClient.Dropped > 0);
    }

    [Fact]
    public void AntiAmplification_ServerSendsAtMostThreeTimesReceived_BeforeValidation()
    {
        // Drop every client datagram after the first one until the server has sent its limit: the server flight
        // (~9 kB of fake certificate) is far larger than 3 × 1200.
        int clientDatagrams = 0;
        var up = new VirtualLinkOptions { Seed = 5, Filter = _ => ++clientDatagrams == 1 || clientDatagrams > 12 };
        var pair = new QuicPair(up, null, serverFlightPadding: 9000);
        pair.RunUntil(() => clientDatagrams > 12, TimeSpan.FromSeconds(10));
        Assert.NotNull(pair.Server);
        Assert.True(pair.ServerBytesReceivedBeforeValidation >= 1200);
        Assert.True(pair.ServerBytesSentBeforeValidation > 0);
        Assert.True(pair.ServerBytesSentBeforeValidation <= 3 * pair.ServerBytesReceivedBeforeValidation,
            $"sent {pair.ServerBytesSentBeforeValidation} > 3 × {pair.ServerBytesReceivedBeforeValidation}");
        // then the handshake still completes once the client gets through
        Assert.True(pair.Handshake(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void IdleTimeout_ClosesBothSides()
    {
        var opts = () => new CoreOptions { IdleTimeout = TimeSpan.FromSeconds(5) };
        var pair = new QuicPair(clientOptions: opts(), serverOptions: opts());
        Assert.True(pair.Handshake());
        var start = pair.Now;
        Assert.True(pair.RunUntil(() => pair.Client.State == CoreState.Closed && pair.Server!.State == CoreState.Closed, TimeSpan.FromSeconds(60)));
        var elapsed = pair.Now - start;
        Assert.InRange(elapsed.TotalSeconds, 4.9, 8);
        Assert.Equal(QuicError.ConnectionIdle, pair.Client.CloseReason!.QuicError);
        Assert.Equal(QuicError.ConnectionIdle, pair.Server!.CloseReason!.QuicError);
    }

    [Fact]
    public void FlowControl_BlocksAtWindow_AndReleasesWhenRead()
    {
        var server = new CoreOptions { InitialMaxData = 64 << 10, InitialMaxStreamDataBidiRemote = 32 << 10, MaxConnectionWindow = 64 << 10, MaxStreamWindow = 32 << 10 };
        var pair = new QuicPair(serverOptions: server);
        Assert.True(pair.Handshake());
        long id = pair.Client.OpenStream(true);
        var data = Data(200_000, 3);
        var send = new Sender(pair.Client, id, data);
        send.Pump();
        // run without reading: the server must receive exactly the stream window and no more
        pair.RunUntil(() => false, TimeSpan.FromSeconds(2), eachStep: send.Pump);
        Assert.True(pair.Server!.TryAcceptStream(out long sid));
        Assert.Equal(32 << 10, pair.Server.StreamReadable(sid));
        // now read everything: windows open and the rest arrives
        var recv = new Receiver(pair.Server, () => pair.Now) { Id = sid };
        bool done = pair.RunUntil(() => recv.Fin, TimeSpan.FromSeconds(60), eachStep: () => { send.Pump(); recv.Pump(); });
        var cs = pair.Client.GetStream(id);
        Assert.True(done, $"cs={cs?.PeerMaxStreamData} {cs?.Send?.SendEnd} q={cs?.InSendQueue} srvstream={pair.Server.GetStream(sid)?.LocalMaxStreamData} got {recv.Data.Length}, sent {send.Offset}, client {pair.Client.State} {pair.Client.CloseReason?.Message} server {pair.Server.State} {pair.Server.CloseReason?.Message} t={pair.Now}");
        Assert.Equal(data, recv.Data.ToArray());
    }

    [Fact]
    public void ThousandConcurrentStreams()
    {
        var server = new CoreOptions { MaxInboundBidiStreams = 1000 };
        var pair = new QuicPair(serverOptions: server);
        Assert.True(pair.Handshake());
        var ids = new List<long>();
        for (int i = 0; i < 1000; i++)
        {
            long id = pair.Client.OpenStream(true);
            Assert.True(id >= 0, $"stream {i} could not be opened");
            var payload = BitConverter.GetBytes(id);
            Assert.Equal(8, pair.Client.StreamWrite(id, payload, fin: true));
            ids.Add(id);
        }
        var got = new Dictionary<long, byte[]>();
        var open = new List<long>();
        var buf = new byte[64];
        bool ok = pair.RunUntil(() => got.Count == 1000, TimeSpan.FromSeconds(60), eachStep: () =>
        {
            while (pair.Server!.TryAcceptStream(out long sid)) open.Add(sid);
            for (int i = open.Count - 1; i >= 0; i--)
            {
                int n = pair.Server.StreamRead(open[i], buf, pair.Now, out bool fin);
                Assert.True(n == 0 || n == 8);
                if (n == 8) { got[open[i]] = buf[..8]; }
                if (fin) open.RemoveAt(i);
            }
        });
        Assert.True(ok, $"only {got.Count} streams completed");
        foreach (var (sid, payload) in got) Assert.Equal(sid, BitConverter.ToInt64(payload));
    }
}
