using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Relay;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bench;

/// <summary>
/// The bridge's TURN relay (<see cref="TurnRelayServer"/>) in this process over real UDP sockets: a client allocates on
/// the listener (127.0.0.1), binds a channel to a peer socket on the host's first non-loopback IPv4 address (the relay
/// refuses loopback peers), then
/// <list type="number">
/// <item>latency: 2000 ping-pongs client → relay → peer → relay → client against the same ping-pong peer-to-peer
/// without the relay; the added latency is half the difference of the medians (per direction);</item>
/// <item>throughput: the peer sends datagrams of <c>size</c> bytes paced to <c>rate</c> Mbit/s for <c>seconds</c> and the
/// client echoes each one back through the relay (so every datagram is relayed twice: peer→client as ChannelData,
/// client→peer); the process's CPU seconds and allocated bytes per relayed datagram are reported (they include the
/// bench's own send/receive loops, which use connected sockets and allocate nothing per datagram).</item>
/// </list>
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- relay [seconds] [size] [mbit/s]</c>
/// </summary>
public static class RelayBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        double seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        int size = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1200;
        double mbit = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 20;
        var peerAddress = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        if (peerAddress is null)
        {
            Console.Error.WriteLine("relay bench: needs a non-loopback IPv4 address for the peer (the relay refuses loopback peers)");
            return 2;
        }
        await using var relay = TurnRelayServer.Start(IPAddress.Loopback, 0, NullLogger.Instance, TimeProvider.System);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        client.Connect(new IPEndPoint(IPAddress.Loopback, relay.Port));
        client.ReceiveTimeout = 2000;
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(peerAddress, 0));
        peer.ReceiveTimeout = 2000;
        var peerEp = (IPEndPoint)peer.LocalEndPoint!;

        var (user, password) = relay.MintIceServer(peerAddress);
        var relayed = Allocate(client, user, password, peerEp);
        peer.Connect(relayed);
        Console.WriteLine($"relay bench: relay {relayed} (client on 127.0.0.1, peer {peerEp}), {size}-byte datagrams, {Environment.ProcessorCount} CPUs, load {File.ReadAllText("/proc/loadavg").Trim()}");

        // 1. latency
        var buf = new byte[2048];
        var payload = new byte[size];
        var frame = new byte[4 + size];
        BinaryPrimitives.WriteUInt16BigEndian(frame, Channel);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)size);
        for (int i = 0; i < 200; i++) RelayedPingPong(client, peer, frame, buf); // warm-up
        // A ping-pong whose datagram was lost (UDP under load) times out after 2 s and is left out (counted).
        var viaRelay = Enumerable.Range(0, 2000).Select(_ => RelayedPingPong(client, peer, frame, buf)).Where(d => !double.IsNaN(d)).ToArray();
        using var directA = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var directB = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        directA.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        directB.Bind(new IPEndPoint(peerAddress, 0));
        directA.Connect(directB.LocalEndPoint!);
        directB.Connect(directA.LocalEndPoint!);
        directA.ReceiveTimeout = directB.ReceiveTimeout = 2000;
        for (int i = 0; i < 200; i++) DirectPingPong(directA, directB, payload, buf);
        var direct = Enumerable.Range(0, 2000).Select(_ => DirectPingPong(directA, directB, payload, buf)).Where(d => !double.IsNaN(d)).ToArray();
        Array.Sort(viaRelay);
        Array.Sort(direct);
        double addedUs = (viaRelay[viaRelay.Length / 2] - direct[direct.Length / 2]) / 2 * 1e6;
        Console.WriteLine($"round trip median: direct {direct[direct.Length / 2] * 1e6:F0} µs, via relay {viaRelay[viaRelay.Length / 2] * 1e6:F0} µs (p99 {viaRelay[viaRelay.Length * 99 / 100] * 1e6:F0} µs) → added per direction {addedUs:F0} µs ({2000 - viaRelay.Length} relayed and {2000 - direct.Length} direct ping-pongs lost)");

        // 2. throughput: peer → (relay) → client echoes → (relay) → peer
        long echoed = 0, back = 0;
        using var stop = new CancellationTokenSource();
        var echo = new Thread(() =>
        {
            var b = new byte[2048];
            while (!stop.IsCancellationRequested)
            {
                int n;
                try { n = client.Receive(b); }
                catch (SocketException) { continue; }
                client.Send(b.AsSpan(0, n)); // ChannelData in, the same ChannelData back out
                Interlocked.Increment(ref echoed);
            }
        }) { IsBackground = true, Name = "relay-bench-client" };
        var sink = new Thread(() =>
        {
            var b = new byte[2048];
            while (!stop.IsCancellationRequested)
            {
                try { peer.Receive(b); }
                catch (SocketException) { continue; }
                Interlocked.Increment(ref back);
            }
        }) { IsBackground = true, Name = "relay-bench-peer" };
        echo.Start();
        sink.Start();
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        double perSecond = mbit * 1e6 / 8 / size;
        var sw = Stopwatch.StartNew();
        long sent = 0;
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            long due = (long)(sw.Elapsed.TotalSeconds * perSecond);
            while (sent < due)
            {
                peer.Send(payload);
                sent++;
            }
            Thread.Sleep(1);
        }
        Thread.Sleep(300); // the tail drains
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        double elapsed = sw.Elapsed.TotalSeconds;
        stop.Cancel();
        long relayedCount = Interlocked.Read(ref echoed) + Interlocked.Read(ref back);
        double relayedMbit = relayedCount * (double)size * 8 / 1e6 / elapsed;
        Console.WriteLine($"throughput: peer sent {sent} ({mbit} Mbit/s offered), client got {echoed}, peer got back {back}: {relayedMbit:F1} Mbit/s relayed (both directions)");
        Console.WriteLine($"cost: {cpu:F2} CPU s in {elapsed:F1} s = {cpu / elapsed * 100:F0}% of a core, {cpu / elapsed / Math.Max(relayedMbit, 1e-9) * 1000:F1} ms CPU per s per relayed Mbit/s; allocated {(double)alloc / Math.Max(relayedCount, 1):F1} B per relayed datagram (whole process)");
        echo.Join(3000);
        sink.Join(3000);
        return 0;
    }

    private const ushort Channel = 0x4001;

    private static double RelayedPingPong(Socket client, Socket peer, byte[] frame, byte[] buf)
    {
        long t0 = Stopwatch.GetTimestamp();
        try
        {
            client.Send(frame);
            peer.Receive(buf);
            peer.Send(frame.AsSpan(4));
            client.Receive(buf);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut) { return double.NaN; }
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static double DirectPingPong(Socket a, Socket b, byte[] payload, byte[] buf)
    {
        long t0 = Stopwatch.GetTimestamp();
        try
        {
            a.Send(payload);
            b.Receive(buf);
            b.Send(payload);
            a.Receive(buf);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut) { return double.NaN; }
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    /// <summary>401 → authenticated Allocate → ChannelBind <see cref="Channel"/> to <paramref name="peer"/>; the relayed address.</summary>
    private static IPEndPoint Allocate(Socket client, string user, string password, IPEndPoint peer)
    {
        var buf = new byte[2048];
        int tx = 0;
        byte[] Tx()
        {
            var t = new byte[12];
            BinaryPrimitives.WriteInt32BigEndian(t.AsSpan(8), ++tx);
            return t;
        }
        StunMessage Call(byte[] request)
        {
            client.Send(request);
            int n = client.Receive(buf);
            if (!StunMessage.TryParse(buf.AsSpan(0, n), out var m)) throw new InvalidOperationException("the relay's answer is not STUN");
            return m!;
        }
        byte[] transport = [17, 0, 0, 0];
        var challenge = Call(new StunMessageBuilder(TurnConstants.Allocate, StunClass.Request, Tx()).AddAttribute(TurnConstants.AttrRequestedTransport, transport).ToArray());
        if (!challenge.TryGetAttribute(StunAttributeType.Nonce, out var n0)) throw new InvalidOperationException($"no NONCE in the challenge ({challenge.ErrorCode?.Code})");
        var nonce = n0.ToArray();
        var key = TurnCredentials.LongTermKey(user, TurnCredentials.Realm, password);
        var realm = Encoding.UTF8.GetBytes(TurnCredentials.Realm);
        StunMessageBuilder Signed(StunMessageBuilder b) =>
            b.AddUsername(user).AddAttribute(StunAttributeType.Realm, realm).AddAttribute(StunAttributeType.Nonce, nonce).AddMessageIntegrity(key).AddFingerprint();
        var alloc = Call(Signed(new StunMessageBuilder(TurnConstants.Allocate, StunClass.Request, Tx()).AddAttribute(TurnConstants.AttrRequestedTransport, transport)).ToArray());
        if (alloc.Class != StunClass.SuccessResponse || !alloc.TryGetAttribute(TurnConstants.AttrXorRelayedAddress, out var ra) || !StunXorAddress.TryRead(ra, alloc.TransactionId, true, out var relayed))
            throw new InvalidOperationException($"Allocate failed ({alloc.ErrorCode?.Code})");
        var bindTx = Tx();
        var xorPeer = new byte[StunXorAddress.EncodedLength(peer)];
        StunXorAddress.Write(xorPeer, peer, bindTx, xor: true);
        var ch = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(ch, Channel);
        var bound = Call(Signed(new StunMessageBuilder(TurnConstants.ChannelBind, StunClass.Request, bindTx)
            .AddAttribute(TurnConstants.AttrChannelNumber, ch).AddAttribute(TurnConstants.AttrXorPeerAddress, xorPeer)).ToArray());
        if (bound.Class != StunClass.SuccessResponse) throw new InvalidOperationException($"ChannelBind failed ({bound.ErrorCode?.Code})");
        return relayed!;
    }
}
