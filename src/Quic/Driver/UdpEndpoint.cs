using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using OspBridge.Quic.Packets;

namespace OspBridge.Quic.Driver;

/// <summary>
/// Owns one UDP socket: a receive thread that routes datagrams to connections by connection ID (or by peer
/// address when zero-length CIDs are used), and a send path with UDP GSO (UDP_SEGMENT) where the kernel has it.
/// </summary>
internal sealed class UdpEndpoint : IDisposable
{
    public const int SolUdp = 17, UdpSegment = 103;
    public const int MaxGsoSegments = 40;

    private readonly Socket _socket;
    private readonly ConcurrentDictionary<CidKey, QuicConnection> _byCid = new();
    private readonly ConcurrentDictionary<SocketAddress, QuicConnection> _byAddress = new();
    private readonly Thread _receiver;
    private volatile bool _disposed;
    private readonly int _localCidLength;
    private int _gsoSegment;
    private readonly byte[] _batch;

    public UdpEndpoint(IPEndPoint bind, int localCidLength, IPEndPoint? connectTo, int segmentSize)
    {
        _socket = new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try { _socket.ReceiveBufferSize = 8 << 20; _socket.SendBufferSize = 8 << 20; } catch (SocketException) { }
        _socket.Bind(bind);
        if (connectTo is not null) _socket.Connect(connectTo);
        _localCidLength = localCidLength;
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                Span<byte> v = stackalloc byte[4];
                BitConverter.TryWriteBytes(v, segmentSize);
                _socket.SetRawSocketOption(SolUdp, UdpSegment, v);
                _gsoSegment = segmentSize;
            }
            catch (SocketException) { _gsoSegment = 0; }
        }
        _batch = new byte[Math.Max(_gsoSegment, 1500) * (_gsoSegment > 0 ? MaxGsoSegments : 1)];
        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = "quic-udp-recv" };
    }

    public IPEndPoint LocalEndPoint { get; }
    public int GsoSegmentSize => _gsoSegment;
    public bool IsConnected => _socket.Connected;

    /// <summary>Called for datagrams that match no connection (listener: new Initial). Return true if consumed.</summary>
    public Func<byte[], int, SocketAddress, bool>? OnUnrouted;

    /// <summary>Single-connection mode (client): every datagram goes here.</summary>
    public QuicConnection? Single;

    public void Start() => _receiver.Start();

    public void Register(ReadOnlySpan<byte> cid, QuicConnection c)
    {
        if (cid.Length > 0) _byCid[CidKey.From(cid)] = c;
    }

    public void Unregister(ReadOnlySpan<byte> cid, QuicConnection c)
    {
        if (cid.Length > 0 && _byCid.TryGetValue(CidKey.From(cid), out var x) && x == c) _byCid.TryRemove(CidKey.From(cid), out _);
    }

    public void RegisterAddress(SocketAddress a, QuicConnection c) => _byAddress[a] = c;
    public void UnregisterAddress(SocketAddress a) => _byAddress.TryRemove(a, out _);

    public void UnregisterAll(QuicConnection c)
    {
        foreach (var kv in _byCid) if (kv.Value == c) _byCid.TryRemove(kv.Key, out _);
        foreach (var kv in _byAddress) if (kv.Value == c) _byAddress.TryRemove(kv.Key, out _);
    }

    private void ReceiveLoop()
    {
        var address = new SocketAddress(_socket.AddressFamily);
        while (!_disposed)
        {
            byte[] buf = ArrayPool<byte>.Shared.Rent(2048);
            int n;
            try
            {
                n = _socket.Connected ? _socket.Receive(buf, SocketFlags.None) : _socket.ReceiveFrom(buf.AsSpan(), SocketFlags.None, address);
            }
            catch (SocketException e) when (!_disposed && e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize)
            {
                ArrayPool<byte>.Shared.Return(buf);
                continue;
            }
            catch (Exception)
            {
                ArrayPool<byte>.Shared.Return(buf);
                return;
            }
            if (n <= 0) { ArrayPool<byte>.Shared.Return(buf); continue; }
            if (Single is { } s) { s.DeliverInline(buf, n, _socket.Available > 0, _batch); continue; }
            var target = Route(buf.AsSpan(0, n), address);
            if (target is not null) { target.DeliverInline(buf, n, _socket.Available > 0, _batch); continue; }
            if (OnUnrouted is null || !OnUnrouted(buf, n, address)) ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private QuicConnection? Route(ReadOnlySpan<byte> d, SocketAddress from)
    {
        if ((d[0] & 0x80) != 0)
        {
            if (d.Length < 6) return null;
            int dl = d[5];
            if (d.Length < 6 + dl) return null;
            if (dl > 0 && _byCid.TryGetValue(CidKey.From(d.Slice(6, dl)), out var c)) return c;
        }
        else if (_localCidLength > 0 && d.Length >= 1 + _localCidLength && _byCid.TryGetValue(CidKey.From(d.Slice(1, _localCidLength)), out var c2)) return c2;
        // zero-length connection IDs: the peer address identifies the connection
        return _byAddress.IsEmpty ? null : _byAddress.TryGetValue(from, out var a) ? a : null;
    }

    private int _refs = 1;

    /// <summary>Adds a user of the socket (each server connection keeps the listener's socket alive).</summary>
    public void AddRef() => Interlocked.Increment(ref _refs);

    /// <summary>Drops a user; the socket closes when the last one is gone.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) == 0) Dispose();
    }

    public void Send(ReadOnlySpan<byte> data, SocketAddress? to)
    {
        try
        {
            if (to is null) _socket.Send(data, SocketFlags.None);
            else _socket.SendTo(data, SocketFlags.None, to);
        }
        catch (SocketException) { /* lost datagram: loss recovery handles it */ }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
        _socket.Dispose();
    }
}
