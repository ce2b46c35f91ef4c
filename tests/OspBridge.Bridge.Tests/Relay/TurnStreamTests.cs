using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Relay;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bridge.Tests.Relay;

/// <summary>
/// TURN over TCP and TLS on the client side (RFC 5766 §2.1; <see cref="TurnStreamListener"/>, <see cref="TurnStreamFrame"/>)
/// over real loopback sockets: Allocate/ChannelBind framed on the stream (also split at awkward byte boundaries and
/// several messages in one write), ChannelData padded to 4 bytes both ways, the relayed side UDP; the allocation is
/// deleted when the connection closes; junk or an oversized frame closes the connection; connection limits.
/// </summary>
public sealed class TurnStreamTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static X509Certificate2 Certificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=ospbridge relay test", key, HashAlgorithmName.SHA256);
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    /// <summary>A TURN client on a stream: writes messages, reads whole frames.</summary>
    private sealed class StreamClient(Stream stream, string user, string password)
    {
        private readonly byte[] _key = TurnCredentials.LongTermKey(user, TurnCredentials.Realm, password);
        private byte[] _nonce = [];
        private int _tx;

        public Stream Stream => stream;

        public byte[] Tx()
        {
            var t = new byte[12];
            BinaryPrimitives.WriteInt32BigEndian(t.AsSpan(8), ++_tx);
            return t;
        }

        public StunMessageBuilder Signed(StunMessageBuilder b) => b.AddUsername(user).AddAttribute(StunAttributeType.Realm, Encoding.UTF8.GetBytes(TurnCredentials.Realm))
            .AddAttribute(StunAttributeType.Nonce, _nonce).AddMessageIntegrity(_key).AddFingerprint();

        public async Task<byte[]> ReadFrameAsync()
        {
            using var timeout = new CancellationTokenSource(Step);
            var head = new byte[4];
            await stream.ReadExactlyAsync(head, timeout.Token);
            int length = BinaryPrimitives.ReadUInt16BigEndian(head.AsSpan(2));
            int total = (head[0] >> 6) == 0 ? 20 + length : (4 + length + 3) & ~3;
            var frame = new byte[total];
            head.CopyTo(frame, 0);
            await stream.ReadExactlyAsync(frame.AsMemory(4), timeout.Token);
            return frame;
        }

        public async Task<StunMessage> CallAsync(byte[] request)
        {
            await stream.WriteAsync(request);
            var frame = await ReadFrameAsync();
            Assert.True(StunMessage.TryParse(frame, out var m), $"the relay's answer ({frame.Length} bytes) is not STUN");
            return m!;
        }

        public async Task<IPEndPoint> AllocateAsync()
        {
            byte[] transport = [17, 0, 0, 0];
            var challenge = await CallAsync(new StunMessageBuilder(TurnConstants.Allocate, StunClass.Request, Tx()).AddAttribute(TurnConstants.AttrRequestedTransport, transport).ToArray());
            Assert.Equal(401, challenge.ErrorCode?.Code);
            Assert.True(challenge.TryGetAttribute(StunAttributeType.Nonce, out var n0), "401 without NONCE");
            _nonce = n0.ToArray();
            // The signed Allocate written in three pieces: 3 bytes (not even the length), 9 more, the rest.
            var bytes = Signed(new StunMessageBuilder(TurnConstants.Allocate, StunClass.Request, Tx()).AddAttribute(TurnConstants.AttrRequestedTransport, transport)).ToArray();
            await stream.WriteAsync(bytes.AsMemory(0, 3));
            await stream.FlushAsync();
            await stream.WriteAsync(bytes.AsMemory(3, 9));
            await stream.FlushAsync();
            var alloc = await CallAsync(bytes[12..]);
            Assert.True(alloc.Class == StunClass.SuccessResponse, $"Allocate over the stream: {alloc.Class} {alloc.ErrorCode?.Code}");
            IPEndPoint? relayed = null;
            Assert.True(alloc.TryGetAttribute(TurnConstants.AttrXorRelayedAddress, out var ra) && StunXorAddress.TryRead(ra, alloc.TransactionId, true, out relayed), "no XOR-RELAYED-ADDRESS");
            return relayed!;
        }
    }

    private static async Task RelayBothWaysAsync(StreamClient c, TurnRelayServer relay)
    {
        var relayed = await c.AllocateAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        peer.ReceiveTimeout = 10_000;
        var bindTx = c.Tx();
        var xorPeer = new byte[StunXorAddress.EncodedLength((IPEndPoint)peer.LocalEndPoint!)];
        StunXorAddress.Write(xorPeer, (IPEndPoint)peer.LocalEndPoint!, bindTx, xor: true);
        var bound = await c.CallAsync(c.Signed(new StunMessageBuilder(TurnConstants.ChannelBind, StunClass.Request, bindTx)
            .AddAttribute(TurnConstants.AttrChannelNumber, [0x40, 0x01, 0, 0]).AddAttribute(TurnConstants.AttrXorPeerAddress, xorPeer)).ToArray());
        Assert.True(bound.Class == StunClass.SuccessResponse, $"ChannelBind: {bound.Class} {bound.ErrorCode?.Code}");

        var buf = new byte[2048];
        for (int i = 0; i < 10; i++)
        {
            // peer → relayed (UDP) → client as ChannelData padded to 4 on the stream (5 bytes of data → a 12-byte frame)
            byte[] payload = [(byte)i, 1, 2, 3, 4];
            peer.SendTo(payload, relayed);
            var frame = await c.ReadFrameAsync();
            Assert.Equal(12, frame.Length);
            Assert.Equal(0x4001, BinaryPrimitives.ReadUInt16BigEndian(frame));
            Assert.Equal(5, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)));
            Assert.Equal(payload, frame.AsSpan(4, 5).ToArray());
            // client → padded ChannelData, twice in one write → the peer gets the 5 bytes each time, from the relayed address
            var two = new byte[24];
            for (int k = 0; k < 2; k++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(two.AsSpan(k * 12), 0x4001);
                BinaryPrimitives.WriteUInt16BigEndian(two.AsSpan(k * 12 + 2), 5);
                payload.CopyTo(two, k * 12 + 4);
            }
            await c.Stream.WriteAsync(two);
            await c.Stream.FlushAsync();
            for (int k = 0; k < 2; k++)
            {
                EndPoint from = new IPEndPoint(IPAddress.Any, 0);
                int n = peer.ReceiveFrom(buf, ref from);
                Assert.Equal(payload, buf.AsSpan(0, n).ToArray());
                Assert.Equal(relayed, from);
            }
        }
        var stats = await relay.StatsAsync();
        Assert.Equal(1, stats.Allocations);
        Assert.Equal(100, stats.BytesToPeers);
        Assert.Equal(50, stats.BytesToClients);
    }

    private static async Task WaitForAllocationsAsync(TurnRelayServer relay, int count)
    {
        var clock = Stopwatch.StartNew();
        int seen = -1;
        while (clock.Elapsed < Step)
        {
            seen = (await relay.StatsAsync()).Allocations;
            if (seen == count) return;
            await Task.Delay(20);
        }
        Assert.Fail($"{seen} allocations after {Step.TotalSeconds} s, {count} expected");
    }

    [Fact]
    public async Task Turn_over_tcp_allocates_and_relays_padded_channel_data_and_the_allocation_ends_with_the_connection()
    {
        await using var relay = TurnRelayServer.Start(IPAddress.Loopback, 0, NullLogger.Instance, TimeProvider.System, peerAllowed: _ => true);
        relay.ListenStreams(IPAddress.Loopback, 0, certificate: null, tlsPort: 0);
        Assert.NotNull(relay.TcpPort);
        Assert.Null(relay.TlsPort);
        Assert.NotEqual(relay.Port, relay.TcpPort);
        var (user, password) = relay.MintIceServer(IPAddress.Loopback);
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, relay.TcpPort!.Value);
            tcp.NoDelay = true;
            await RelayBothWaysAsync(new StreamClient(tcp.GetStream(), user, password), relay);
        }
        await WaitForAllocationsAsync(relay, 0); // the connection closed: its allocation is deleted (and its relayed port closed)
    }

    [Fact]
    public async Task Turn_over_tls_with_the_bridge_certificate_allocates_and_relays()
    {
        using var cert = Certificate();
        await using var relay = TurnRelayServer.Start(IPAddress.Loopback, 0, NullLogger.Instance, TimeProvider.System, peerAllowed: _ => true);
        relay.ListenStreams(IPAddress.Loopback, 0, cert, tlsPort: 0);
        Assert.NotNull(relay.TlsPort);
        var (user, password) = relay.MintIceServer(IPAddress.Loopback);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, relay.TlsPort!.Value);
        string? seenThumbprint = null;
        string expected = cert.GetCertHashString(HashAlgorithmName.SHA256);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, c, _, _) =>
        {
            seenThumbprint = c?.GetCertHashString(HashAlgorithmName.SHA256);
            return seenThumbprint == expected; // pinned: the bridge's own (self-signed) certificate
        });
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "relay" });
        Assert.Equal(cert.GetCertHashString(HashAlgorithmName.SHA256), seenThumbprint);
        await RelayBothWaysAsync(new StreamClient(tls, user, password), relay);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")] // neither STUN nor ChannelData
    [InlineData("oversize")] // ChannelData announcing 65535 bytes: over the frame limit, closed before buffering it
    [InlineData("cookie")] // STUN-shaped, wrong magic cookie
    public async Task Junk_or_an_oversized_frame_closes_the_connection_and_the_relay_keeps_serving(string what)
    {
        await using var relay = TurnRelayServer.Start(IPAddress.Loopback, 0, NullLogger.Instance, TimeProvider.System, peerAllowed: _ => true);
        relay.ListenStreams(IPAddress.Loopback, 0, certificate: null, tlsPort: 0);
        byte[] junk = what switch
        {
            "oversize" => [0x40, 0x01, 0xFF, 0xFF, 1, 2, 3, 4],
            "cookie" => [0x00, 0x03, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, .. new byte[12]],
            _ => Encoding.ASCII.GetBytes(what),
        };
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, relay.TcpPort!.Value);
            var s = tcp.GetStream();
            await s.WriteAsync(junk);
            using var timeout = new CancellationTokenSource(Step);
            var buf = new byte[64];
            int n;
            try { n = await s.ReadAsync(buf, timeout.Token); }
            catch (IOException) { n = 0; } // reset instead of FIN: also closed
            Assert.True(n == 0, $"the relay answered {n} bytes to {what} instead of closing");
        }
        var (user, password) = relay.MintIceServer(IPAddress.Loopback);
        using var good = new TcpClient();
        await good.ConnectAsync(IPAddress.Loopback, relay.TcpPort!.Value);
        await new StreamClient(good.GetStream(), user, password).AllocateAsync();
    }

    [Fact]
    public async Task Connections_beyond_the_per_address_limit_are_closed_at_accept()
    {
        await using var relay = TurnRelayServer.Start(IPAddress.Loopback, 0, NullLogger.Instance, TimeProvider.System, peerAllowed: _ => true);
        relay.ListenStreams(IPAddress.Loopback, 0, certificate: null, tlsPort: 0, new TurnStreamLimits { MaxConnectionsPerAddress = 2 });
        var (user, password) = relay.MintIceServer(IPAddress.Loopback);
        using var a = new TcpClient();
        using var b = new TcpClient();
        using var c = new TcpClient();
        await a.ConnectAsync(IPAddress.Loopback, relay.TcpPort!.Value);
        await new StreamClient(a.GetStream(), user, password).AllocateAsync(); // accepted and served
        await b.ConnectAsync(IPAddress.Loopback, relay.TcpPort!.Value);
        await new StreamClient(b.GetStream(), user, password).AllocateAsync();
        await c.ConnectAsync(IPAddress.Loopback, relay.TcpPort!.Value); // the kernel accepts; the relay closes it
        using var timeout = new CancellationTokenSource(Step);
        int n;
        try { n = await c.GetStream().ReadAsync(new byte[16], timeout.Token); }
        catch (IOException) { n = 0; }
        Assert.Equal(0, n);
        await WaitForAllocationsAsync(relay, 2);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Mutated_stream_bytes_never_throw_and_frames_stay_within_the_buffer_and_the_limit(int seed)
    {
        var rng = new Random(seed);
        var stun = new StunMessageBuilder(TurnConstants.Allocate, StunClass.Request, new byte[12]).AddAttribute(TurnConstants.AttrRequestedTransport, [17, 0, 0, 0]).ToArray();
        byte[] channel = [0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        int frames = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var b = (i % 2 == 0 ? stun : channel).ToArray();
            int flips = rng.Next(1, 4);
            for (int f = 0; f < flips; f++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            int cut = rng.Next(b.Length + 1);
            int max = rng.Next(1, 200);
            var status = TurnStreamFrame.TryRead(b.AsSpan(0, cut), max, out int frameLength, out int messageLength);
            if (status == TurnStreamFrameStatus.Frame)
            {
                frames++;
                Assert.InRange(frameLength, 4, Math.Min(cut, max));
                Assert.InRange(messageLength, 4, frameLength);
                Assert.InRange(frameLength - messageLength, 0, 3);
            }
        }
        Assert.True(frames > 100, $"only {frames} mutated inputs still framed: the mutations are too destructive to test the frame path");
        Assert.Equal(TurnStreamFrameStatus.Frame, TurnStreamFrame.TryRead(stun, 4096, out int fl, out int ml));
        Assert.Equal(stun.Length, fl);
        Assert.Equal(stun.Length, ml);
        Assert.Equal(TurnStreamFrameStatus.Frame, TurnStreamFrame.TryRead(channel, 4096, out fl, out ml));
        Assert.Equal((12, 9), (fl, ml));
        Assert.Equal(TurnStreamFrameStatus.NeedMore, TurnStreamFrame.TryRead(channel.AsSpan(0, 11), 4096, out _, out _));
    }
}
