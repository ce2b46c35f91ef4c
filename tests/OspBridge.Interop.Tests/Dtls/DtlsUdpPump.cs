using System.Net.Sockets;
using OspBridge.Crypto;
using OspBridge.Crypto.Dtls;

namespace OspBridge.Interop.Tests.Dtls;

/// <summary>Test-only driver: one loopback UDP socket, one <see cref="DtlsEndpoint"/>, wall-clock time.</summary>
internal sealed class DtlsUdpPump : IDisposable
{
    private readonly Socket _socket;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly byte[] _buffer = new byte[65536];
    private EndPoint? _peer;

    public DtlsUdpPump(DtlsEndpoint endpoint, IPEndPoint? peer = null)
    {
        Endpoint = endpoint;
        _peer = peer;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    }

    public DtlsEndpoint Endpoint { get; }

    public int LocalPort => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    public TimeSpan Now => _clock.Elapsed;

    public int DatagramsSent { get; private set; }

    public int DatagramsReceived { get; private set; }

    /// <summary>Datagrams dropped on purpose (<see cref="LossRate"/>), in either direction.</summary>
    public int Dropped { get; private set; }

    /// <summary>Probability of dropping each datagram we send or receive (seeded, for loss tests against real peers).</summary>
    public double LossRate { get; set; }

    private readonly Random _random = new(12345);

    /// <summary>Received epoch-0 handshake records that carried only part of a message (the peer fragmented it).</summary>
    public int PartialFragmentsReceived { get; private set; }

    private void Inspect(ReadOnlySpan<byte> d)
    {
        while (DtlsRecordHeader.TryRead(d, out var h))
        {
            if (h.Epoch == 0 && h.ContentType == 22 && DtlsHandshakeHeader.TryRead(d.Slice(13, h.Length), out var hh) && hh.FragmentLength < hh.Length)
                PartialFragmentsReceived++;
            d = d[(13 + h.Length)..];
        }
    }

    private bool Lose()
    {
        if (LossRate <= 0 || _random.NextDouble() >= LossRate) return false;
        Dropped++;
        return true;
    }

    public void Flush()
    {
        while (Endpoint.TryPollTransmit(_sendBuffer, Now, out int length))
        {
            if (_peer is null || Lose()) continue;
            _socket.SendTo(_sendBuffer.AsSpan(0, length), SocketFlags.None, _peer);
            DatagramsSent++;
        }
    }

    /// <summary>Pumps until <paramref name="condition"/> holds or <paramref name="timeout"/> passes. Failures of the endpoint propagate.</summary>
    public bool RunUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = Now + timeout;
        if (Endpoint.State == DtlsState.New && Endpoint.IsClient) Endpoint.Start(Now);
        while (true)
        {
            if (condition()) { Flush(); return true; }
            if (Now >= deadline) { Flush(); return false; }
            Flush();
            var wait = TimeSpan.FromMilliseconds(20);
            if (Endpoint.NextDeadline is { } t) wait = t - Now < wait ? t - Now : wait;
            if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
            if (_socket.Poll((int)wait.TotalMicroseconds, SelectMode.SelectRead))
            {
                EndPoint from = new IPEndPoint(IPAddress.Any, 0);
                int n = _socket.ReceiveFrom(_buffer, ref from);
                _peer ??= from;
                if (from.Equals(_peer) && !Lose())
                {
                    DatagramsReceived++;
                    Inspect(_buffer.AsSpan(0, n));
                    Endpoint.Receive(_buffer.AsSpan(0, n), Now);
                    ThrowIfFailed();
                }
            }
            if (Endpoint.NextDeadline is { } due && due <= Now) { Endpoint.HandleDeadline(Now); ThrowIfFailed(); }
            Flush();
        }
    }

    private void ThrowIfFailed()
    {
        if (Endpoint.State == DtlsState.Failed && !_failureReported)
        {
            _failureReported = true;
            throw Endpoint.Error!;
        }
    }

    private readonly byte[] _sendBuffer = new byte[OspBridge.Net.Core.CoreLimits.MaxDatagramSize];
    private bool _failureReported;

    public void Dispose() => _socket.Dispose();
}
