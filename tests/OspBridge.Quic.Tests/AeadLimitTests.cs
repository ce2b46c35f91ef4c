using OspBridge.Net.Core;
using OspBridge.Net.Simulation;
using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;
using OspBridge.Testing.Virtual;

namespace OspBridge.Quic.Tests;

/// <summary>
/// RFC 9001 §6.6 AEAD usage limits (issue 9 item 4), with tiny limits from <see cref="CoreOptions"/> so they are
/// reached in virtual time: a key update starts before the confidentiality limit, the connection closes with
/// AEAD_LIMIT_REACHED when none is possible, and at the integrity limit of forged packets.
/// </summary>
public class AeadLimitTests
{
    private static void Transfer(QuicPair pair, int size, Action? eachStep = null)
    {
        long id = pair.Client.OpenStream(true);
        var data = new byte[size];
        new Random(size).NextBytes(data);
        int off = 0;
        var ms = new MemoryStream();
        long sid = -1;
        bool fin = false;
        var buf = new byte[65536];
        bool ok = pair.RunUntil(() => fin, TimeSpan.FromSeconds(60), eachStep: () =>
        {
            eachStep?.Invoke();
            if (off < size) off += pair.Client.StreamWrite(id, data.AsSpan(off), true);
            if (sid < 0 && pair.Server!.TryAcceptStream(out long s)) sid = s;
            while (sid >= 0 && !fin)
            {
                int n = pair.Server!.StreamRead(sid, buf, pair.Now, out fin);
                ms.Write(buf, 0, n);
                if (n == 0) break;
            }
        });
        Assert.True(ok, $"transfer stalled at {ms.Length}/{size}: client {pair.Client.State} ({pair.Client.CloseReason?.Message}), key updates {pair.Client.KeyUpdates}; server {pair.Server!.State} ({pair.Server.CloseReason?.Message}), key updates {pair.Server.KeyUpdates}");
        Assert.Equal(data, ms.ToArray());
    }

    [Fact]
    public void ConfidentialityLimit_KeyUpdatesStartBeforeIt_AndNoKeySealsMoreThanTheLimit()
    {
        // Between the start of a key update (3/4 of the limit) and the close threshold (15/16) the acknowledgement of
        // the new key must arrive: that window (384 packets here; 1.5 million at the real 2^23) must exceed what is
        // in flight, so the receive windows are kept at 256 KiB (≈ 180 packets).
        const long Limit = 2048;
        var pair = new QuicPair(clientOptions: new CoreOptions { AeadConfidentialityLimit = Limit },
            serverOptions: new CoreOptions { AeadConfidentialityLimit = Limit, InitialMaxData = 256 << 10, MaxConnectionWindow = 256 << 10, MaxStreamWindow = 256 << 10 });
        Assert.True(pair.Handshake());
        long maxClient = 0, maxServer = 0;
        Transfer(pair, 8_000_000, () =>
        {
            maxClient = Math.Max(maxClient, pair.Client.PacketsSealedInPhase);
            maxServer = Math.Max(maxServer, pair.Server!.PacketsSealedInPhase);
        });
        // ≈ 5600 client packets at < 2048 per key: several key updates, never a key past its limit
        Assert.True(pair.Client.KeyUpdates >= 3, $"client key updates: {pair.Client.KeyUpdates}");
        Assert.True(maxClient < Limit, $"client sealed {maxClient} packets with one key (limit {Limit})");
        Assert.True(maxServer < Limit, $"server sealed {maxServer} packets with one key (limit {Limit})");
        Assert.Equal(CoreState.Connected, pair.Client.State);
        Assert.Equal(CoreState.Connected, pair.Server!.State);
    }

    [Fact]
    public void ConfidentialityLimit_NoKeyUpdatePossible_ClosesWithAeadLimitReached()
    {
        // A key update may start only once the previous one was acknowledged (RFC 9001 §6.5). With a 1 s round trip
        // and a limit of 64, the client sends more than the 12 packets between the start of its key update (48) and
        // the close threshold (60) before the acknowledgement can arrive, so the second update is impossible in time.
        const long Limit = 64;
        var slow = TimeSpan.FromMilliseconds(500);
        var pair = new QuicPair(clientOptions: new CoreOptions { AeadConfidentialityLimit = Limit },
            up: new VirtualLinkOptions { Seed = 1, Delay = slow }, down: new VirtualLinkOptions { Seed = 2, Delay = slow });
        Assert.True(pair.Handshake());
        long id = pair.Client.OpenStream(true);
        var chunk = new byte[16384];
        long maxSealed = 0;
        pair.RunUntil(() => pair.Client.State >= CoreState.Closing, TimeSpan.FromSeconds(25), eachStep: () =>
        {
            maxSealed = Math.Max(maxSealed, pair.Client.PacketsSealedInPhase);
            if (pair.Client.State == CoreState.Connected) pair.Client.StreamWrite(id, chunk, false);
            if (pair.Server!.TryAcceptStream(out long sid)) _ = sid;
        });
        Assert.True(pair.Client.State >= CoreState.Closing, $"client state {pair.Client.State}, sealed {pair.Client.PacketsSealedInPhase}, key updates {pair.Client.KeyUpdates}");
        Assert.True(pair.Client.CloseReason!.TransportErrorCode == (long)TransportErrorCode.AeadLimitReached, pair.Client.CloseReason.Message);
        Assert.True(pair.Client.KeyUpdates >= 1, $"key updates {pair.Client.KeyUpdates}");
        Assert.True(maxSealed < Limit, $"sealed {maxSealed} with one key");
        Assert.True(pair.RunUntil(() => pair.Server!.State >= CoreState.Draining, TimeSpan.FromSeconds(5)));
        Assert.Equal((long)TransportErrorCode.AeadLimitReached, pair.Server!.CloseReason!.TransportErrorCode);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(100)]
    public void IntegrityLimit_ForgedPackets_CloseWithAeadLimitReached(int limit)
    {
        var pair = new QuicPair(serverOptions: new CoreOptions { AeadIntegrityLimit = limit });
        Assert.True(pair.Handshake());
        pair.RunUntil(() => false, TimeSpan.FromMilliseconds(100));
        var server = pair.Server!;
        var rng = new Random(limit);
        void Forge()
        {
            var packet = new byte[200];
            rng.NextBytes(packet);
            packet[0] = (byte)(0x40 | (packet[0] & 0x03)); // short header, fixed bit, key phase 0
            server.LocalConnectionId.CopyTo(packet.AsSpan(1));
            pair.Net.Inject(pair.ServerNode, packet, new DatagramPath(QuicPair.ServerAddress, QuicPair.ClientAddress));
            pair.Net.Drain();
        }
        for (int i = 0; i < limit - 1; i++) Forge();
        Assert.Equal(limit - 1, server.AuthenticationFailures);
        Assert.Equal(CoreState.Connected, server.State);
        Forge();
        Assert.True(server.State >= CoreState.Closing, $"server state {server.State}");
        Assert.Equal((long)TransportErrorCode.AeadLimitReached, server.CloseReason!.TransportErrorCode);
        // the client hears why
        Assert.True(pair.RunUntil(() => pair.Client.State >= CoreState.Draining, TimeSpan.FromSeconds(5)));
        Assert.Equal((long)TransportErrorCode.AeadLimitReached, pair.Client.CloseReason!.TransportErrorCode);
    }
}
